/*
 * bench/mpx_array.c - the mpx side of the array group
 * (include/mpx/sharedctypes.h): an int32 Array of 10 elements 0..9.
 *
 *   array_read_nolock  element 5 through mpx_array_ptr of a RawArray (the
 *                      direct pointer access of the lock-free case)
 *   array_read_lock    mpx_array_get(a, 5) on an Array with its default
 *                      lock (an RLock): Python's a[5] with lock=True
 */
#include "mpxb.h"

#include <mpx/sharedctypes.h>

static const int32_t INIT[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

static double run_ptr(void *c, long n)
{
    volatile int32_t *p = mpx_array_ptr(c);
    int32_t acc = 0;
    double t = bench_now();
    for (long i = 0; i < n; i++)
        acc += p[5];
    t = bench_now() - t;
    BENCH_KEEP(acc);
    return t;
}

static double run_get(void *c, long n)
{
    int32_t v, acc = 0;
    int rc = 0;
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        rc |= mpx_array_get(c, 5, &v);
        acc += v;
    }
    t = bench_now() - t;
    BENCH_KEEP(acc);
    return rc ? -1 : t;
}

SIDE(mpxb_array_read_nolock)
{
    mpx_array *a;
    int rc = mpx_rawarray_create(&a, "i", 10, INIT);
    if (rc)
        return BENCH_WHY("mpx_rawarray_create: %s", mpx_strerror(rc));
    double s = bench_calibrate(run_ptr, a, 1000000, 20000000000L, cfg->target);
    mpx_array_destroy(a);
    *out = s * 1e9;
    return 0;
}

SIDE(mpxb_array_read_lock)
{
    mpx_array *a;
    int rc = mpx_array_create(&a, "i", 10, INIT, NULL);
    if (rc)
        return BENCH_WHY("mpx_array_create: %s", mpx_strerror(rc));
    double s = bench_calibrate(run_get, a, 100000, 2000000000L, cfg->target);
    mpx_array_destroy(a);
    if (s < 0)
        return BENCH_WHY("mpx_array_get failed");
    *out = s * 1e9;
    return 0;
}
