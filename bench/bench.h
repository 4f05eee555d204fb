/*
 * bench/bench.h - shared pieces of the mpx benchmark programs.
 *
 * A figure is measured by one "side" function run in a fresh process
 * (the driver, driver.c, re-executes itself for every repetition of every
 * side, so no memory or state leaks from one measurement into the next:
 * see baselines.md note 7). A side function writes the figure's value in
 * the figure's unit to *out and returns 0, or returns non-zero after
 * writing a reason to why (the driver then prints nan).
 */
#ifndef MPX_BENCH_H
#define MPX_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef struct bench_cfg {
    int quick;     /* --quick: shorter measurements */
    double target; /* seconds one measurement should last */
} bench_cfg;

typedef int (*bench_side_fn)(const bench_cfg *cfg, double *out, char *why, size_t whylen);

#define BENCH_WHY(...) (snprintf(why, whylen, __VA_ARGS__), 1)

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * bench_calibrate - run(ctx, n) performs n operations and returns the
 * elapsed seconds (negative on failure). Starting from n0, n grows until
 * one run lasts at least half of target seconds (or n reaches nmax); the
 * seconds per operation of that last run are returned (negative on
 * failure).
 */
static inline double bench_calibrate(double (*run)(void *ctx, long n), void *ctx, long n0,
                                     long nmax, double target)
{
    long n = n0 < 1 ? 1 : n0;
    for (;;) {
        double t = run(ctx, n);
        if (t < 0)
            return -1;
        if (t >= target * 0.5 || n >= nmax)
            return t / (double)n;
        double f = t > 0 ? target / t * 1.1 : 100;
        if (f < 2)
            f = 2;
        if (f > 100)
            f = 100;
        long nn = (long)((double)n * f);
        n = nn > nmax ? nmax : nn;
    }
}

/* An anonymous MAP_SHARED mapping (inherited by fork children), zeroed. */
static inline void *bench_shared(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static inline long bench_futex_wait(_Atomic uint32_t *w, uint32_t expected)
{
    return syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT, expected, NULL, NULL, 0);
}

/* FUTEX_WAIT with a relative timeout in milliseconds. */
static inline long bench_futex_wait_ms(_Atomic uint32_t *w, uint32_t expected, long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    return syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT, expected, &ts, NULL, 0);
}

static inline long bench_futex_wake(_Atomic uint32_t *w, int n)
{
    return syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, n, NULL, NULL, 0);
}

static inline void bench_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Keep the compiler from optimising a value away. */
#define BENCH_KEEP(v) __asm__ __volatile__("" : : "r"(v) : "memory")

/* Write all / read exactly n bytes (EINTR retried). 0 or -1. */
int bench_write_all(int fd, const void *p, size_t n);
int bench_read_all(int fd, void *p, size_t n);

/* Touch size bytes of fresh anonymous memory, one write per 4 KiB page,
 * with transparent huge pages off (MADV_NOHUGEPAGE), so a fork copies
 * size/4096 page table entries. Returns the mapping or NULL. */
void *bench_touch_resident(size_t size);

/*
 * bench_call_median - the median duration in seconds of single calls of
 * call(ctx) (0 on success), made one after another for target seconds (at
 * least 20 calls, at most 1,000,000) after warm calls of warm-up. A
 * latency figure quotes the median call, not the mean of a run: on a
 * loaded machine a few calls that wait for a CPU for milliseconds would
 * otherwise decide the figure. Returns -1 when a call fails (*err = its
 * return).
 */
double bench_call_median(int (*call)(void *ctx), void *ctx, int warm, double target, int *err);

/* Wait for pid; 0 when it exited with status 0. */
int bench_wait_ok(pid_t pid);

/* Path of the running executable (static buffer). */
const char *bench_self_exe(void);

/* Memory figures (group memory). bench_smaps_kib: a field of
 * /proc/PID/smaps_rollup in KiB ("Pss", "Rss", "Pss_Shmem"...; pid 0: this
 * process), or -1. PSS (proportional set size) charges a page shared by k
 * processes 1/k to each, so the PSS of a parent and its workers add up to
 * the memory they use together. bench_shm_kib: KiB allocated to the
 * shared-memory files PID holds open (memfds, /dev/shm entries: st_blocks
 * of each file once), or -1. */
long bench_smaps_kib(pid_t pid, const char *field);
long bench_shm_kib(pid_t pid);

#endif /* MPX_BENCH_H */
