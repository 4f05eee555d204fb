/*
 * core/sync_barrier.c - Barrier (SYNC-16): a generation word, an internal
 * lock word and one owner token per waiting party in shared memory; a
 * party that died while waiting breaks the barrier (docs/sync.md).
 */
#include "core/context_internal.h"
#include "core/fnref.h"
#include "core/sync_internal.h"
#include "os/intr.h"

#include <stddef.h>
#include <stdlib.h>

#define BARW_MAGIC 0x62617272u /* "barr" */
#define BAR_MAX_PARTIES 1000000u

/*
 * lk guards count, broken, brk_gen and slots. gen (the futex word) moves
 * on when a generation passes or breaks; brk_gen == g + 1 tells waiters of
 * generation g that it broke. slots[i] holds the token (pid, start time)
 * of the i-th waiter of the current generation, for death checks.
 */
typedef struct mpx__barw {
    mpx__lockw lk;
    _Atomic uint32_t gen;
    _Atomic uint32_t nsleep;
    _Atomic uint32_t count;
    _Atomic uint32_t broken;
    _Atomic uint32_t brk_gen;
    uint32_t parties;
    int64_t timeout_ms;
    uint32_t magic;
    uint32_t flags; /* MPX__LKF_INTR */
    _Atomic uint64_t slots[];
} mpx__barw;

struct mpx_barrier {
    MPX__SEGOBJ_FIELDS(mpx__barw, b);
    mpx_barrier_action_fn action;
};

static int bar_export(void *obj, mpx__buf *data, mpx__fdlist *fds);
static int bar_import(mpx__rd *rd, const int *fds, int nfds, void **out);
static char *bar_sync_describe(void *obj);

mpx__objtype mpx__bar_type = {.name = "barrier",
                              .export_ = bar_export,
                              .import_ = bar_import,
                              .drop = mpx__segobj_free,
                              .describe = bar_sync_describe};

static int bar_export(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    mpx_barrier *b = obj;
    int rc = mpx__segobj_export(b, data, fds);
    if (!rc)
        /* export runs only for children that do not share our memory
         * (spawn, forkserver): encode module + offset, not a pointer */
        rc = mpx__fnref_encode(mpx__context_by_method(MPX__SPAWN), (mpx__fnptr)b->action, data);
    return rc;
}

static mpx_barrier *bar_of(void *p)
{
    return mpx__segobj_of(p, &mpx__bar_type);
}

/* Takes over the reference on seg (kept by the caller on failure). */
static int bar_wrap(mpx__seg *seg, size_t off, mpx_barrier_action_fn action, mpx_context *ctx,
                    mpx_barrier **out)
{
    int rc = mpx__segobj_new(sizeof(mpx_barrier), &mpx__bar_type, seg, off, ctx, (void **)out);
    if (!rc)
        (*out)->action = action;
    return rc;
}

static int bar_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    mpx__fdcur cur = {fds, nfds, 0};
    mpx__seg *seg;
    size_t off;
    int rc = mpx__segobj_import_seg(rd, &cur, sizeof(mpx__barw), offsetof(mpx__barw, magic),
                                    BARW_MAGIC, &seg, &off);
    mpx__fdcur_close_rest(&cur);
    if (rc)
        return rc;
    mpx__fnptr fn = NULL;
    rc = mpx__fnref_decode(rd, &fn);
    mpx__barw *w = (mpx__barw *)(void *)((char *)seg->map.addr + off);
    if (!rc && (w->parties == 0 || w->parties > BAR_MAX_PARTIES ||
                (seg->map.size - off - sizeof *w) / sizeof(uint64_t) < w->parties))
        rc = MPX_EPROTO;
    if (!rc)
        rc = bar_wrap(seg, off, (mpx_barrier_action_fn)fn, NULL, (mpx_barrier **)out);
    if (rc)
        mpx__seg_unref(seg);
    return rc;
}

MPX_API int mpx_barrier_create(mpx_barrier **out, unsigned parties, const mpx_barrier_opts *opts)
{
    if (!out || parties == 0 || parties > BAR_MAX_PARTIES)
        return MPX_EINVAL;
    mpx__seg *seg;
    size_t off;
    int rc = mpx__shalloc(sizeof(mpx__barw) + parties * sizeof(uint64_t), "mpx-barrier", &seg,
                          &off);
    if (rc)
        return rc;
    mpx__barw *w = (mpx__barw *)(void *)((char *)seg->map.addr + off);
    mpx__lockw_init(&w->lk);
    atomic_init(&w->gen, 0);
    atomic_init(&w->nsleep, 0);
    atomic_init(&w->count, 0);
    atomic_init(&w->broken, 0);
    atomic_init(&w->brk_gen, 0);
    w->parties = parties;
    /* 0: not set (no default timeout, Python's None); negative: zero time */
    w->timeout_ms = opts && opts->timeout != 0 ? opts->timeout : MPX_FOREVER;
    w->flags = opts && opts->interruptible ? MPX__LKF_INTR : 0;
    w->magic = BARW_MAGIC;
    rc = bar_wrap(seg, off, opts ? opts->action : NULL, opts ? opts->ctx : NULL, out);
    if (rc)
        mpx__seg_unref(seg);
    return rc;
}

MPX_API void mpx_barrier_destroy(mpx_barrier *b)
{
    if (bar_of(b))
        mpx__segobj_free(b);
}

/* Take the internal lock; 1 when a holder died (state suspect). */
static int bar_lock(mpx__barw *w)
{
    int r;
    do
        r = mpx__lockw_acquire(&w->lk, mpx__self_token(), MPX_FOREVER, false);
    while (r != 0 && r != MPX_EOWNERDEAD);
    return r == MPX_EOWNERDEAD;
}

static void bar_unlock(mpx__barw *w)
{
    mpx__lockw_release(&w->lk);
}

/* Break the current generation (lock held). */
static void bar_break(mpx__barw *w, bool stay_broken)
{
    uint32_t g = atomic_load_explicit(&w->gen, memory_order_relaxed);
    if (stay_broken)
        atomic_store_explicit(&w->broken, 1, memory_order_relaxed);
    atomic_store_explicit(&w->brk_gen, g + 1, memory_order_relaxed);
    atomic_store_explicit(&w->count, 0, memory_order_relaxed);
    atomic_store_explicit(&w->gen, g + 1, memory_order_release);
    mpx__futex_wake(&w->gen, INT32_MAX);
}

static bool bar_dead_party(mpx__barw *w)
{
    uint32_t n = atomic_load_explicit(&w->count, memory_order_relaxed);
    for (uint32_t i = 0; i < n && i < w->parties; i++)
        if (!mpx__owner_alive(atomic_load_explicit(&w->slots[i], memory_order_relaxed)))
            return true;
    return false;
}

static int bar_wait_in(mpx_barrier *b, mpx_duration timeout, mpx__intr *in);

MPX_API int mpx_barrier_wait(mpx_barrier *b, mpx_duration timeout)
{
    if (!bar_of(b))
        return MPX_EINVAL;
    mpx__intr in;
    mpx__intr_init(&in, b->b->flags & MPX__LKF_INTR);
    int rc = bar_wait_in(b, timeout, &in);
    mpx__intr_done(&in); /* handlers of signals held back run now */
    return rc;
}

static int bar_wait_in(mpx_barrier *b, mpx_duration timeout, mpx__intr *in)
{
    mpx__barw *w = b->b;
    if (timeout == MPX_FOREVER)
        timeout = w->timeout_ms;
    mpx__deadline d = mpx__deadline_from(timeout);
    if (bar_lock(w)) {
        bar_break(w, true);
        bar_unlock(w);
        return MPX_EBROKEN;
    }
    if (atomic_load_explicit(&w->broken, memory_order_relaxed)) {
        bar_unlock(w);
        return MPX_EBROKEN;
    }
    uint32_t g = atomic_load_explicit(&w->gen, memory_order_relaxed);
    uint32_t idx = atomic_load_explicit(&w->count, memory_order_relaxed);
    if (idx >= w->parties) { /* corrupted shared state: never write past slots */
        bar_break(w, true);
        bar_unlock(w);
        return MPX_EBROKEN;
    }
    atomic_store_explicit(&w->slots[idx], mpx__self_token(), memory_order_relaxed);
    atomic_store_explicit(&w->count, idx + 1, memory_order_relaxed);
    if (idx + 1 == w->parties) {
        /* #12 item 6: a party that died while waiting breaks the barrier
         * whenever the last one arrives, not only when a waiter's periodic
         * check finds it first. The slots hold (pid, start time) tokens,
         * so a reused pid is not taken for the dead party. */
        if (bar_dead_party(w)) {
            bar_break(w, true);
            bar_unlock(w);
            return MPX_EBROKEN;
        }
        int ar = b->action ? b->action() : 0;
        if (ar != 0) {
            bar_break(w, true);
            bar_unlock(w);
            return ar < 0 ? ar : MPX_EBROKEN;
        }
        atomic_store_explicit(&w->count, 0, memory_order_relaxed);
        atomic_store_explicit(&w->gen, g + 1, memory_order_seq_cst);
        if (atomic_load_explicit(&w->nsleep, memory_order_seq_cst))
            mpx__futex_wake(&w->gen, INT32_MAX);
        bar_unlock(w);
        return (int)idx;
    }
    bar_unlock(w);
    mpx__intr_begin(in);
    int64_t check = mpx__sync_check_ns();
    int spins = mpx__sync_spin();
    uint32_t checks = 0;
    for (int i = 0; i < spins; i++) {
        if (atomic_load_explicit(&w->gen, memory_order_acquire) != g)
            break;
        mpx__cpu_relax();
    }
    for (;;) {
        if (atomic_load_explicit(&w->gen, memory_order_acquire) != g)
            return atomic_load_explicit(&w->brk_gen, memory_order_relaxed) == g + 1 ? MPX_EBROKEN
                                                                                    : (int)idx;
        mpx__deadline until = d;
        if (check != INT64_MAX) {
            int64_t t = mpx__now_ns() + check;
            if (t < until)
                until = t;
        }
        atomic_fetch_add_explicit(&w->nsleep, 1, memory_order_seq_cst);
        int r = 0;
        if (atomic_load_explicit(&w->gen, memory_order_seq_cst) == g)
            r = mpx__intr_futex_wait(in, &w->gen, g, until);
        atomic_fetch_sub_explicit(&w->nsleep, 1, memory_order_relaxed);
        bool intr = r == -EINTR;
        if (r != MPX_ETIMEDOUT && !intr)
            continue;
        bool expired = mpx__deadline_expired(d);
        /* the slot scan costs a few syscalls per party: with many parties
         * do it on every k-th check only */
        bool scan = checks++ % ((w->parties + 15) / 16) == 0;
        bool dead = bar_lock(w);
        if (atomic_load_explicit(&w->gen, memory_order_relaxed) == g &&
            (dead || expired || intr || (scan && bar_dead_party(w))))
            bar_break(w, true);
        bar_unlock(w);
        if (intr && atomic_load_explicit(&w->brk_gen, memory_order_relaxed) == g + 1)
            return -EINTR;
    }
}

MPX_API int mpx_barrier_reset(mpx_barrier *b)
{
    if (!bar_of(b))
        return MPX_EINVAL;
    mpx__barw *w = b->b;
    bar_lock(w);
    if (atomic_load_explicit(&w->count, memory_order_relaxed) > 0)
        bar_break(w, false);
    atomic_store_explicit(&w->broken, 0, memory_order_relaxed);
    bar_unlock(w);
    return 0;
}

MPX_API int mpx_barrier_abort(mpx_barrier *b)
{
    if (!bar_of(b))
        return MPX_EINVAL;
    mpx__barw *w = b->b;
    bar_lock(w);
    bar_break(w, true);
    bar_unlock(w);
    return 0;
}

MPX_API int mpx_barrier_parties(mpx_barrier *b)
{
    return bar_of(b) ? (int)b->b->parties : MPX_EINVAL;
}

MPX_API int mpx_barrier_n_waiting(mpx_barrier *b)
{
    return bar_of(b) ? (int)atomic_load_explicit(&b->b->count, memory_order_relaxed) : MPX_EINVAL;
}

MPX_API int mpx_barrier_broken(mpx_barrier *b)
{
    return bar_of(b) ? (int)atomic_load_explicit(&b->b->broken, memory_order_relaxed)
                     : MPX_EINVAL;
}

MPX_API char *mpx_barrier_describe(mpx_barrier *b)
{
    if (!bar_of(b))
        return NULL;
    return mpx__describef("<Barrier(parties=%d, n_waiting=%d, broken=%s)>",
                          mpx_barrier_parties(b), mpx_barrier_n_waiting(b),
                          mpx_barrier_broken(b) ? "True" : "False");
}

static char *bar_sync_describe(void *obj)
{
    return mpx_barrier_describe(obj);
}
