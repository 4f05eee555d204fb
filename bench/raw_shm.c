/*
 * bench/raw_shm.c - the raw side of the shm group: the system calls a
 * named shared memory block needs, without the library.
 *
 *   shm_create_close_unlink  shm_open(O_CREAT | O_EXCL) + ftruncate + mmap,
 *                            munmap + close, shm_unlink (4 KiB blocks)
 *   shm_attach_close         shm_open + fstat + mmap, munmap + close
 *   shm_sum_10m              bench_sum_doubles over a plain malloc'd array
 *                            of 10 M doubles (the memory-speed limit)
 */
#include "figures.h"

#include <fcntl.h>
#include <sys/stat.h>

static int raw_name(char *buf, size_t cap, long i)
{
    return snprintf(buf, cap, "/mpxb_raw_%d_%ld", (int)getpid(), i);
}

static double run_create(void *ctx, long n)
{
    (void)ctx;
    static long seq;
    char name[64];
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        raw_name(name, sizeof name, seq++);
        int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0 || ftruncate(fd, SHM_BLOCK) < 0)
            return -1;
        void *p = mmap(NULL, SHM_BLOCK, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            return -1;
        munmap(p, SHM_BLOCK);
        close(fd);
        if (shm_unlink(name) < 0)
            return -1;
    }
    return bench_now() - t;
}

SIDE(raw_shm_create_close_unlink)
{
    double s = bench_calibrate(run_create, NULL, 200, 10000000L, cfg->target);
    if (s < 0)
        return BENCH_WHY("shm_open/ftruncate/mmap/shm_unlink: %s", strerror(errno));
    *out = s * 1e6;
    return 0;
}

static double run_attach(void *ctx, long n)
{
    const char *name = ctx;
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        int fd = shm_open(name, O_RDWR, 0600);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
            return -1;
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            return -1;
        munmap(p, (size_t)st.st_size);
        close(fd);
    }
    return bench_now() - t;
}

SIDE(raw_shm_attach_close)
{
    char name[64];
    raw_name(name, sizeof name, -1);
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, SHM_BLOCK) < 0)
        return BENCH_WHY("shm_open: %s", strerror(errno));
    close(fd);
    double s = bench_calibrate(run_attach, name, 200, 10000000L, cfg->target);
    shm_unlink(name);
    if (s < 0)
        return BENCH_WHY("attach: %s", strerror(errno));
    *out = s * 1e6;
    return 0;
}

static double run_sum(void *ctx, long n)
{
    const double *a = ctx;
    double acc = 0;
    double t = bench_now();
    for (long i = 0; i < n; i++)
        acc += bench_sum_doubles(a, SHM_SUM_N);
    t = bench_now() - t;
    BENCH_KEEP(acc);
    return t;
}

SIDE(raw_shm_sum_10m)
{
    double *a = malloc(SHM_SUM_N * sizeof *a);
    if (!a)
        return BENCH_WHY("malloc: %s", strerror(errno));
    bench_fill_doubles(a, SHM_SUM_N);
    double s = bench_calibrate(run_sum, a, 1, 100000L, cfg->target);
    free(a);
    *out = s * 1e3;
    return 0;
}
