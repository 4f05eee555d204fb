/*
 * bench/mpx_shm.c - the mpx side of the shm group (include/mpx/shm.h).
 *
 *   shm_create_close_unlink  mpx_shm_open(NULL, create, 4 KiB) (tracked:
 *                            the default), mpx_shm_close, mpx_shm_unlink,
 *                            mpx_shm_destroy; the tracker is started
 *                            before the clock (first use)
 *   shm_attach_close         mpx_shm_open(name) + mpx_shm_destroy (close)
 *   shm_sum_10m              bench_sum_doubles over mpx_shm_buf of a block
 *                            of 10 M doubles
 */
#include "mpxb.h"

#include <mpx/shm.h>

static double run_create(void *ctx, long n)
{
    (void)ctx;
    int rc = 0;
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        mpx_shm *s;
        rc |= mpx_shm_open(&s, NULL, 1, SHM_BLOCK, NULL);
        if (rc)
            break;
        rc |= mpx_shm_close(s);
        rc |= mpx_shm_unlink(s);
        mpx_shm_destroy(s);
    }
    t = bench_now() - t;
    return rc ? -1 : t;
}

SIDE(mpxb_shm_create_close_unlink)
{
    mpx_shm *s;
    int rc = mpx_shm_open(&s, NULL, 1, SHM_BLOCK, NULL); /* starts the tracker */
    if (rc)
        return BENCH_WHY("mpx_shm_open: %s", mpx_strerror(rc));
    mpx_shm_unlink(s);
    mpx_shm_destroy(s);
    double sec = bench_calibrate(run_create, NULL, 200, 10000000L, cfg->target);
    if (sec < 0)
        return BENCH_WHY("create/close/unlink failed");
    *out = sec * 1e6;
    return 0;
}

static double run_attach(void *ctx, long n)
{
    const char *name = ctx;
    int rc = 0;
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        mpx_shm *s;
        rc |= mpx_shm_open(&s, name, 0, 0, NULL);
        if (rc)
            break;
        mpx_shm_destroy(s);
    }
    t = bench_now() - t;
    return rc ? -1 : t;
}

SIDE(mpxb_shm_attach_close)
{
    mpx_shm *s;
    int rc = mpx_shm_open(&s, NULL, 1, SHM_BLOCK, NULL);
    if (rc)
        return BENCH_WHY("mpx_shm_open: %s", mpx_strerror(rc));
    double sec = bench_calibrate(run_attach, (void *)mpx_shm_name(s), 200, 10000000L, cfg->target);
    mpx_shm_unlink(s);
    mpx_shm_destroy(s);
    if (sec < 0)
        return BENCH_WHY("attach failed");
    *out = sec * 1e6;
    return 0;
}

static double run_sum(void *ctx, long n)
{
    const double *a = mpx_shm_buf(ctx);
    double acc = 0;
    double t = bench_now();
    for (long i = 0; i < n; i++)
        acc += bench_sum_doubles(a, SHM_SUM_N);
    t = bench_now() - t;
    BENCH_KEEP(acc);
    return t;
}

SIDE(mpxb_shm_sum_10m)
{
    mpx_shm *s;
    int rc = mpx_shm_open(&s, NULL, 1, SHM_SUM_N * sizeof(double), NULL);
    if (rc)
        return BENCH_WHY("mpx_shm_open: %s", mpx_strerror(rc));
    bench_fill_doubles(mpx_shm_buf(s), SHM_SUM_N);
    double sec = bench_calibrate(run_sum, s, 1, 100000L, cfg->target);
    mpx_shm_unlink(s);
    mpx_shm_destroy(s);
    *out = sec * 1e3;
    return 0;
}
