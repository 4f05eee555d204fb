/*
 * core/lockword.h - the shared lock-word code of the sync primitives and
 * the queue: who the caller is (owner tokens), the one owner-death check,
 * and the futex lock word of Lock / RLock / the Barrier's internal lock
 * (fast paths inline here, slow path in lockword.c). docs/sync.md
 * ("Owner death") describes the word and the check.
 */
#ifndef MPX_CORE_LOCKWORD_H
#define MPX_CORE_LOCKWORD_H

#include "core/internal.h"
#include "os/futex.h"

#include <stdatomic.h>

/* ---- owner tokens ---------------------------------------------------------- */

/*
 * A token names a process for as long as it lives, immune to pid reuse:
 *   bits 0..29   pid
 *   bits 30..31  free for the word that holds it (lock flag bits)
 *   bits 32..63  low 32 bits of the process's start time (/proc/<pid>/stat
 *                field 22, os/proc.h); 0 when it could not be read
 * Lock words (sync and queue) and barrier slots hold tokens.
 */
#define MPX__LK_PIDMASK 0x3fffffffu
#define MPX__LK_WAITERS 0x80000000u
#define MPX__LK_CONDWAKE 0x40000000u /* a Condition wake waits for this release */
#define MPX__LK_W64 ((uint64_t)MPX__LK_WAITERS)
#define MPX__LK_CW64 ((uint64_t)MPX__LK_CONDWAKE)
#define MPX__LK_FLAGBITS (MPX__LK_W64 | MPX__LK_CW64) /* not part of the owner */

/* The token cache of this process (lockword.c); refreshed after a fork. */
extern MPX__HIDDEN _Atomic pid_t mpx__tok_pid;
extern MPX__HIDDEN _Atomic uint64_t mpx__tok_val;
uint64_t mpx__self_token_refresh(pid_t pid);

/* This process's token: what a lock word holds while we own it. */
static inline uint64_t mpx__self_token(void)
{
    pid_t pid = mpx__self_pid;
    if (MPX__LIKELY(atomic_load_explicit(&mpx__tok_pid, memory_order_acquire) == pid && pid))
        return atomic_load_explicit(&mpx__tok_val, memory_order_relaxed);
    if (!pid) {
        mpx__global_init();
        pid = mpx__self_pid;
    }
    return mpx__self_token_refresh(pid);
}

/* The calling thread's kernel tid (cached per thread, refreshed after fork). */
extern __thread __attribute__((tls_model("initial-exec"))) pid_t mpx__tl_tid, mpx__tl_tid_pid;
uint32_t mpx__self_tid_refresh(void);

static inline uint32_t mpx__self_tid(void)
{
    if (MPX__UNLIKELY(mpx__tl_tid_pid != mpx__self_pid || !mpx__tl_tid))
        return mpx__self_tid_refresh();
    return (uint32_t)mpx__tl_tid;
}

/*
 * THE owner-death check (locks, conditions, barriers, queues): is the
 * process named by token (flag bits ignored) alive? Dead: no such process,
 * a zombie, or another process with the same pid (the start time differs:
 * the pid was reused). Errors reading /proc count as alive; a token
 * without a start time is judged by its pid alone.
 */
bool mpx__owner_alive(uint64_t token);

/* ---- the lock word ---------------------------------------------------------- */

#define MPX__LKF_SUSPECT 1u
#define MPX__LKF_INTR 2u /* interruptible (mpx_sync_opts.interruptible; set at creation) */
#define MPX__LOCKW_MAGIC 0x6c6f636bu /* "lock" */

/*
 * The shared state of a Lock or RLock (docs/sync.md):
 *   word  an owner token (0: unlocked) with, in bits 30..31:
 *         bit  30     CONDWAKE: the release must wake the sleepers of the
 *                     Condition whose block holds this lock (notify
 *                     deferred its wake to the release; docs/sync.md)
 *         bit  31     waiters may be sleeping
 *   The futex is the low 32-bit half of word.
 *   tid, count: RLock owner thread and recursion level (owner-written).
 */
typedef struct mpx__lockw {
    _Atomic uint64_t word;
    _Atomic uint32_t tid;
    _Atomic uint32_t count;
    _Atomic uint32_t flags;
    uint32_t magic;
} mpx__lockw;

/* The futex half (low 32 bits) of a 64-bit lock word. */
static inline _Atomic uint32_t *mpx__lk_futex_half(_Atomic uint64_t *w)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (_Atomic uint32_t *)(void *)w;
#else
    return (_Atomic uint32_t *)(void *)((char *)w + 4);
#endif
}

static inline bool mpx__cas64(_Atomic uint64_t *p, uint64_t expect, uint64_t v)
{
    return atomic_compare_exchange_strong_explicit(p, &expect, v, memory_order_acquire,
                                                   memory_order_relaxed);
}

void mpx__lockw_init(mpx__lockw *w);
/* Make the lock at w interruptible (before it is shared). */
void mpx__lockw_set_interruptible(mpx__lockw *w);

/* The contended path of mpx__lockw_acquire (spin, sleep, owner checks,
 * takeover). intr_ok: the caller may be interrupted (public acquires);
 * internal acquisitions that must succeed (re-acquire after a Condition
 * wait, the Barrier's own lock) pass false. */
int mpx__lockw_slow(mpx__lockw *w, uint64_t me, mpx_duration timeout, bool intr_ok);

/* Acquire as me (a token, maybe with WAITERS): 0, MPX_ETIMEDOUT,
 * MPX_EOWNERDEAD (taken over from a dead owner), -EINTR. */
static inline int mpx__lockw_acquire(mpx__lockw *w, uint64_t me, mpx_duration timeout,
                                     bool intr_ok)
{
    if (MPX__LIKELY(mpx__cas64(&w->word, 0, me)))
        return 0;
    return mpx__lockw_slow(w, me, timeout, intr_ok);
}

/* sync_condition.c: the release of a Condition's own lock saw CONDWAKE. */
void mpx__condw_deferred_wake(mpx__lockw *w);

/* 0, or MPX_ESTATE when the word was not locked. */
static inline int mpx__lockw_release(mpx__lockw *w)
{
    uint64_t old = atomic_exchange_explicit(&w->word, 0, memory_order_release);
    if (MPX__UNLIKELY(old == 0))
        return MPX_ESTATE;
    if (MPX__UNLIKELY(old & MPX__LK_FLAGBITS)) {
        if (old & MPX__LK_CW64)
            mpx__condw_deferred_wake(w);
        if (old & MPX__LK_W64)
            mpx__futex_wake(mpx__lk_futex_half(&w->word), 1);
    }
    return 0;
}

#endif /* MPX_CORE_LOCKWORD_H */
