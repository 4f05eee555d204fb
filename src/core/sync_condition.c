/*
 * core/sync_condition.c - Condition (SYNC-13, SYNC-14): counters and a
 * futex word in shared memory beside its lock (by default an RLock in
 * the same block); notify defers its wake to the lock's release or moves
 * the sleepers onto the lock's futex (wait morphing). docs/sync.md.
 */
#include "core/sync_internal.h"
#include "os/intr.h"

#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#define CONDW_MAGIC 0x636f6e64u /* "cond" */

/*
 * All counters change under the condition's lock, except nsleep.
 *   total  waiters that entered and have not left by a timeout
 *   wakeup notifications handed out (total - wakeup: waiters not notified)
 *   woken  notifications consumed   (wakeup - woken: pending)
 * A waiter may consume a notification only when wakeup changed since it
 * entered (it was waiting when the notify ran). fword changes with every
 * notify; waiters sleep on it.
 */
typedef struct mpx__condw {
    _Atomic uint32_t fword;
    _Atomic uint32_t nsleep;
    uint32_t magic;
    _Atomic uint32_t morphs; /* requeues done by notify (wait morphing) */
    _Atomic uint64_t total, wakeup, woken;
    _Atomic uint32_t defer;  /* wakes deferred to the lock's release */
    _Atomic uint32_t spinmiss; /* waits in a row whose spin found no notify */
    uint32_t flags;            /* MPX__LKF_INTR */
} mpx__condw;

/* The default lock of a Condition lives CONDW_LOCK_OFF bytes into the
 * condition's block (mpx_condition_create). */
#define CONDW_LOCK_OFF 64
_Static_assert(sizeof(mpx__condw) <= CONDW_LOCK_OFF, "condition words overlap the lock");

/* mpx__lockw_release saw CONDWAKE: only a Condition's own default lock
 * ever has it set, so the condition words sit CONDW_LOCK_OFF bytes before. */
void mpx__condw_deferred_wake(mpx__lockw *w)
{
    mpx__condw *cw = (mpx__condw *)(void *)((char *)w - CONDW_LOCK_OFF);
    uint32_t n = atomic_exchange_explicit(&cw->defer, 0, memory_order_seq_cst);
    if (n)
        mpx__futex_wake(&cw->fword, n > INT32_MAX ? INT32_MAX : (int)n);
}

struct mpx_condition {
    MPX__SEGOBJ_FIELDS(mpx__condw, c);
    struct mpx_lock *lock;
};

static int cond_export(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    mpx_condition *c = obj;
    int rc = mpx__segobj_export(c, data, fds);
    if (!rc)
        rc = mpx__lock_export_ref(c->lock, c->seg, data, fds);
    return rc;
}

static int cond_import(mpx__rd *rd, const int *fds, int nfds, void **out);
static int cond_sync_acquire(void *obj, mpx_duration timeout);
static int cond_sync_release(void *obj);
static char *cond_sync_describe(void *obj);

static void cond_drop(void *obj)
{
    mpx_condition_destroy(obj);
}

mpx__objtype mpx__cond_type = {.name = "condition",
                               .export_ = cond_export,
                               .import_ = cond_import,
                               .drop = cond_drop,
                               .acquire = cond_sync_acquire,
                               .release = cond_sync_release,
                               .describe = cond_sync_describe};

static mpx_condition *cond_of(void *p)
{
    return mpx__segobj_of(p, &mpx__cond_type);
}

/* Takes over the reference on seg and the one on lock (both kept by the
 * caller on failure). */
static int cond_wrap(mpx__seg *seg, size_t off, struct mpx_lock *lock, mpx_context *ctx,
                     mpx_condition **out)
{
    int rc = mpx__segobj_new(sizeof(mpx_condition), &mpx__cond_type, seg, off, ctx, (void **)out);
    if (!rc)
        (*out)->lock = lock;
    return rc;
}

static int cond_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    mpx__fdcur cur = {fds, nfds, 0};
    mpx__seg *seg = NULL;
    size_t off = 0;
    struct mpx_lock *lock = NULL;
    int rc = mpx__segobj_import_seg(rd, &cur, sizeof(mpx__condw), offsetof(mpx__condw, magic),
                                    CONDW_MAGIC, &seg, &off);
    if (!rc)
        rc = mpx__lock_import_ref(rd, &cur, seg, &lock);
    mpx__fdcur_close_rest(&cur);
    if (!rc && !lock)
        rc = MPX_EPROTO;
    if (!rc)
        rc = cond_wrap(seg, off, lock, NULL, (mpx_condition **)out);
    if (rc) {
        mpx__lock_unref(lock);
        mpx__seg_unref(seg);
    }
    return rc;
}

MPX_API int mpx_condition_create(mpx_condition **out, void *lock, const mpx_sync_opts *opts)
{
    if (!out)
        return MPX_EINVAL;
    struct mpx_lock *l = NULL;
    if (lock && !(l = mpx__lock_of(lock)))
        return MPX_EINVAL;
    mpx__seg *seg;
    size_t off;
    int rc = mpx__shalloc(CONDW_LOCK_OFF + sizeof(mpx__lockw), "mpx-condition", &seg, &off);
    if (rc)
        return rc;
    mpx__condw *c = (mpx__condw *)(void *)((char *)seg->map.addr + off);
    atomic_init(&c->fword, 0);
    atomic_init(&c->nsleep, 0);
    atomic_init(&c->total, 0);
    atomic_init(&c->wakeup, 0);
    atomic_init(&c->woken, 0);
    atomic_init(&c->morphs, 0);
    atomic_init(&c->defer, 0);
    atomic_init(&c->spinmiss, 0);
    c->flags = opts && opts->interruptible ? MPX__LKF_INTR : 0;
    c->magic = CONDW_MAGIC;
    mpx_context *ctx = opts ? opts->ctx : NULL;
    if (l) {
        mpx__lock_ref(l);
    } else {
        mpx__lockw *lw = (mpx__lockw *)(void *)((char *)seg->map.addr + off + CONDW_LOCK_OFF);
        mpx__lockw_init(lw);
        if (opts && opts->interruptible)
            mpx__lockw_set_interruptible(lw); /* its acquire too (D6) */
        rc = mpx__lock_new(&l, true, seg, off + CONDW_LOCK_OFF, ctx);
    }
    if (!rc)
        rc = cond_wrap(seg, off, l, ctx, out);
    if (rc) {
        mpx__lock_unref(l);
        mpx__seg_unref(seg);
    }
    return rc;
}

MPX_API void mpx_condition_destroy(mpx_condition *c)
{
    if (!cond_of(c))
        return;
    mpx__lock_unref(c->lock);
    mpx__segobj_free(c);
}

MPX_API void *mpx_condition_lock(mpx_condition *c)
{
    return cond_of(c) ? c->lock : NULL;
}

MPX_API int mpx_condition_acquire(mpx_condition *c, mpx_duration timeout)
{
    return cond_of(c) ? mpx__yes_no(mpx__lk_acquire(c->lock, timeout)) : MPX_EINVAL;
}

MPX_API int mpx_condition_release(mpx_condition *c)
{
    return cond_of(c) ? mpx__lk_release(c->lock) : MPX_EINVAL;
}

static inline uint64_t ld64(_Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

static inline void st64(_Atomic uint64_t *p, uint64_t v)
{
    atomic_store_explicit(p, v, memory_order_relaxed);
}

#define SPIN_MISS_MAX 4
#define SPIN_PROBE 16
static __thread __attribute__((tls_model("initial-exec"))) unsigned tl_spin_probe;

static int cond_wait_in(mpx_condition *c, mpx_duration timeout, mpx__intr *in);

static int cond_wait(mpx_condition *c, mpx_duration timeout)
{
    if (!cond_of(c))
        return MPX_EINVAL;
    mpx__intr in;
    mpx__intr_init(&in, c->c->flags & MPX__LKF_INTR);
    int rc = cond_wait_in(c, timeout, &in);
    mpx__intr_done(&in); /* handlers of signals held back run now */
    return rc;
}

static int cond_wait_in(mpx_condition *c, mpx_duration timeout, mpx__intr *in)
{
    struct mpx_lock *l = c->lock;
    mpx__condw *cw = c->c;
    if (!mpx__lk_is_mine(l))
        return MPX_ESTATE;
    mpx__deadline d = mpx__deadline_from(timeout);
    int64_t check = mpx__sync_check_ns();
    int spins = mpx__sync_spin();
    st64(&cw->total, ld64(&cw->total) + 1);
    uint64_t val = ld64(&cw->wakeup);
    uint32_t fv = atomic_load_explicit(&cw->fword, memory_order_relaxed);
    uint32_t m0 = atomic_load_explicit(&cw->morphs, memory_order_relaxed);
    uint32_t saved;
    int rc = mpx__lk_release_save(l, &saved);
    if (rc) {
        st64(&cw->total, ld64(&cw->total) - 1);
        return rc;
    }
    mpx__intr_begin(in);
    for (;;) {
        bool timed_out = false, intr = false, owner_dead = false, slept = false;
        /*
         * Adaptive spin: a notify usually comes from a peer that must first
         * wake up itself (microseconds), so a spin mostly burns the CPU the
         * peer needs (2 cores). Spin while spinning has been paying off on
         * this condition; after SPIN_MISS_MAX misses in a row, only every
         * SPIN_PROBE-th wait of this process spins, to notice when it pays
         * again.
         */
        if (spins > 0) {
            uint32_t miss = atomic_load_explicit(&cw->spinmiss, memory_order_relaxed);
            if (miss < SPIN_MISS_MAX || (++tl_spin_probe % SPIN_PROBE) == 0) {
                int i = 0;
                for (; i < spins; i++) {
                    if (atomic_load_explicit(&cw->fword, memory_order_acquire) != fv)
                        break;
                    mpx__cpu_relax();
                }
                uint32_t nm = i < spins ? 0 : miss < SPIN_MISS_MAX ? miss + 1 : miss;
                if (nm != miss)
                    atomic_store_explicit(&cw->spinmiss, nm, memory_order_relaxed);
            }
        }
        while (atomic_load_explicit(&cw->fword, memory_order_acquire) == fv) {
            mpx__deadline until = d;
            if (check != INT64_MAX) {
                int64_t t = mpx__now_ns() + check;
                if (t < until)
                    until = t;
            }
            atomic_fetch_add_explicit(&cw->nsleep, 1, memory_order_seq_cst);
            int r = 0;
            if (atomic_load_explicit(&cw->fword, memory_order_seq_cst) == fv) {
                r = mpx__intr_futex_wait(in, &cw->fword, fv, until);
                slept = true;
            }
            atomic_fetch_sub_explicit(&cw->nsleep, 1, memory_order_relaxed);
            if (r == -EINTR) {
                intr = true;
                break;
            }
            if (r == MPX_ETIMEDOUT) {
                if (mpx__deadline_expired(d)) {
                    timed_out = true;
                    break;
                }
                uint64_t v = atomic_load_explicit(&l->w->word, memory_order_relaxed);
                if (v && !mpx__owner_alive(v)) {
                    owner_dead = true;
                    break;
                }
            }
        }
        /* Only a sleeper that may have been requeued onto the lock's futex
         * (a notify requeued since we entered) must take the lock with
         * WAITERS; one woken from fword is a fresh acquirer, and taking
         * the lock without WAITERS spares its release a futex wake. */
        if (slept && atomic_load_explicit(&cw->morphs, memory_order_seq_cst) == m0)
            slept = false;
        int ar = mpx__lk_acquire_restore(l, saved, slept);
        uint64_t wk = ld64(&cw->wakeup), wn = ld64(&cw->woken);
        if (wk != val && wn != wk) {
            st64(&cw->woken, wn + 1);
            return ar;
        }
        if (timed_out || intr || ar == MPX_EOWNERDEAD) {
            st64(&cw->total, ld64(&cw->total) - 1);
            return ar == MPX_EOWNERDEAD ? ar : timed_out ? MPX_ETIMEDOUT : -EINTR;
        }
        /* Not notified (a dead holder someone else recovered, or a token
         * taken by another eligible waiter): wait again. */
        (void)owner_dead;
        fv = atomic_load_explicit(&cw->fword, memory_order_relaxed);
        m0 = atomic_load_explicit(&cw->morphs, memory_order_relaxed);
        rc = mpx__lk_release_save(l, &saved);
        if (rc) /* cannot happen: we hold it */
            return rc;
    }
}

MPX_API int mpx_condition_wait(mpx_condition *c, mpx_duration timeout)
{
    return mpx__yes_no(cond_wait(c, timeout));
}

MPX_API int mpx_condition_wait_for(mpx_condition *c, mpx_predicate_fn pred, void *arg,
                                   mpx_duration timeout)
{
    if (!cond_of(c) || !pred)
        return MPX_EINVAL;
    if (!mpx__lk_is_mine(c->lock))
        return MPX_ESTATE;
    mpx__deadline d = mpx__deadline_from(timeout);
    for (;;) {
        if (pred(arg))
            return 1;
        mpx_duration left = MPX_FOREVER;
        if (d != MPX__NEVER) {
            int64_t ns = mpx__deadline_left_ns(d);
            if (ns <= 0)
                return 0;
            left = (ns + 999999) / 1000000;
        }
        int rc = cond_wait(c, left);
        if (rc == MPX_ETIMEDOUT)
            return pred(arg) ? 1 : 0;
        if (rc)
            return rc;
    }
}

static int cond_notify(mpx_condition *c, uint64_t n)
{
    if (!cond_of(c))
        return MPX_EINVAL;
    if (!mpx__lk_is_mine(c->lock))
        return MPX_ESTATE;
    mpx__condw *cw = c->c;
    uint64_t t = ld64(&cw->total), w = ld64(&cw->wakeup);
    uint64_t k = t - w < n ? t - w : n;
    if (k == 0)
        return 0;
    st64(&cw->wakeup, w + k);
    uint32_t nf = atomic_fetch_add_explicit(&cw->fword, 1, memory_order_seq_cst) + 1;
    if (!atomic_load_explicit(&cw->nsleep, memory_order_seq_cst))
        return 0;
    int nk = k > INT32_MAX ? INT32_MAX : (int)k;
    _Atomic uint64_t *lw = &c->lock->w->word;
    /*
     * Wake on unlock (notify(1) with the condition's own lock): a woken
     * sleeper could not run while we hold the lock, and one woken now
     * would find it taken and sleep again on the lock. So only count the
     * wake in defer and set CONDWAKE in the lock word; the release that
     * clears the word does the FUTEX_WAKE on fword, and the woken thread
     * finds the lock free. No syscall here, one in release: a ping-pong
     * costs what a raw futex ping-pong does. defer is added before the
     * bit is set, and a release clears the word (bit) before it takes
     * defer, so every deferred wake is done by some release.
     */
    if (nk == 1 && (char *)c->lock->w == (char *)cw + CONDW_LOCK_OFF) {
        atomic_fetch_add_explicit(&cw->defer, 1, memory_order_seq_cst);
        uint64_t v = atomic_load_explicit(lw, memory_order_relaxed);
        while (v && !(v & MPX__LK_CW64) &&
               !atomic_compare_exchange_weak_explicit(lw, &v, v | MPX__LK_CW64, memory_order_seq_cst,
                                                      memory_order_relaxed))
            ;
        if (v)
            return 0;
        /* Released under us (a Lock may be released by anyone): wake now. */
        mpx__condw_deferred_wake(c->lock->w);
        return 0;
    }
    /*
     * Wait morphing: the sleepers could not run anyway while we hold the
     * lock, so move them to the lock's futex instead of waking them now;
     * the lock's release wakes them one at a time. WAITERS must be set so
     * that release does wake. Fall back to a plain wake when the kernel
     * refuses the requeue.
     */
    uint64_t v = atomic_load_explicit(lw, memory_order_relaxed);
    while (v && !(v & MPX__LK_W64) &&
           !atomic_compare_exchange_weak_explicit(lw, &v, v | MPX__LK_W64, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
    if (v) {
        /* Before the requeue: a waiter that reads morphs unchanged after
         * its wake-up was not requeued (see mpx_condition_wait). */
        atomic_fetch_add_explicit(&cw->morphs, 1, memory_order_seq_cst);
        long r = mpx__futex_cmp_requeue(&cw->fword, 0, nk, mpx__lk_futex_half(lw), nf);
        if (r >= 0)
            return 0;
    }
    mpx__futex_wake(&cw->fword, nk);
    return 0;
}

MPX_API int mpx_condition_notify(mpx_condition *c, int n)
{
    if (n < 0)
        return MPX_EINVAL;
    return cond_notify(c, (uint64_t)n);
}

MPX_API int mpx_condition_notify_all(mpx_condition *c)
{
    return cond_notify(c, UINT64_MAX);
}

MPX_API int mpx_condition_waiters(mpx_condition *c)
{
    if (!cond_of(c))
        return MPX_EINVAL;
    uint64_t t = ld64(&c->c->total), w = ld64(&c->c->wakeup);
    return t > w ? (int)(t - w) : 0;
}

MPX_API char *mpx_condition_describe(mpx_condition *c)
{
    if (!cond_of(c))
        return NULL;
    mpx__buf b;
    mpx__buf_init(&b);
    int rc = mpx__buf_printf(&b, "<Condition(");
    if (!rc)
        rc = mpx__lk_describe(c->lock, &b);
    if (!rc)
        rc = mpx__buf_printf(&b, ", %d)>", mpx_condition_waiters(c));
    return mpx__buf_to_str(&b, rc);
}

/* The generic calls (mpx_sync_acquire ...), through the type's hooks. */

static int cond_sync_acquire(void *obj, mpx_duration timeout)
{
    return mpx_condition_acquire(obj, timeout);
}

static int cond_sync_release(void *obj)
{
    return mpx_condition_release(obj);
}

static char *cond_sync_describe(void *obj)
{
    return mpx_condition_describe(obj);
}
