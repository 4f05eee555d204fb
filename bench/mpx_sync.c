/*
 * bench/mpx_sync.c - the mpx side of the lock and condition groups
 * (include/mpx/sync.h).
 *
 *   lock_uncontended          mpx_lock_acquire(FOREVER) + mpx_lock_release
 *   rlock_uncontended         the same with an mpx_rlock
 *   lock_contended_increment  2 mpx processes each add 1 to a shared
 *                             counter under an mpx_lock
 *   condition_pingpong        2 processes hand a turn word back and forth
 *                             with an mpx_condition (default lock: an
 *                             RLock, as Python's Condition())
 */
#include "mpxb.h"

#include <mpx/sync.h>

static double run_lock(void *c, long n)
{
    mpx_lock *l = c;
    int rc = 0;
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        rc |= mpxb_yes(mpx_lock_acquire(l, MPX_FOREVER));
        rc |= mpx_lock_release(l);
    }
    t = bench_now() - t;
    return rc ? -1 : t;
}

static double run_rlock(void *c, long n)
{
    mpx_rlock *l = c;
    int rc = 0;
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        rc |= mpxb_yes(mpx_rlock_acquire(l, MPX_FOREVER));
        rc |= mpx_rlock_release(l);
    }
    t = bench_now() - t;
    return rc ? -1 : t;
}

SIDE(mpxb_lock_uncontended)
{
    mpx_lock *l;
    int rc = mpx_lock_create(&l, NULL);
    if (rc)
        return BENCH_WHY("mpx_lock_create: %s", mpx_strerror(rc));
    double s = bench_calibrate(run_lock, l, 100000, 2000000000L, cfg->target);
    mpx_lock_destroy(l);
    if (s < 0)
        return BENCH_WHY("mpx lock acquire/release failed");
    *out = s * 1e9;
    return 0;
}

SIDE(mpxb_rlock_uncontended)
{
    mpx_rlock *l;
    int rc = mpx_rlock_create(&l, NULL);
    if (rc)
        return BENCH_WHY("mpx_rlock_create: %s", mpx_strerror(rc));
    double s = bench_calibrate(run_rlock, l, 100000, 2000000000L, cfg->target);
    mpx_rlock_destroy(l);
    if (s < 0)
        return BENCH_WHY("mpx rlock acquire/release failed");
    *out = s * 1e9;
    return 0;
}

/* Shared between the parent and its fork children. */
typedef struct {
    _Alignas(64) volatile long counter;
    _Alignas(64) _Atomic uint32_t ready, go;
    _Alignas(64) volatile int32_t turn;
    double end[2];
} shared_state;

static int incr_child(const mpx_args *a)
{
    mpx_lock *l = mpx_args_object(a, 0);
    shared_state *s = (shared_state *)(uintptr_t)mpx_args_int(a, 1);
    int k = (int)mpx_args_int(a, 2);
    long n = (long)mpx_args_int(a, 3);
    atomic_fetch_add(&s->ready, 1);
    while (!atomic_load(&s->go))
        bench_relax();
    for (long i = 0; i < n; i++) {
        int rc = mpxb_yes(mpx_lock_acquire(l, MPX_FOREVER));
        if (rc)
            return rc;
        s->counter++;
        mpx_lock_release(l);
    }
    s->end[k] = bench_now();
    return 0;
}

typedef struct {
    mpx_lock *l;
    shared_state *s;
    int err;
} incr_ctx;

static double run_contended(void *c, long n)
{
    incr_ctx *ic = c;
    shared_state *s = ic->s;
    s->counter = 0;
    atomic_store(&s->ready, 0);
    atomic_store(&s->go, 0);
    mpx_process *p[2] = {NULL, NULL};
    int rc = 0;
    for (int k = 0; k < 2 && !rc; k++) {
        mpx_args *a;
        if ((rc = mpx_args_create(&a)))
            break;
        if ((rc = mpx_args_add_object(a, ic->l)) || (rc = mpx_args_add_int(a, (int64_t)(uintptr_t)s)) ||
            (rc = mpx_args_add_int(a, k)) || (rc = mpx_args_add_int(a, n))) {
            mpx_args_destroy(a);
            break;
        }
        rc = mpxb_start(&p[k], incr_child, a);
    }
    double t = bench_now();
    if (!rc) {
        while (atomic_load(&s->ready) < 2)
            bench_relax();
        t = bench_now();
    }
    atomic_store(&s->go, 1);
    int j0 = mpxb_finish(p[0]), j1 = mpxb_finish(p[1]);
    if (rc || j0 || j1 || s->counter != 2 * n)
        return ic->err = rc ? rc : j0 ? j0 : j1 ? j1 : MPX_ESTATE, -1;
    double end = s->end[0] > s->end[1] ? s->end[0] : s->end[1];
    return (end - t) / 2;
}

SIDE(mpxb_lock_contended_increment)
{
    incr_ctx ic = {NULL, bench_shared(sizeof(shared_state)), 0};
    if (!ic.s)
        return BENCH_WHY("mmap: %s", strerror(errno));
    int rc = mpx_lock_create(&ic.l, NULL);
    if (rc)
        return BENCH_WHY("mpx_lock_create: %s", mpx_strerror(rc));
    double s = bench_calibrate(run_contended, &ic, 10000, 1000000000L, cfg->target);
    mpx_lock_destroy(ic.l);
    munmap(ic.s, sizeof(shared_state));
    if (s < 0)
        return BENCH_WHY("mpx contended increment failed: %s", mpx_strerror(ic.err));
    *out = s * 1e9;
    return 0;
}

/* ---- condition ping-pong ---- */

static int cond_child(const mpx_args *a)
{
    mpx_condition *c = mpx_args_object(a, 0);
    shared_state *s = (shared_state *)(uintptr_t)mpx_args_int(a, 1);
    long n = (long)mpx_args_int(a, 2);
    for (long i = 0; i <= n; i++) {
        int rc = mpxb_yes(mpx_condition_acquire(c, MPX_FOREVER));
        while (!rc && s->turn != 1)
            rc = mpxb_yes(mpx_condition_wait(c, MPX_FOREVER));
        if (rc)
            return rc;
        s->turn = 0;
        mpx_condition_notify(c, 1);
        mpx_condition_release(c);
    }
    return 0;
}

typedef struct {
    mpx_condition *c;
    shared_state *s;
    int err;
} cond_ctx;

static double run_cond(void *x, long n)
{
    cond_ctx *cc = x;
    shared_state *s = cc->s;
    s->turn = 0;
    mpx_args *a;
    mpx_process *p = NULL;
    int rc = mpx_args_create(&a);
    if (!rc) {
        if ((rc = mpx_args_add_object(a, cc->c)) ||
            (rc = mpx_args_add_int(a, (int64_t)(uintptr_t)s)) || (rc = mpx_args_add_int(a, n)))
            mpx_args_destroy(a);
        else
            rc = mpxb_start(&p, cond_child, a);
    }
    if (rc)
        return cc->err = rc, -1;
    double t = 0;
    for (long i = 0; i <= n && !rc; i++) {
        if (i == 1)
            t = bench_now(); /* the first round trip waits for the child to start */
        rc = mpxb_yes(mpx_condition_acquire(cc->c, MPX_FOREVER));
        if (rc)
            break;
        s->turn = 1;
        mpx_condition_notify(cc->c, 1);
        while (!rc && s->turn != 0)
            rc = mpxb_yes(mpx_condition_wait(cc->c, MPX_FOREVER));
        mpx_condition_release(cc->c);
    }
    t = bench_now() - t;
    int jr = mpxb_finish(p);
    if (rc || jr)
        return cc->err = rc ? rc : jr, -1;
    return t;
}

SIDE(mpxb_condition_pingpong)
{
    cond_ctx cc = {NULL, bench_shared(sizeof(shared_state)), 0};
    if (!cc.s)
        return BENCH_WHY("mmap: %s", strerror(errno));
    int rc = mpx_condition_create(&cc.c, NULL, NULL);
    if (rc)
        return BENCH_WHY("mpx_condition_create: %s", mpx_strerror(rc));
    double s = bench_calibrate(run_cond, &cc, 200, 100000000L, cfg->target);
    mpx_condition_destroy(cc.c);
    munmap(cc.s, sizeof(shared_state));
    if (s < 0)
        return BENCH_WHY("mpx condition ping-pong failed: %s", mpx_strerror(cc.err));
    *out = s * 1e6;
    return 0;
}
