/*
 * cpu_split.c - a CPU-bound job split across processes: count the primes
 * below N by trial division, first in one process, then split into one
 * slice per usable CPU, each slice in its own child process that writes
 * its count to a pipe passed as an argument. Prints both times and the
 * speed-up.
 *
 *   cpu_split [N]      (default 6,000,000)
 */
#include <mpx.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int is_prime(uint64_t n)
{
    if (n < 2)
        return 0;
    if (n % 2 == 0)
        return n == 2;
    for (uint64_t d = 3; d * d <= n; d += 2)
        if (n % d == 0)
            return 0;
    return 1;
}

/* Primes in [lo, hi) with stride: slice k of K takes lo + k, lo + k + K, ...
 * so that every slice gets the same mix of small and large numbers. */
static uint64_t count(uint64_t n, int k, int nslices)
{
    uint64_t c = 0;
    for (uint64_t x = (uint64_t)k; x < n; x += (uint64_t)nslices)
        c += (uint64_t)is_prime(x);
    return c;
}

static int worker(const mpx_args *a)
{
    uint64_t n = (uint64_t)mpx_args_int(a, 0);
    int k = (int)mpx_args_int(a, 1), nslices = (int)mpx_args_int(a, 2);
    int fd = mpx_args_fd(a, 3);
    uint64_t c = count(n, k, nslices);
    return write(fd, &c, sizeof c) == sizeof c ? 0 : -1;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 6000000;
    int nproc = mpx_cpu_count_usable();
    printf("counting primes below %llu; usable CPUs: %d (of %d)\n", (unsigned long long)n, nproc,
           mpx_cpu_count());

    double t0 = now();
    uint64_t serial = count(n, 0, 1);
    double t_serial = now() - t0;
    printf("1 process:   %llu primes in %.3f s\n", (unsigned long long)serial, t_serial);

    int nslices = nproc < 2 ? 2 : nproc;
    int pfd[2];
    if (pipe(pfd) < 0)
        return 1;
    mpx_process **ps = calloc((size_t)nslices, sizeof *ps);
    t0 = now();
    for (int k = 0; k < nslices; k++) {
        mpx_args *a;
        if (mpx_args_create(&a) || mpx_args_add_int(a, (int64_t)n) || mpx_args_add_int(a, k) ||
            mpx_args_add_int(a, nslices) || mpx_args_add_fd(a, pfd[1]))
            return 1;
        int rc = mpx_process_create(&ps[k], worker, a, NULL);
        mpx_args_destroy(a);
        if (!rc)
            rc = mpx_process_start(ps[k]);
        if (rc) {
            fprintf(stderr, "start: %s\n", mpx_strerror(rc));
            return 1;
        }
    }
    close(pfd[1]);
    uint64_t total = 0, c;
    for (int k = 0; k < nslices; k++) {
        if (read(pfd[0], &c, sizeof c) != sizeof c) {
            fprintf(stderr, "a worker failed\n");
            return 1;
        }
        total += c;
    }
    for (int k = 0; k < nslices; k++) {
        mpx_process_join(ps[k], MPX_FOREVER);
        mpx_process_destroy(ps[k]);
    }
    double t_par = now() - t0;
    close(pfd[0]);
    free(ps);
    printf("%d processes: %llu primes in %.3f s\n", nslices, (unsigned long long)total, t_par);
    printf("speed-up: %.2fx on %d usable CPU(s)\n", t_serial / t_par, nproc);
    if (total != serial) {
        fprintf(stderr, "MISMATCH: %llu != %llu\n", (unsigned long long)total,
                (unsigned long long)serial);
        return 1;
    }
    return 0;
}
