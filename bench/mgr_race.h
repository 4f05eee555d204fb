/*
 * bench/mgr_race.h - the "N clients at once" measurement of the manager
 * group, shared by its mpx and raw sides: N client processes each make
 * calls in a loop for the same stretch of time; the figure is the total
 * number of calls per second.
 *
 * The parent gives the clients a shared block; each client connects (its
 * first call, not counted), says it is ready, waits for go, then calls
 * until stop and writes its count. The parent measures the stretch
 * between go and stop itself.
 */
#ifndef MPX_BENCH_MGR_RACE_H
#define MPX_BENCH_MGR_RACE_H

#include "bench.h"

#define MGR_CLIENTS 4

typedef struct mgr_race {
    _Alignas(64) _Atomic uint32_t ready;
    _Atomic uint32_t go, stop;
    _Atomic uint32_t failed;
    _Alignas(64) _Atomic uint64_t count[8];
} mgr_race;

/* In a client: one warm-up call done; wait for go, call until stop. call
 * returns 0 or nonzero on failure. */
static inline int mgr_race_client(mgr_race *r, int i, int (*call)(void *ctx, long k), void *ctx)
{
    if (call(ctx, 0)) {
        atomic_store(&r->failed, 1);
        atomic_fetch_add(&r->ready, 1);
        return 1;
    }
    atomic_fetch_add(&r->ready, 1);
    while (!atomic_load(&r->go))
        usleep(100);
    uint64_t k = 0;
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        if (call(ctx, (long)k + 1)) {
            atomic_store(&r->failed, 1);
            break;
        }
        k++;
    }
    atomic_store(&r->count[i], k);
    return 0;
}

/* In the parent, after starting n clients: wait until they are ready, run
 * them for secs seconds; the total calls per second, or -1. */
static inline double mgr_race_run(mgr_race *r, int n, double secs)
{
    double t0 = bench_now();
    while (atomic_load(&r->ready) < (uint32_t)n) {
        if (bench_now() - t0 > 30)
            return -1;
        usleep(1000);
    }
    if (atomic_load(&r->failed))
        return -1;
    double t = bench_now();
    atomic_store(&r->go, 1);
    while (bench_now() - t < secs)
        usleep(2000);
    atomic_store(&r->stop, 1);
    t = bench_now() - t;
    return t;
}

static inline double mgr_race_total(mgr_race *r, int n, double elapsed)
{
    if (atomic_load(&r->failed) || elapsed <= 0)
        return -1;
    uint64_t sum = 0;
    for (int i = 0; i < n; i++)
        sum += atomic_load(&r->count[i]);
    return (double)sum / elapsed;
}

#endif
