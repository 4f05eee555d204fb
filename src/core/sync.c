/*
 * sync.c - Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event,
 * Barrier on futex words in memfd shared memory (docs/sync.md).
 */
#include "core/sync_internal.h"
#include "linux/intr.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Internal waits answer 0 (done) or MPX_ETIMEDOUT; public calls answer a
 * yes/no question (docs/design.md, "Porting contract"): 1 yes, 0 no (the
 * timeout ended first), negative an error (MPX_EOWNERDEAD, -EINTR ...). */
static inline int yes_no(int r)
{
    return r == 0 ? 1 : r == MPX_ETIMEDOUT ? 0 : r;
}

#define W64 ((uint64_t)MPX__LK_WAITERS)
#define CW64 ((uint64_t)MPX__LK_CONDWAKE)
#define LKBITS (W64 | CW64) /* the word's flag bits (not part of the owner) */

/* ---- settings ---------------------------------------------------------- */

/* Build-time defaults: make CFLAGS=-DMPX_SYNC_DEFAULT_SPIN=0 disables
 * spinning; the environment (MPX_SYNC_SPIN, MPX_SYNC_CHECK_MS) and the
 * setters override them at run time. */
#ifndef MPX_SYNC_DEFAULT_SPIN
#define MPX_SYNC_DEFAULT_SPIN 100
#endif
#ifndef MPX_SYNC_DEFAULT_CHECK_MS
#define MPX_SYNC_DEFAULT_CHECK_MS 50
#endif

static _Atomic int spin_n = MPX_SYNC_DEFAULT_SPIN;
static _Atomic int64_t check_ns = MPX_SYNC_DEFAULT_CHECK_MS * 1000000LL;
static pthread_once_t settings_once = PTHREAD_ONCE_INIT;

static void settings_init(void)
{
    const char *e = getenv("MPX_SYNC_SPIN");
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n == 1)
        atomic_store(&spin_n, 0);
    if (e && *e) {
        long v = strtol(e, NULL, 10);
        atomic_store(&spin_n, v < 0 ? 0 : v > 1000000 ? 1000000 : (int)v);
    }
    e = getenv("MPX_SYNC_CHECK_MS");
    if (e && *e) {
        long v = strtol(e, NULL, 10);
        atomic_store(&check_ns, v <= 0 ? INT64_MAX : (int64_t)v * 1000000LL);
    }
}

int mpx__sync_spin(void)
{
    pthread_once(&settings_once, settings_init);
    return atomic_load_explicit(&spin_n, memory_order_relaxed);
}

int64_t mpx__sync_check_ns(void)
{
    pthread_once(&settings_once, settings_init);
    return atomic_load_explicit(&check_ns, memory_order_relaxed);
}

void mpx__sync_settings_adopt(int spin, int64_t ns)
{
    pthread_once(&settings_once, settings_init);
    atomic_store(&spin_n, spin < 0 ? 0 : spin > 1000000 ? 1000000 : spin);
    atomic_store(&check_ns, ns <= 0 ? INT64_MAX : ns);
}

MPX_API int mpx_sync_set_spin(int iterations)
{
    pthread_once(&settings_once, settings_init);
    if (iterations < 0)
        iterations = 0;
    return atomic_exchange(&spin_n, iterations);
}

MPX_API mpx_duration mpx_sync_set_owner_check(mpx_duration interval_ms)
{
    pthread_once(&settings_once, settings_init);
    if (interval_ms <= 0)
        return MPX_EINVAL;
    int64_t ns = interval_ms >= INT64_MAX / 1000000 ? INT64_MAX : interval_ms * 1000000LL;
    int64_t old = atomic_exchange(&check_ns, ns);
    return old == INT64_MAX ? MPX_FOREVER : old / 1000000;
}

/* ---- identity of the calling process and thread ------------------------ */

static _Atomic pid_t tok_pid;
static _Atomic uint64_t tok_val;

static __attribute__((noinline)) uint64_t self_token_refresh(pid_t pid)
{
    char st;
    uint64_t start = 0;
    if (mpx__proc_stat(pid, &st, &start) != 0)
        start = 0;
    uint64_t t = ((uint64_t)(uint32_t)start << 32) | ((uint32_t)pid & MPX__LK_PIDMASK);
    atomic_store_explicit(&tok_val, t, memory_order_relaxed);
    atomic_store_explicit(&tok_pid, pid, memory_order_release);
    return t;
}

/* pid | start time << 32: what a lock word holds while we own it. */
static inline uint64_t self_token(void)
{
    pid_t pid = mpx__self_pid;
    if (MPX__LIKELY(atomic_load_explicit(&tok_pid, memory_order_acquire) == pid && pid))
        return atomic_load_explicit(&tok_val, memory_order_relaxed);
    if (!pid) {
        mpx__global_init();
        pid = mpx__self_pid;
    }
    return self_token_refresh(pid);
}

static __thread __attribute__((tls_model("initial-exec"))) pid_t tl_tid, tl_tid_pid;

static inline uint32_t self_tid(void)
{
    if (MPX__UNLIKELY(tl_tid_pid != mpx__self_pid || !tl_tid)) {
        tl_tid = (pid_t)syscall(SYS_gettid);
        tl_tid_pid = mpx__self_pid;
    }
    return (uint32_t)tl_tid;
}

/*
 * Is the owner recorded in token (a lock word or a barrier slot) alive?
 * Dead: no such process, a zombie, or another process with the same pid
 * (start time differs). Errors reading /proc count as alive.
 */
static bool owner_alive(uint64_t token)
{
    token &= ~LKBITS;
    pid_t pid = (pid_t)(token & MPX__LK_PIDMASK);
    uint32_t st = (uint32_t)(token >> 32);
    if (!pid)
        return true;
    if (pid == mpx__self_pid) {
        uint64_t me = self_token();
        return st == 0 || (uint32_t)(me >> 32) == 0 || token == me;
    }
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return false;
    char state;
    uint64_t start;
    int rc = mpx__proc_stat(pid, &state, &start);
    if (rc == -ENOENT || rc == -ESRCH)
        return false;
    if (rc)
        return true;
    if (state == 'Z' || state == 'X' || state == 'x')
        return false;
    if (st && (uint32_t)start != st)
        return false;
    return true;
}

/* ---- lock words -------------------------------------------------------------- */

static inline _Atomic uint32_t *futex_half(_Atomic uint64_t *w)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (_Atomic uint32_t *)(void *)w;
#else
    return (_Atomic uint32_t *)(void *)((char *)w + 4);
#endif
}

void mpx__lockw_init(mpx__lockw *w)
{
    atomic_init(&w->word, 0);
    atomic_init(&w->tid, 0);
    atomic_init(&w->count, 0);
    atomic_init(&w->flags, 0);
    w->magic = MPX__LOCKW_MAGIC;
}

static inline bool cas64(_Atomic uint64_t *p, uint64_t expect, uint64_t v)
{
    return atomic_compare_exchange_strong_explicit(p, &expect, v, memory_order_acquire,
                                                   memory_order_relaxed);
}

/* 1: lost the race (retry); MPX_EOWNERDEAD: taken over. */
static int lockw_takeover(mpx__lockw *w, uint64_t seen, uint64_t me)
{
    if (!cas64(&w->word, seen, me | W64 | (seen & CW64)))
        return 1;
    atomic_fetch_or_explicit(&w->flags, MPX__LKF_SUSPECT, memory_order_relaxed);
    MPX__DEBUG("lock %p: owner pid %u died holding it; taken over", (void *)w,
               (unsigned)(seen & MPX__LK_PIDMASK));
    return MPX_EOWNERDEAD;
}

/*
 * Saturation: spinning hands the lock to the spinner on every release, so
 * when two processes take the lock back to back (the holder comes back for
 * it within a fraction of a microsecond) the lock word and the data it
 * guards cross between CPUs on every acquisition: twice the cost of letting
 * the waiter sleep while the holder goes on with its cache lines warm
 * (measured by the lock_contended_increment benchmark, docs/sync.md). A
 * thread that comes back to the slow path of the same lock within
 * SAT_WINDOW_NS of its last contended acquisition skips the spin and
 * sleeps. Light contention (the holder goes away after releasing) keeps
 * spinning. Thread-local: no shared writes.
 */
#define SAT_WINDOW_NS 1000
static __thread __attribute__((tls_model("initial-exec"))) const void *tl_sat_lock;
static __thread __attribute__((tls_model("initial-exec"))) int64_t tl_sat_exit;

static inline int lockw_done(const mpx__lockw *w, int rc)
{
    if (tl_sat_lock == w)
        tl_sat_exit = mpx__now_ns();
    return rc;
}

static int lockw_slow_wait(mpx__lockw *w, uint64_t me, mpx_duration timeout, mpx__intr *in)
{
    bool nowait = timeout <= 0;
    if (!nowait)
        mpx__intr_begin(in);
    int spins = nowait ? 0 : mpx__sync_spin();
    if (spins > 0) {
        int64_t now = mpx__now_ns();
        if (tl_sat_lock == w && now - tl_sat_exit < SAT_WINDOW_NS)
            spins = 0; /* saturated: sleep */
        tl_sat_lock = w;
        tl_sat_exit = now;
    }
    for (int i = 0; i < spins; i++) {
        mpx__cpu_relax();
        uint64_t v = atomic_load_explicit(&w->word, memory_order_relaxed);
        if (v == 0 && cas64(&w->word, 0, me))
            return lockw_done(w, 0);
    }
    if (nowait) {
        for (;;) {
            uint64_t v = atomic_load_explicit(&w->word, memory_order_relaxed);
            if (v == 0) {
                if (cas64(&w->word, 0, me))
                    return 0;
                continue;
            }
            if (owner_alive(v))
                return MPX_ETIMEDOUT;
            int r = lockw_takeover(w, v, me);
            if (r <= 0)
                return r;
        }
    }
    mpx__deadline d = mpx__deadline_from(timeout);
    int64_t check = mpx__sync_check_ns();
    for (;;) {
        uint64_t v = atomic_load_explicit(&w->word, memory_order_relaxed);
        if (v == 0) {
            if (cas64(&w->word, 0, me | W64))
                return lockw_done(w, 0);
            continue;
        }
        if (!(v & W64)) {
            if (!cas64(&w->word, v, v | W64))
                continue;
            v |= W64;
        }
        mpx__deadline until = d;
        if (check != INT64_MAX) {
            int64_t t = mpx__now_ns() + check;
            if (t < until)
                until = t;
        }
        int r = mpx__intr_futex_wait(in, futex_half(&w->word), (uint32_t)v, until);
        if (r == -EINTR)
            return -EINTR;
        if (r == MPX_ETIMEDOUT) {
            uint64_t v2 = atomic_load_explicit(&w->word, memory_order_relaxed);
            if (v2 != 0 && !owner_alive(v2)) {
                r = lockw_takeover(w, v2, me);
                if (r <= 0)
                    return r;
                continue;
            }
            if (mpx__deadline_expired(d)) {
                if (v2 == 0 && cas64(&w->word, 0, me | W64))
                    return 0;
                return MPX_ETIMEDOUT;
            }
        }
    }
}

/* intr_ok: the caller may be interrupted (public acquires); internal
 * acquisitions that must succeed (re-acquire after a Condition wait, the
 * Barrier's own lock) pass false. */
static __attribute__((noinline)) int lockw_slow(mpx__lockw *w, uint64_t me, mpx_duration timeout,
                                                bool intr_ok)
{
    mpx__intr in;
    mpx__intr_init(&in, intr_ok && (atomic_load_explicit(&w->flags, memory_order_relaxed) &
                                    MPX__LKF_INTR));
    int r = lockw_slow_wait(w, me, timeout, &in);
    mpx__intr_done(&in); /* handlers of signals held back run now */
    return r;
}

static inline int lockw_acquire(mpx__lockw *w, uint64_t me, mpx_duration timeout, bool intr_ok)
{
    if (MPX__LIKELY(cas64(&w->word, 0, me)))
        return 0;
    return lockw_slow(w, me, timeout, intr_ok);
}

void mpx__lockw_set_interruptible(mpx__lockw *w)
{
    atomic_fetch_or_explicit(&w->flags, MPX__LKF_INTR, memory_order_relaxed);
}

static void condw_deferred_wake(mpx__lockw *w);

static inline int lockw_release(mpx__lockw *w)
{
    uint64_t old = atomic_exchange_explicit(&w->word, 0, memory_order_release);
    if (MPX__UNLIKELY(old == 0))
        return MPX_ESTATE;
    if (MPX__UNLIKELY(old & LKBITS)) {
        if (old & CW64)
            condw_deferred_wake(w);
        if (old & W64)
            mpx__futex_wake(futex_half(&w->word), 1);
    }
    return 0;
}

/* ---- Lock / RLock objects ------------------------------------------------------ */

struct mpx_rlock {
    struct mpx_lock base;
};

static int lock_export(void *obj, mpx__buf *data, mpx__fdlist *fds);
static int lock_import(mpx__rd *rd, const int *fds, int nfds, void **out);
static int rlock_import(mpx__rd *rd, const int *fds, int nfds, void **out);
static void lock_drop(void *obj);

mpx__objtype mpx__lock_type = {
    .name = "lock", .export_ = lock_export, .import_ = lock_import, .drop = lock_drop};
mpx__objtype mpx__rlock_type = {
    .name = "rlock", .export_ = lock_export, .import_ = rlock_import, .drop = lock_drop};

int mpx__lock_new(struct mpx_lock **out, bool recursive, mpx__seg *seg, size_t off,
                  mpx_context *ctx)
{
    struct mpx_lock *l = calloc(1, recursive ? sizeof(struct mpx_rlock) : sizeof *l);
    if (!l)
        return -ENOMEM;
    if (seg) {
        l->seg = mpx__seg_ref(seg);
    } else {
        int rc = mpx__shalloc(sizeof(mpx__lockw), "mpx-lock", &l->seg, &off);
        if (rc) {
            free(l);
            return rc;
        }
        mpx__lockw_init((mpx__lockw *)(void *)((char *)l->seg->map.addr + off));
    }
    l->off = off;
    l->w = (mpx__lockw *)(void *)((char *)l->seg->map.addr + off);
    l->recursive = recursive;
    atomic_init(&l->refs, 1);
    mpx__obj_init(&l->hdr, recursive ? &mpx__rlock_type : &mpx__lock_type, ctx);
    *out = l;
    return 0;
}

struct mpx_lock *mpx__lock_of(void *p)
{
    mpx__obj *o = mpx__obj_of(p);
    if (!o || (o->type != &mpx__lock_type && o->type != &mpx__rlock_type))
        return NULL;
    return p;
}

static struct mpx_lock *lock_typed(void *p, bool recursive)
{
    mpx__obj *o = mpx__obj_of(p);
    if (!o || o->type != (recursive ? &mpx__rlock_type : &mpx__lock_type))
        return NULL;
    return p;
}

struct mpx_lock *mpx__lock_ref(struct mpx_lock *l)
{
    atomic_fetch_add_explicit(&l->refs, 1, memory_order_relaxed);
    return l;
}

void mpx__lock_unref(struct mpx_lock *l)
{
    if (!l || atomic_fetch_sub_explicit(&l->refs, 1, memory_order_acq_rel) != 1)
        return;
    l->hdr.magic = 0;
    mpx__seg_unref(l->seg);
    free(l);
}

static void lock_drop(void *obj)
{
    mpx__lock_unref(obj);
}

static int lock_export(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    struct mpx_lock *l = obj;
    int rc = mpx__buf_put_u64(data, (uint64_t)l->off);
    if (!rc)
        rc = mpx__seg_export(l->seg, data, fds);
    return rc;
}

static bool lockw_at(mpx__seg *seg, uint64_t off)
{
    return off <= seg->map.size && seg->map.size - off >= sizeof(mpx__lockw) && off % 8 == 0 &&
           ((mpx__lockw *)(void *)((char *)seg->map.addr + off))->magic == MPX__LOCKW_MAGIC;
}

static int lock_import_common(mpx__rd *rd, const int *fds, int nfds, void **out, bool rec)
{
    mpx__fdcur cur = {fds, nfds, 0};
    mpx__seg *seg = NULL;
    uint64_t off;
    int rc = mpx__rd_u64(rd, &off);
    if (!rc)
        rc = mpx__seg_import(rd, &cur, &seg);
    mpx__fdcur_close_rest(&cur);
    if (rc)
        return rc;
    if (!lockw_at(seg, off)) {
        mpx__seg_unref(seg);
        return MPX_EPROTO;
    }
    struct mpx_lock *l;
    rc = mpx__lock_new(&l, rec, seg, (size_t)off, NULL);
    mpx__seg_unref(seg);
    if (!rc)
        *out = l;
    return rc;
}

static int lock_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    return lock_import_common(rd, fds, nfds, out, false);
}

static int rlock_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    return lock_import_common(rd, fds, nfds, out, true);
}

int mpx__lock_export_ref(struct mpx_lock *l, mpx__seg *seg, mpx__buf *data, mpx__fdlist *fds)
{
    if (!l || l->seg != seg)
        return mpx__obj_export_nested(l, data, fds);
    int rc = mpx__buf_put_u8(data, 2);
    if (!rc)
        rc = mpx__buf_put_u8(data, l->recursive);
    if (!rc)
        rc = mpx__buf_put_u64(data, l->off);
    return rc;
}

int mpx__lock_import_ref(mpx__rd *rd, mpx__fdcur *cur, mpx__seg *seg, struct mpx_lock **out)
{
    uint8_t mode, rec;
    uint64_t off;
    void *obj = NULL;
    *out = NULL;
    int rc = mpx__rd_u8(rd, &mode);
    if (rc || mode == 0)
        return rc;
    if (mode == 1) {
        rc = mpx__obj_import_nested_body(rd, cur, &obj);
        if (!rc && !mpx__lock_of(obj)) {
            mpx__obj_drop_nested(obj);
            rc = MPX_EPROTO;
        }
        if (!rc)
            *out = obj;
        return rc;
    }
    if (mode != 2)
        return MPX_EPROTO;
    rc = mpx__rd_u8(rd, &rec);
    if (!rc)
        rc = mpx__rd_u64(rd, &off);
    if (!rc && (rec > 1 || !lockw_at(seg, off)))
        rc = MPX_EPROTO;
    if (!rc)
        rc = mpx__lock_new(out, rec != 0, seg, (size_t)off, NULL);
    return rc;
}

/* Generic acquire/release of either kind. */
int mpx__lk_acquire(struct mpx_lock *l, mpx_duration timeout)
{
    mpx__lockw *w = l->w;
    uint64_t me = self_token();
    if (!l->recursive)
        return lockw_acquire(w, me, timeout, true);
    uint32_t tid = self_tid();
    uint64_t v = atomic_load_explicit(&w->word, memory_order_relaxed);
    if ((v & ~LKBITS) == me && atomic_load_explicit(&w->tid, memory_order_relaxed) == tid) {
        uint32_t c = atomic_load_explicit(&w->count, memory_order_relaxed);
        if (c >= (uint32_t)INT_MAX)
            return -EOVERFLOW;
        atomic_store_explicit(&w->count, c + 1, memory_order_relaxed);
        return 0;
    }
    int r = lockw_acquire(w, me, timeout, true);
    if (r == 0 || r == MPX_EOWNERDEAD) {
        atomic_store_explicit(&w->tid, tid, memory_order_relaxed);
        atomic_store_explicit(&w->count, 1, memory_order_relaxed);
    }
    return r;
}

static bool rlock_mine(mpx__lockw *w)
{
    uint64_t v = atomic_load_explicit(&w->word, memory_order_relaxed);
    return v != 0 && (v & ~LKBITS) == self_token() &&
           atomic_load_explicit(&w->tid, memory_order_relaxed) == self_tid();
}

int mpx__lk_release(struct mpx_lock *l)
{
    mpx__lockw *w = l->w;
    if (!l->recursive)
        return lockw_release(w);
    if (!rlock_mine(w))
        return MPX_ESTATE;
    uint32_t c = atomic_load_explicit(&w->count, memory_order_relaxed);
    if (c > 1) {
        atomic_store_explicit(&w->count, c - 1, memory_order_relaxed);
        return 0;
    }
    atomic_store_explicit(&w->count, 0, memory_order_relaxed);
    atomic_store_explicit(&w->tid, 0, memory_order_relaxed);
    return lockw_release(w);
}

bool mpx__lk_is_mine(struct mpx_lock *l)
{
    if (l->recursive)
        return rlock_mine(l->w);
    uint64_t v = atomic_load_explicit(&l->w->word, memory_order_relaxed);
    return v != 0 && (v & ~LKBITS) == self_token();
}

/* Release every level (Condition.wait); *saved gets the level. */
static int lk_release_save(struct mpx_lock *l, uint32_t *saved)
{
    if (!l->recursive) {
        *saved = 1;
        return lockw_release(l->w);
    }
    if (!rlock_mine(l->w))
        return MPX_ESTATE;
    *saved = atomic_load_explicit(&l->w->count, memory_order_relaxed);
    atomic_store_explicit(&l->w->count, 0, memory_order_relaxed);
    atomic_store_explicit(&l->w->tid, 0, memory_order_relaxed);
    return lockw_release(l->w);
}

/*
 * Re-acquire at the saved level, without limit: 0 or MPX_EOWNERDEAD.
 * slept: the caller slept in the kernel and may have been requeued onto
 * the lock's futex by a notify (wait morphing). Like any thread woken from
 * the lock's futex, it must then take the lock with WAITERS set, or other
 * requeued sleepers would miss their wake-up at the next release.
 */
static int lk_acquire_restore(struct mpx_lock *l, uint32_t saved, bool slept)
{
    int r;
    uint64_t me = self_token() | (slept ? W64 : 0);
    do
        r = lockw_acquire(l->w, me, MPX_FOREVER, false);
    while (r != 0 && r != MPX_EOWNERDEAD);
    if (l->recursive) {
        atomic_store_explicit(&l->w->tid, self_tid(), memory_order_relaxed);
        atomic_store_explicit(&l->w->count, saved ? saved : 1, memory_order_relaxed);
    }
    return r;
}

int mpx__lk_describe(struct mpx_lock *l, mpx__buf *b)
{
    uint64_t v = atomic_load_explicit(&l->w->word, memory_order_relaxed);
    bool suspect = atomic_load_explicit(&l->w->flags, memory_order_relaxed) & MPX__LKF_SUSPECT;
    const char *died = suspect ? ", owner died" : "";
    if (!l->recursive) {
        const char *owner = v == 0                          ? "None"
                            : (v & ~LKBITS) == self_token()     ? mpx__process_name()
                                                             : "SomeOtherProcess";
        return mpx__buf_printf(b, "<Lock(owner=%s%s)>", owner, died);
    }
    uint32_t count = atomic_load_explicit(&l->w->count, memory_order_relaxed);
    if (v == 0)
        return mpx__buf_printf(b, "<RLock(None, 0)%s>", died);
    if ((v & ~LKBITS) == self_token()) {
        if (atomic_load_explicit(&l->w->tid, memory_order_relaxed) == self_tid())
            return mpx__buf_printf(b, "<RLock(%s, %u)%s>", mpx__process_name(), count, died);
        return mpx__buf_printf(b, "<RLock(SomeOtherThread, nonzero)%s>", died);
    }
    return mpx__buf_printf(b, "<RLock(SomeOtherProcess, nonzero)%s>", died);
}

static char *lk_describe_str(struct mpx_lock *l)
{
    mpx__buf b;
    mpx__buf_init(&b);
    int rc = mpx__lk_describe(l, &b);
    return mpx__buf_to_str(&b, rc);
}

/* Public Lock API. */

static int lock_create(struct mpx_lock **out, bool recursive, const mpx_sync_opts *opts)
{
    if (!out)
        return MPX_EINVAL;
    int rc = mpx__lock_new(out, recursive, NULL, 0, opts ? opts->ctx : NULL);
    if (!rc && opts && opts->interruptible)
        mpx__lockw_set_interruptible((*out)->w);
    return rc;
}

MPX_API int mpx_lock_create(mpx_lock **out, const mpx_sync_opts *opts)
{
    return lock_create((struct mpx_lock **)out, false, opts);
}

MPX_API void mpx_lock_destroy(mpx_lock *l)
{
    struct mpx_lock *x = lock_typed(l, false);
    if (x)
        mpx__lock_unref(x);
}

MPX_API int mpx_lock_acquire(mpx_lock *l, mpx_duration timeout)
{
    struct mpx_lock *x = (struct mpx_lock *)l;
    if (MPX__UNLIKELY(!x || x->hdr.magic != MPX__OBJ_MAGIC || x->hdr.type != &mpx__lock_type))
        return MPX_EINVAL;
    return yes_no(lockw_acquire(x->w, self_token(), timeout, true));
}

MPX_API int mpx_lock_release(mpx_lock *l)
{
    struct mpx_lock *x = (struct mpx_lock *)l;
    if (MPX__UNLIKELY(!x || x->hdr.magic != MPX__OBJ_MAGIC || x->hdr.type != &mpx__lock_type))
        return MPX_EINVAL;
    return lockw_release(x->w);
}

MPX_API int mpx_lock_locked(mpx_lock *l)
{
    struct mpx_lock *x = lock_typed(l, false);
    if (!x)
        return MPX_EINVAL;
    return atomic_load_explicit(&x->w->word, memory_order_relaxed) != 0;
}

MPX_API pid_t mpx_lock_owner(mpx_lock *l)
{
    struct mpx_lock *x = lock_typed(l, false);
    if (!x)
        return 0;
    return (pid_t)(atomic_load_explicit(&x->w->word, memory_order_relaxed) & MPX__LK_PIDMASK);
}

MPX_API int mpx_lock_suspect(mpx_lock *l)
{
    struct mpx_lock *x = lock_typed(l, false);
    if (!x)
        return MPX_EINVAL;
    return (atomic_load_explicit(&x->w->flags, memory_order_relaxed) & MPX__LKF_SUSPECT) != 0;
}

MPX_API int mpx_lock_consistent(mpx_lock *l)
{
    struct mpx_lock *x = lock_typed(l, false);
    if (!x)
        return MPX_EINVAL;
    atomic_fetch_and_explicit(&x->w->flags, ~MPX__LKF_SUSPECT, memory_order_relaxed);
    return 0;
}

MPX_API char *mpx_lock_describe(mpx_lock *l)
{
    struct mpx_lock *x = lock_typed(l, false);
    return x ? lk_describe_str(x) : NULL;
}

/* Public RLock API. */

MPX_API int mpx_rlock_create(mpx_rlock **out, const mpx_sync_opts *opts)
{
    return lock_create((struct mpx_lock **)out, true, opts);
}

MPX_API void mpx_rlock_destroy(mpx_rlock *l)
{
    struct mpx_lock *x = lock_typed(l, true);
    if (x)
        mpx__lock_unref(x);
}

MPX_API int mpx_rlock_acquire(mpx_rlock *l, mpx_duration timeout)
{
    struct mpx_lock *x = lock_typed(l, true);
    return x ? yes_no(mpx__lk_acquire(x, timeout)) : MPX_EINVAL;
}

MPX_API int mpx_rlock_release(mpx_rlock *l)
{
    struct mpx_lock *x = lock_typed(l, true);
    return x ? mpx__lk_release(x) : MPX_EINVAL;
}

MPX_API int mpx_rlock_count(mpx_rlock *l)
{
    struct mpx_lock *x = lock_typed(l, true);
    if (!x)
        return MPX_EINVAL;
    if (atomic_load_explicit(&x->w->word, memory_order_relaxed) == 0)
        return 0;
    return (int)atomic_load_explicit(&x->w->count, memory_order_relaxed);
}

MPX_API pid_t mpx_rlock_owner(mpx_rlock *l)
{
    struct mpx_lock *x = lock_typed(l, true);
    if (!x)
        return 0;
    return (pid_t)(atomic_load_explicit(&x->w->word, memory_order_relaxed) & MPX__LK_PIDMASK);
}

MPX_API int mpx_rlock_is_mine(mpx_rlock *l)
{
    struct mpx_lock *x = lock_typed(l, true);
    return x ? rlock_mine(x->w) : MPX_EINVAL;
}

MPX_API int mpx_rlock_suspect(mpx_rlock *l)
{
    struct mpx_lock *x = lock_typed(l, true);
    if (!x)
        return MPX_EINVAL;
    return (atomic_load_explicit(&x->w->flags, memory_order_relaxed) & MPX__LKF_SUSPECT) != 0;
}

MPX_API int mpx_rlock_consistent(mpx_rlock *l)
{
    struct mpx_lock *x = lock_typed(l, true);
    if (!x)
        return MPX_EINVAL;
    atomic_fetch_and_explicit(&x->w->flags, ~MPX__LKF_SUSPECT, memory_order_relaxed);
    return 0;
}

MPX_API char *mpx_rlock_describe(mpx_rlock *l)
{
    struct mpx_lock *x = lock_typed(l, true);
    return x ? lk_describe_str(x) : NULL;
}

/* ---- Semaphore --------------------------------------------------------------------- */

#define SEMW_MAGIC 0x73656d61u /* "sema" */

typedef struct mpx__semw {
    _Atomic uint32_t value;
    _Atomic uint32_t nwait;
    uint32_t max; /* 0: unbounded */
    uint32_t magic;
    uint32_t flags; /* MPX__LKF_INTR */
} mpx__semw;

struct mpx_semaphore {
    mpx__obj hdr;
    mpx__seg *seg;
    size_t off;
    mpx__semw *s;
};

static int sem_export(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    mpx_semaphore *s = obj;
    return mpx__seg_export_at(s->seg, s->off, data, fds);
}

static int sem_import(mpx__rd *rd, const int *fds, int nfds, void **out);
static void sem_drop(void *obj)
{
    mpx_semaphore_destroy(obj);
}

static mpx__objtype sem_type = {
    .name = "semaphore", .export_ = sem_export, .import_ = sem_import, .drop = sem_drop};

static int sem_wrap(mpx__seg *seg, size_t off, mpx_context *ctx, mpx_semaphore **out)
{
    mpx_semaphore *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->seg = seg;
    s->off = off;
    s->s = (mpx__semw *)(void *)((char *)seg->map.addr + off);
    mpx__obj_init(&s->hdr, &sem_type, ctx);
    *out = s;
    return 0;
}

static int sem_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    mpx__fdcur cur = {fds, nfds, 0};
    mpx__seg *seg;
    size_t off;
    int rc = mpx__seg_import_at(rd, &cur, sizeof(mpx__semw), &seg, &off);
    mpx__fdcur_close_rest(&cur);
    if (rc)
        return rc;
    mpx__semw *w = (mpx__semw *)(void *)((char *)seg->map.addr + off);
    if (w->magic != SEMW_MAGIC || (w->max & 0x7fffffffu) > MPX_SEM_VALUE_MAX) {
        mpx__seg_unref(seg);
        return MPX_EPROTO;
    }
    rc = sem_wrap(seg, off, NULL, (mpx_semaphore **)out);
    if (rc)
        mpx__seg_unref(seg);
    return rc;
}

static int sem_create(mpx_semaphore **out, unsigned value, unsigned max, const mpx_sync_opts *o)
{
    if (!out || value > MPX_SEM_VALUE_MAX)
        return MPX_EINVAL;
    mpx__seg *seg;
    size_t off;
    int rc = mpx__shalloc(sizeof(mpx__semw), "mpx-semaphore", &seg, &off);
    if (rc)
        return rc;
    mpx__semw *w = (mpx__semw *)(void *)((char *)seg->map.addr + off);
    atomic_init(&w->value, value);
    atomic_init(&w->nwait, 0);
    w->max = max;
    w->flags = o && o->interruptible ? MPX__LKF_INTR : 0;
    w->magic = SEMW_MAGIC;
    rc = sem_wrap(seg, off, o ? o->ctx : NULL, out);
    if (rc)
        mpx__seg_unref(seg);
    return rc;
}

MPX_API int mpx_semaphore_create(mpx_semaphore **out, unsigned value, const mpx_sync_opts *opts)
{
    return sem_create(out, value, 0, opts);
}

MPX_API int mpx_bounded_semaphore_create(mpx_semaphore **out, unsigned value,
                                         const mpx_sync_opts *opts)
{
    /* A bound of 0 would mean "unbounded": a BoundedSemaphore(0) can never
     * be released, so store it as a bound of 0 with a flag bit. */
    return sem_create(out, value, value | 0x80000000u, opts);
}

static mpx_semaphore *sem_of(void *p)
{
    mpx__obj *o = mpx__obj_of(p);
    return o && o->type == &sem_type ? p : NULL;
}

MPX_API void mpx_semaphore_destroy(mpx_semaphore *s)
{
    if (!sem_of(s))
        return;
    s->hdr.magic = 0;
    mpx__seg_unref(s->seg);
    free(s);
}

static inline bool sem_trydown(mpx__semw *w)
{
    uint32_t v = atomic_load_explicit(&w->value, memory_order_relaxed);
    while (v > 0)
        if (atomic_compare_exchange_weak_explicit(&w->value, &v, v - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    return false;
}

static int sem_wait_slow(mpx__semw *w, mpx_duration timeout, mpx__intr *in);

static int sem_acquire(mpx_semaphore *s, mpx_duration timeout)
{
    if (!sem_of(s))
        return MPX_EINVAL;
    mpx__semw *w = s->s;
    if (sem_trydown(w))
        return 0;
    if (timeout <= 0)
        return MPX_ETIMEDOUT;
    mpx__intr in;
    mpx__intr_init(&in, w->flags & MPX__LKF_INTR);
    mpx__intr_begin(&in);
    int rc = sem_wait_slow(w, timeout, &in);
    mpx__intr_done(&in); /* handlers of signals held back run now */
    return rc;
}

static int sem_wait_slow(mpx__semw *w, mpx_duration timeout, mpx__intr *in)
{
    int spins = mpx__sync_spin();
    for (int i = 0; i < spins; i++) {
        mpx__cpu_relax();
        if (atomic_load_explicit(&w->value, memory_order_relaxed) && sem_trydown(w))
            return 0;
    }
    mpx__deadline d = mpx__deadline_from(timeout);
    atomic_fetch_add_explicit(&w->nwait, 1, memory_order_seq_cst);
    int rc;
    for (;;) {
        if (sem_trydown(w)) {
            rc = 0;
            break;
        }
        rc = mpx__intr_futex_wait(in, &w->value, 0, d);
        if (rc == -EINTR)
            break;
        if (rc == MPX_ETIMEDOUT) {
            rc = sem_trydown(w) ? 0 : MPX_ETIMEDOUT;
            break;
        }
    }
    atomic_fetch_sub_explicit(&w->nwait, 1, memory_order_relaxed);
    return rc;
}

MPX_API int mpx_semaphore_acquire(mpx_semaphore *s, mpx_duration timeout)
{
    return yes_no(sem_acquire(s, timeout));
}

MPX_API int mpx_semaphore_release(mpx_semaphore *s)
{
    if (!sem_of(s))
        return MPX_EINVAL;
    mpx__semw *w = s->s;
    uint32_t max = w->max ? (w->max & 0x7fffffffu) : (uint32_t)MPX_SEM_VALUE_MAX;
    uint32_t v = atomic_load_explicit(&w->value, memory_order_relaxed);
    do {
        if (v >= max)
            return MPX_ESTATE;
    } while (!atomic_compare_exchange_weak_explicit(&w->value, &v, v + 1, memory_order_seq_cst,
                                                    memory_order_relaxed));
    if (atomic_load_explicit(&w->nwait, memory_order_seq_cst))
        mpx__futex_wake(&w->value, 1);
    return 0;
}

MPX_API int mpx_semaphore_get_value(mpx_semaphore *s)
{
    if (!sem_of(s))
        return MPX_EINVAL;
    return (int)atomic_load_explicit(&s->s->value, memory_order_relaxed);
}

MPX_API int mpx_semaphore_bound(mpx_semaphore *s)
{
    if (!sem_of(s))
        return MPX_EINVAL;
    return (int)(s->s->max & 0x7fffffffu);
}

MPX_API char *mpx_semaphore_describe(mpx_semaphore *s)
{
    if (!sem_of(s))
        return NULL;
    mpx__buf b;
    mpx__buf_init(&b);
    int rc;
    unsigned v = atomic_load_explicit(&s->s->value, memory_order_relaxed);
    if (s->s->max)
        rc = mpx__buf_printf(&b, "<BoundedSemaphore(value=%u, maxvalue=%u)>", v,
                             s->s->max & 0x7fffffffu);
    else
        rc = mpx__buf_printf(&b, "<Semaphore(value=%u)>", v);
    return mpx__buf_to_str(&b, rc);
}

/* ---- Condition ------------------------------------------------------------------------ */

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

/* lockw_release saw CONDWAKE: only a Condition's own default lock ever has
 * it set, so the condition words sit CONDW_LOCK_OFF bytes before. */
static void condw_deferred_wake(mpx__lockw *w)
{
    mpx__condw *cw = (mpx__condw *)(void *)((char *)w - CONDW_LOCK_OFF);
    uint32_t n = atomic_exchange_explicit(&cw->defer, 0, memory_order_seq_cst);
    if (n)
        mpx__futex_wake(&cw->fword, n > INT32_MAX ? INT32_MAX : (int)n);
}

struct mpx_condition {
    mpx__obj hdr;
    mpx__seg *seg;
    size_t off;
    mpx__condw *c;
    struct mpx_lock *lock;
};

static int cond_export(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    mpx_condition *c = obj;
    int rc = mpx__seg_export_at(c->seg, c->off, data, fds);
    if (!rc)
        rc = mpx__lock_export_ref(c->lock, c->seg, data, fds);
    return rc;
}

static int cond_import(mpx__rd *rd, const int *fds, int nfds, void **out);

static void cond_drop(void *obj)
{
    mpx_condition_destroy(obj);
}

static mpx__objtype cond_type = {
    .name = "condition", .export_ = cond_export, .import_ = cond_import, .drop = cond_drop};

static mpx_condition *cond_of(void *p)
{
    mpx__obj *o = mpx__obj_of(p);
    return o && o->type == &cond_type ? p : NULL;
}

static int cond_wrap(mpx__seg *seg, size_t off, struct mpx_lock *lock, mpx_context *ctx,
                     mpx_condition **out)
{
    mpx_condition *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->seg = seg;
    c->off = off;
    c->c = (mpx__condw *)(void *)((char *)seg->map.addr + off);
    c->lock = lock;
    mpx__obj_init(&c->hdr, &cond_type, ctx);
    *out = c;
    return 0;
}

static int cond_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    mpx__fdcur cur = {fds, nfds, 0};
    mpx__seg *seg = NULL;
    size_t off = 0;
    struct mpx_lock *lock = NULL;
    int rc = mpx__seg_import_at(rd, &cur, sizeof(mpx__condw), &seg, &off);
    if (!rc && ((mpx__condw *)(void *)((char *)seg->map.addr + off))->magic != CONDW_MAGIC)
        rc = MPX_EPROTO;
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
    c->hdr.magic = 0;
    mpx__lock_unref(c->lock);
    mpx__seg_unref(c->seg);
    free(c);
}

MPX_API void *mpx_condition_lock(mpx_condition *c)
{
    return cond_of(c) ? c->lock : NULL;
}

MPX_API int mpx_condition_acquire(mpx_condition *c, mpx_duration timeout)
{
    return cond_of(c) ? yes_no(mpx__lk_acquire(c->lock, timeout)) : MPX_EINVAL;
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
    int rc = lk_release_save(l, &saved);
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
                if (v && !owner_alive(v)) {
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
        int ar = lk_acquire_restore(l, saved, slept);
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
        rc = lk_release_save(l, &saved);
        if (rc) /* cannot happen: we hold it */
            return rc;
    }
}

MPX_API int mpx_condition_wait(mpx_condition *c, mpx_duration timeout)
{
    return yes_no(cond_wait(c, timeout));
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
        while (v && !(v & CW64) &&
               !atomic_compare_exchange_weak_explicit(lw, &v, v | CW64, memory_order_seq_cst,
                                                      memory_order_relaxed))
            ;
        if (v)
            return 0;
        /* Released under us (a Lock may be released by anyone): wake now. */
        condw_deferred_wake(c->lock->w);
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
    while (v && !(v & W64) &&
           !atomic_compare_exchange_weak_explicit(lw, &v, v | W64, memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
    if (v) {
        /* Before the requeue: a waiter that reads morphs unchanged after
         * its wake-up was not requeued (see mpx_condition_wait). */
        atomic_fetch_add_explicit(&cw->morphs, 1, memory_order_seq_cst);
        long r = syscall(SYS_futex, (uint32_t *)&cw->fword, 4 /* FUTEX_CMP_REQUEUE */, 0,
                         (void *)(long)nk, (uint32_t *)futex_half(lw), nf);
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

/* ---- Event ----------------------------------------------------------------------------- */

#define EVW_MAGIC 0x65766e74u /* "evnt" */

/* word: bit 0 the flag, bits 1..31 a count of set() calls that changed it,
 * so a waiter woken by set() succeeds even if clear() follows at once. */
typedef struct mpx__evw {
    _Atomic uint32_t word;
    _Atomic uint32_t nwait;
    uint32_t magic;
    uint32_t flags; /* MPX__LKF_INTR */
} mpx__evw;

struct mpx_event {
    mpx__obj hdr;
    mpx__seg *seg;
    size_t off;
    mpx__evw *e;
};

static int ev_export(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    mpx_event *e = obj;
    return mpx__seg_export_at(e->seg, e->off, data, fds);
}
static int ev_import(mpx__rd *rd, const int *fds, int nfds, void **out);
static void ev_drop(void *obj)
{
    mpx_event_destroy(obj);
}
static mpx__objtype ev_type = {
    .name = "event", .export_ = ev_export, .import_ = ev_import, .drop = ev_drop};

static mpx_event *ev_of(void *p)
{
    mpx__obj *o = mpx__obj_of(p);
    return o && o->type == &ev_type ? p : NULL;
}

static int ev_wrap(mpx__seg *seg, size_t off, mpx_context *ctx, mpx_event **out)
{
    mpx_event *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->seg = seg;
    e->off = off;
    e->e = (mpx__evw *)(void *)((char *)seg->map.addr + off);
    mpx__obj_init(&e->hdr, &ev_type, ctx);
    *out = e;
    return 0;
}

static int ev_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    mpx__fdcur cur = {fds, nfds, 0};
    mpx__seg *seg;
    size_t off;
    int rc = mpx__seg_import_at(rd, &cur, sizeof(mpx__evw), &seg, &off);
    mpx__fdcur_close_rest(&cur);
    if (rc)
        return rc;
    if (((mpx__evw *)(void *)((char *)seg->map.addr + off))->magic != EVW_MAGIC)
        rc = MPX_EPROTO;
    if (!rc)
        rc = ev_wrap(seg, off, NULL, (mpx_event **)out);
    if (rc)
        mpx__seg_unref(seg);
    return rc;
}

MPX_API int mpx_event_create(mpx_event **out, const mpx_sync_opts *opts)
{
    if (!out)
        return MPX_EINVAL;
    mpx__seg *seg;
    size_t off;
    int rc = mpx__shalloc(sizeof(mpx__evw), "mpx-event", &seg, &off);
    if (rc)
        return rc;
    mpx__evw *e = (mpx__evw *)(void *)((char *)seg->map.addr + off);
    atomic_init(&e->word, 0);
    atomic_init(&e->nwait, 0);
    e->flags = opts && opts->interruptible ? MPX__LKF_INTR : 0;
    e->magic = EVW_MAGIC;
    rc = ev_wrap(seg, off, opts ? opts->ctx : NULL, out);
    if (rc)
        mpx__seg_unref(seg);
    return rc;
}

MPX_API void mpx_event_destroy(mpx_event *e)
{
    if (!ev_of(e))
        return;
    e->hdr.magic = 0;
    mpx__seg_unref(e->seg);
    free(e);
}

MPX_API int mpx_event_set(mpx_event *e)
{
    if (!ev_of(e))
        return MPX_EINVAL;
    mpx__evw *w = e->e;
    uint32_t v = atomic_load_explicit(&w->word, memory_order_relaxed);
    do {
        if (v & 1)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&w->word, &v, (v + 2) | 1,
                                                    memory_order_seq_cst, memory_order_relaxed));
    if (atomic_load_explicit(&w->nwait, memory_order_seq_cst))
        mpx__futex_wake(&w->word, INT32_MAX);
    return 0;
}

MPX_API int mpx_event_clear(mpx_event *e)
{
    if (!ev_of(e))
        return MPX_EINVAL;
    atomic_fetch_and_explicit(&e->e->word, ~1u, memory_order_seq_cst);
    return 0;
}

MPX_API int mpx_event_is_set(mpx_event *e)
{
    if (!ev_of(e))
        return MPX_EINVAL;
    return (int)(atomic_load_explicit(&e->e->word, memory_order_acquire) & 1);
}

static int ev_wait_slow(mpx__evw *w, uint32_t v0, mpx_duration timeout, mpx__intr *in);

static int ev_wait(mpx_event *e, mpx_duration timeout)
{
    if (!ev_of(e))
        return MPX_EINVAL;
    mpx__evw *w = e->e;
    uint32_t v0 = atomic_load_explicit(&w->word, memory_order_acquire);
    if (v0 & 1)
        return 0;
    if (timeout <= 0)
        return MPX_ETIMEDOUT;
    mpx__intr in;
    mpx__intr_init(&in, w->flags & MPX__LKF_INTR);
    mpx__intr_begin(&in);
    int rc = ev_wait_slow(w, v0, timeout, &in);
    mpx__intr_done(&in); /* handlers of signals held back run now */
    return rc;
}

static int ev_wait_slow(mpx__evw *w, uint32_t v0, mpx_duration timeout, mpx__intr *in)
{
#define EV_DONE(v) (((v) & 1) || ((v) >> 1) != (v0 >> 1))
    int spins = mpx__sync_spin();
    for (int i = 0; i < spins; i++) {
        mpx__cpu_relax();
        uint32_t v = atomic_load_explicit(&w->word, memory_order_acquire);
        if (EV_DONE(v))
            return 0;
    }
    mpx__deadline d = mpx__deadline_from(timeout);
    atomic_fetch_add_explicit(&w->nwait, 1, memory_order_seq_cst);
    int rc;
    for (;;) {
        uint32_t v = atomic_load_explicit(&w->word, memory_order_seq_cst);
        if (EV_DONE(v)) {
            rc = 0;
            break;
        }
        rc = mpx__intr_futex_wait(in, &w->word, v, d);
        if (rc == -EINTR)
            break;
        if (rc == MPX_ETIMEDOUT) {
            v = atomic_load_explicit(&w->word, memory_order_acquire);
            rc = EV_DONE(v) ? 0 : MPX_ETIMEDOUT;
            break;
        }
    }
#undef EV_DONE
    atomic_fetch_sub_explicit(&w->nwait, 1, memory_order_relaxed);
    return rc;
}

MPX_API int mpx_event_wait(mpx_event *e, mpx_duration timeout)
{
    return yes_no(ev_wait(e, timeout));
}

MPX_API char *mpx_event_describe(mpx_event *e)
{
    if (!ev_of(e))
        return NULL;
    mpx__buf b;
    mpx__buf_init(&b);
    int rc = mpx__buf_printf(&b, "<Event(%s)>", mpx_event_is_set(e) ? "set" : "unset");
    return mpx__buf_to_str(&b, rc);
}

/* ---- Barrier ------------------------------------------------------------------------------ */

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
    mpx__obj hdr;
    mpx__seg *seg;
    size_t off;
    mpx__barw *b;
    mpx_barrier_action_fn action;
};

static int bar_export(void *obj, mpx__buf *data, mpx__fdlist *fds);
static int bar_import(mpx__rd *rd, const int *fds, int nfds, void **out);
static void bar_drop(void *obj)
{
    mpx_barrier_destroy(obj);
}
static mpx__objtype bar_type = {
    .name = "barrier", .export_ = bar_export, .import_ = bar_import, .drop = bar_drop};

#include "core/context_internal.h"
#include "core/fnref.h"

static int bar_export(void *obj, mpx__buf *data, mpx__fdlist *fds)
{
    mpx_barrier *b = obj;
    int rc = mpx__seg_export_at(b->seg, b->off, data, fds);
    if (!rc)
        /* export runs only for children that do not share our memory
         * (spawn, forkserver): encode module + offset, not a pointer */
        rc = mpx__fnref_encode(mpx__context_by_method(MPX__SPAWN), (mpx__fnptr)b->action, data);
    return rc;
}

static mpx_barrier *bar_of(void *p)
{
    mpx__obj *o = mpx__obj_of(p);
    return o && o->type == &bar_type ? p : NULL;
}

static int bar_wrap(mpx__seg *seg, size_t off, mpx_barrier_action_fn action, mpx_context *ctx,
                    mpx_barrier **out)
{
    mpx_barrier *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->seg = seg;
    b->off = off;
    b->b = (mpx__barw *)(void *)((char *)seg->map.addr + off);
    b->action = action;
    mpx__obj_init(&b->hdr, &bar_type, ctx);
    *out = b;
    return 0;
}

static int bar_import(mpx__rd *rd, const int *fds, int nfds, void **out)
{
    mpx__fdcur cur = {fds, nfds, 0};
    mpx__seg *seg;
    size_t off;
    int rc = mpx__seg_import_at(rd, &cur, sizeof(mpx__barw), &seg, &off);
    mpx__fdcur_close_rest(&cur);
    if (rc)
        return rc;
    mpx__fnptr fn = NULL;
    rc = mpx__fnref_decode(rd, &fn);
    mpx__barw *w = (mpx__barw *)(void *)((char *)seg->map.addr + off);
    if (!rc && (w->magic != BARW_MAGIC || w->parties == 0 || w->parties > BAR_MAX_PARTIES ||
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
    if (!bar_of(b))
        return;
    b->hdr.magic = 0;
    mpx__seg_unref(b->seg);
    free(b);
}

/* Take the internal lock; 1 when a holder died (state suspect). */
static int bar_lock(mpx__barw *w)
{
    int r;
    do
        r = lockw_acquire(&w->lk, self_token(), MPX_FOREVER, false);
    while (r != 0 && r != MPX_EOWNERDEAD);
    return r == MPX_EOWNERDEAD;
}

static void bar_unlock(mpx__barw *w)
{
    lockw_release(&w->lk);
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
        if (!owner_alive(atomic_load_explicit(&w->slots[i], memory_order_relaxed)))
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
    atomic_store_explicit(&w->slots[idx], self_token(), memory_order_relaxed);
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
    mpx__buf buf;
    mpx__buf_init(&buf);
    int rc = mpx__buf_printf(&buf, "<Barrier(parties=%d, n_waiting=%d, broken=%s)>",
                             mpx_barrier_parties(b), mpx_barrier_n_waiting(b),
                             mpx_barrier_broken(b) ? "True" : "False");
    return mpx__buf_to_str(&buf, rc);
}

/* ---- generic dispatch ------------------------------------------------------------------- */

MPX_API int mpx_sync_acquire(void *lock, mpx_duration timeout)
{
    struct mpx_lock *l = mpx__lock_of(lock);
    if (l)
        return yes_no(mpx__lk_acquire(l, timeout));
    if (sem_of(lock))
        return mpx_semaphore_acquire(lock, timeout);
    if (cond_of(lock))
        return mpx_condition_acquire(lock, timeout);
    bool shared;
    if ((l = mpx__shared_lock_of(lock, &shared)))
        return yes_no(mpx__lk_acquire(l, timeout));
    return shared ? MPX_ESTATE : MPX_EINVAL;
}

MPX_API int mpx_sync_release(void *lock)
{
    struct mpx_lock *l = mpx__lock_of(lock);
    if (l)
        return mpx__lk_release(l);
    if (sem_of(lock))
        return mpx_semaphore_release(lock);
    if (cond_of(lock))
        return mpx_condition_release(lock);
    bool shared;
    if ((l = mpx__shared_lock_of(lock, &shared)))
        return mpx__lk_release(l);
    return shared ? MPX_ESTATE : MPX_EINVAL;
}

MPX_API char *mpx_sync_describe(void *obj)
{
    struct mpx_lock *l = mpx__lock_of(obj);
    if (l)
        return lk_describe_str(l);
    if (sem_of(obj))
        return mpx_semaphore_describe(obj);
    if (cond_of(obj))
        return mpx_condition_describe(obj);
    if (ev_of(obj))
        return mpx_event_describe(obj);
    if (bar_of(obj))
        return mpx_barrier_describe(obj);
    return NULL;
}

__attribute__((constructor)) static void sync_register(void)
{
    mpx__objtype_register(&mpx__lock_type);
    mpx__objtype_register(&mpx__rlock_type);
    mpx__objtype_register(&sem_type);
    mpx__objtype_register(&cond_type);
    mpx__objtype_register(&ev_type);
    mpx__objtype_register(&bar_type);
}
