/*
 * os/intr.h - futex sleeps that a signal handler interrupts every time
 * (interruptible sync objects, #12 item 4; docs/sync.md, "Signals").
 *
 * The problem: a plain FUTEX_WAIT returns -EINTR only when the signal
 * arrives while the thread sleeps in it. A handler that runs while the
 * thread is in user space between two sleeps, or on the way out of a
 * sleep that already ended (a time slice ran out, a wake-up that lost the
 * race), leaves no trace, and the wait goes back to sleep: to its
 * deadline, forever with MPX_FOREVER.
 *
 * The design: an interruptible wait blocks the asynchronous signals for
 * its whole duration (the first time it is about to sleep), so no handler
 * can run in the gaps; a signal that arrives stays pending and is seen by
 * sigpending() before the next sleep. Each sleep unblocks the caller's
 * signals atomically with going to sleep and blocks them again atomically
 * on the way out (the pselect/ppoll rule: a handler runs only if the sleep
 * returns -EINTR). Linux offers that atomic mask swap for futexes through
 * io_uring (IORING_OP_FUTEX_WAIT, Linux 6.7, waited for with
 * io_uring_enter and its sigmask argument); the ring is made for one wait
 * and closed at its end. When the wait ends, the caller's mask comes back
 * and the handlers of pending signals run then. A signal whose handler
 * runs decides the wait: it returns -EINTR, unless it had already
 * succeeded (then the handler runs just after it).
 *
 * Without io_uring futexes (older kernels, io_uring disabled or filtered)
 * each sleep unblocks the signals with sigprocmask and sleeps with a plain
 * futex: a signal that arrives in the few instructions between the
 * unblock and the sleep, or while a sleep that already ended returns,
 * runs its handler without ending the wait (mpx__intr_exact() tells).
 *
 * No handler is installed and nothing is process-wide: only the waiting
 * thread's mask changes, only during an interruptible wait.
 */
#ifndef MPX_OS_INTR_H
#define MPX_OS_INTR_H

#include "os/futex.h"

#include <signal.h>

typedef struct mpx__intr {
    bool on;      /* the object is interruptible */
    bool blocked; /* signals blocked by us; old holds the caller's mask */
    sigset_t old;
    struct mpx__ring *ring; /* NULL until the first sleep, or unsupported */
} mpx__intr;

/* Start a wait (no system call). */
static inline void mpx__intr_init(mpx__intr *w, bool on)
{
    w->on = on;
    w->blocked = false;
    w->ring = NULL;
}

/* Hold the signals back from now on (interruptible waits only): called
 * where the wait's slow path begins, so a handler cannot run unseen while
 * it spins. mpx__intr_futex_wait does it too. */
void mpx__intr_begin(mpx__intr *w);

/*
 * Sleep while *word == val, until `until` (MPX__NEVER: no limit). Returns
 * 0 (woken, or the value differed: re-check), MPX_ETIMEDOUT, or -EINTR:
 * only for an interruptible wait, when a signal handler ran or will run
 * when the wait ends. A non-interruptible wait retries EINTR itself (0).
 */
int mpx__intr_futex_wait(mpx__intr *w, _Atomic uint32_t *word, uint32_t val,
                         mpx__deadline until);

/* End the wait: the caller's signal mask comes back (pending handlers run
 * now), the ring is closed. Safe to call when nothing was started. */
void mpx__intr_done(mpx__intr *w);

/* 1 when interruptible sleeps use the exact (io_uring) form here, 0 when
 * they fall back to sigprocmask + futex. */
int mpx__intr_exact(void);

#endif /* MPX_OS_INTR_H */
