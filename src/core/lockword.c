/*
 * core/lockword.c - owner tokens, the one owner-death check, and the slow
 * path of the futex lock word (core/lockword.h; docs/sync.md "Owner death").
 * Used by every sync primitive (sync_*.c) and by the queue's locks.
 */
#include "core/lockword.h"
#include "core/tuning.h"
#include "os/intr.h"
#include "os/proc.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- identity of the calling process and thread ------------------------ */

_Atomic pid_t mpx__tok_pid;
_Atomic uint64_t mpx__tok_val;

__attribute__((noinline)) uint64_t mpx__self_token_refresh(pid_t pid)
{
    char st;
    uint64_t start = 0;
    if (mpx__proc_stat(pid, &st, &start) != 0)
        start = 0;
    uint64_t t = ((uint64_t)(uint32_t)start << 32) | ((uint32_t)pid & MPX__LK_PIDMASK);
    atomic_store_explicit(&mpx__tok_val, t, memory_order_relaxed);
    atomic_store_explicit(&mpx__tok_pid, pid, memory_order_release);
    return t;
}

__thread __attribute__((tls_model("initial-exec"))) pid_t mpx__tl_tid, mpx__tl_tid_pid;

__attribute__((noinline)) uint32_t mpx__self_tid_refresh(void)
{
    mpx__tl_tid = (pid_t)syscall(SYS_gettid);
    mpx__tl_tid_pid = mpx__self_pid;
    return (uint32_t)mpx__tl_tid;
}

bool mpx__owner_alive(uint64_t token)
{
    token &= ~MPX__LK_FLAGBITS;
    pid_t pid = (pid_t)(token & MPX__LK_PIDMASK);
    uint32_t st = (uint32_t)(token >> 32);
    if (!pid)
        return true;
    if (pid == mpx__self_pid) {
        uint64_t me = mpx__self_token();
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
    if (mpx__proc_state_ended(state))
        return false;
    if (st && (uint32_t)start != st)
        return false;
    return true;
}

/* ---- lock words ----------------------------------------------------------- */

void mpx__lockw_init(mpx__lockw *w)
{
    atomic_init(&w->word, 0);
    atomic_init(&w->tid, 0);
    atomic_init(&w->count, 0);
    atomic_init(&w->flags, 0);
    w->magic = MPX__LOCKW_MAGIC;
}

/* 1: lost the race (retry); MPX_EOWNERDEAD: taken over. */
static int lockw_takeover(mpx__lockw *w, uint64_t seen, uint64_t me)
{
    if (!mpx__cas64(&w->word, seen, me | MPX__LK_W64 | (seen & MPX__LK_CW64)))
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
        if (v == 0 && mpx__cas64(&w->word, 0, me))
            return lockw_done(w, 0);
    }
    if (nowait) {
        for (;;) {
            uint64_t v = atomic_load_explicit(&w->word, memory_order_relaxed);
            if (v == 0) {
                if (mpx__cas64(&w->word, 0, me))
                    return 0;
                continue;
            }
            if (mpx__owner_alive(v))
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
            if (mpx__cas64(&w->word, 0, me | MPX__LK_W64))
                return lockw_done(w, 0);
            continue;
        }
        if (!(v & MPX__LK_W64)) {
            if (!mpx__cas64(&w->word, v, v | MPX__LK_W64))
                continue;
            v |= MPX__LK_W64;
        }
        mpx__deadline until = d;
        if (check != INT64_MAX) {
            int64_t t = mpx__now_ns() + check;
            if (t < until)
                until = t;
        }
        int r = mpx__intr_futex_wait(in, mpx__lk_futex_half(&w->word), (uint32_t)v, until);
        if (r == -EINTR)
            return -EINTR;
        if (r == MPX_ETIMEDOUT) {
            uint64_t v2 = atomic_load_explicit(&w->word, memory_order_relaxed);
            if (v2 != 0 && !mpx__owner_alive(v2)) {
                r = lockw_takeover(w, v2, me);
                if (r <= 0)
                    return r;
                continue;
            }
            if (mpx__deadline_expired(d)) {
                if (v2 == 0 && mpx__cas64(&w->word, 0, me | MPX__LK_W64))
                    return 0;
                return MPX_ETIMEDOUT;
            }
        }
    }
}

__attribute__((noinline)) int mpx__lockw_slow(mpx__lockw *w, uint64_t me, mpx_duration timeout,
                                             bool intr_ok)
{
    mpx__intr in;
    mpx__intr_init(&in, intr_ok && (atomic_load_explicit(&w->flags, memory_order_relaxed) &
                                    MPX__LKF_INTR));
    int r = lockw_slow_wait(w, me, timeout, &in);
    mpx__intr_done(&in); /* handlers of signals held back run now */
    return r;
}

void mpx__lockw_set_interruptible(mpx__lockw *w)
{
    atomic_fetch_or_explicit(&w->flags, MPX__LKF_INTR, memory_order_relaxed);
}
