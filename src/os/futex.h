/*
 * os/futex.h - futex wait/wake on 32-bit words in shared memory.
 *
 * Words live in MAP_SHARED mappings, so the non-PRIVATE futex ops are used.
 * mpx__futex_wait returns 0 when woken (or the value already differed:
 * the caller re-checks either way), MPX_ETIMEDOUT when the deadline passed,
 * -EINTR when a signal handler ran (callers retry against their deadline).
 */
#ifndef MPX_OS_FUTEX_H
#define MPX_OS_FUTEX_H

#include "core/internal.h"

/* Not <linux/futex.h>: with -Isrc that name resolves to this file. */
#ifndef FUTEX_WAKE
#define FUTEX_WAKE 1
#endif
#ifndef FUTEX_CMP_REQUEUE
#define FUTEX_CMP_REQUEUE 4
#endif
#ifndef FUTEX_WAIT_BITSET
#define FUTEX_WAIT_BITSET 9
#endif
#ifndef FUTEX_BITSET_MATCH_ANY
#define FUTEX_BITSET_MATCH_ANY 0xffffffff
#endif
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int mpx__futex_wait(_Atomic uint32_t *word, uint32_t expected, mpx__deadline d)
{
    struct timespec ts, *tp = NULL;
    if (d != MPX__NEVER) {
        /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time. */
        ts.tv_sec = d / 1000000000;
        ts.tv_nsec = d % 1000000000;
        tp = &ts;
    }
    long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, expected, tp, NULL,
                     FUTEX_BITSET_MATCH_ANY);
    if (r == 0)
        return 0;
    if (errno == EAGAIN)
        return 0;
    if (errno == ETIMEDOUT)
        return MPX_ETIMEDOUT;
    return -errno;
}

/* Wake up to n waiters (INT32_MAX: all). Returns how many were woken. */
static inline int mpx__futex_wake(_Atomic uint32_t *word, int n)
{
    long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
    return r < 0 ? 0 : (int)r;
}

/* Wake up to nwake waiters of word and move up to nmove of the others to
 * wait on target (FUTEX_CMP_REQUEUE), if word still holds expected.
 * Returns the number woken plus moved, or -errno (EAGAIN: word changed;
 * the caller falls back to a plain wake). */
static inline long mpx__futex_cmp_requeue(_Atomic uint32_t *word, int nwake, int nmove,
                                          _Atomic uint32_t *target, uint32_t expected)
{
    long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_CMP_REQUEUE, nwake, (void *)(long)nmove,
                     (uint32_t *)target, expected);
    return r < 0 ? -errno : r;
}

static inline void mpx__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif /* MPX_OS_FUTEX_H */
