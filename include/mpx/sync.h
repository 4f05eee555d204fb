/*
 * mpx/sync.h - process-shared synchronization primitives (Python:
 * multiprocessing.Lock, RLock, Semaphore, BoundedSemaphore, Condition,
 * Event, Barrier; seed items SYNC-01..21).
 *
 * Every primitive lives in a memfd-backed shared mapping: it works between
 * threads and between processes started with fork, spawn or forkserver
 * (pass it with mpx_args_add_object), and its memory disappears when the
 * last process using it has gone (nothing is left in /dev/shm).
 * The state is a futex word in that mapping (docs/sync.md).
 *
 * Timeouts: every blocking call takes an mpx_duration (common.h).
 * MPX_FOREVER waits without limit (Python's timeout=None); 0 and every
 * negative value, MPX_NOWAIT included, never block (Python's block=False,
 * and a negative timeout, SYNC-04).
 *
 * Answers (docs/design.md, "Porting contract"): a call that Python answers
 * with True/False returns 1 (True) or 0 (False: the timeout ended first,
 * or MPX_NOWAIT found the lock taken), and a negative code on error, so
 * `if (mpx_lock_acquire(l, t) == 1)` reads as `if l.acquire(timeout=t):`.
 * An acquire that takes over a lock whose holder died returns
 * MPX_EOWNERDEAD with the lock held: `rc == 1 || rc == MPX_EOWNERDEAD`
 * means "acquired".
 *
 * Owner death (SYNC-20, an extension): when a process dies (SIGKILL
 * included) while it holds a Lock or an RLock, the next acquirer gets the
 * lock together with MPX_EOWNERDEAD instead of waiting forever; the data
 * the lock protects is suspect (mpx_lock_consistent clears the mark). A
 * Condition wait whose lock holder died returns MPX_EOWNERDEAD holding the
 * lock; a Barrier with a party that died while waiting breaks
 * (MPX_EBROKEN): the waiters see it at their next liveness check, and
 * the last party to arrive checks every recorded waiter before it
 * releases them, so the barrier never passes with a dead party. Waiters
 * check the owner's liveness every mpx_sync_set_owner_check()
 * milliseconds (default 50).
 *
 * Errors of misuse (Python's ValueError / AssertionError / RuntimeError):
 * MPX_ESTATE. A pointer that is not a live object of the right type:
 * MPX_EINVAL.
 *
 * Signals (SYNC-17): by default a signal handler that runs during a wait
 * does not end it; the wait goes on against its deadline. An object made
 * with the interruptible option (mpx_sync_opts.interruptible,
 * mpx_barrier_opts.interruptible: per object, so one library cannot change
 * another's blocking) ends its blocking calls with -EINTR when a handler
 * ran during them (the C form of Python's KeyboardInterrupt); Condition
 * waits then return with the lock re-acquired, Barrier waits break the
 * barrier. Every time: an interruptible wait holds the asynchronous
 * signals back between its sleeps and sleeps with the caller's mask
 * swapped in atomically (io_uring futex waits, Linux 6.7+), so no handler
 * runs unseen; the handlers run when the call returns. On kernels without
 * io_uring futex waits (or with io_uring disabled) a handler that runs
 * within microseconds of a wake-up may not end the wait (docs/sync.md).
 * A call that succeeds (acquired, notified, set) returns success even
 * when a handler runs at the same moment; the handler then runs just
 * after it.
 */
#ifndef MPX_SYNC_H
#define MPX_SYNC_H

#include "common.h"

#include <sys/types.h>

MPX_BEGIN_DECLS

typedef struct mpx_context mpx_context;
typedef struct mpx_lock mpx_lock;
typedef struct mpx_rlock mpx_rlock;
typedef struct mpx_semaphore mpx_semaphore;
typedef struct mpx_condition mpx_condition;
typedef struct mpx_event mpx_event;
typedef struct mpx_barrier mpx_barrier;

/* Options common to the constructors; zero means default. */
typedef struct mpx_sync_opts {
    mpx_context *ctx; /* NULL: usable by children of every start method */
    /* A boolean: nonzero makes the object's blocking calls return -EINTR
     * when a signal handler runs during them (see the header comment).
     * 0 (default): handlers do not end waits. Shared with every process
     * that uses the object. A Condition's new lock follows it. */
    int interruptible;
} mpx_sync_opts;

/* ---------------------------------------------------------------------
 * Tuning (process-wide)
 * ------------------------------------------------------------------- */

/*
 * mpx_sync_set_spin - how many times a contended wait polls (with a CPU
 * pause) before it sleeps in the kernel; 0 disables spinning. Returns the
 * previous value. The default is 100 (0 on a single-CPU machine), or the
 * MPX_SYNC_SPIN environment variable read at the first use.
 *
 * Threads: safe (applies to waits that start afterwards).
 * Fork:    children of every start method start with the value of the
 *          time of their start.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_sync_set_spin(int iterations);

/*
 * mpx_sync_set_owner_check - how often (milliseconds) a blocked waiter
 * checks whether the holder of a Lock/RLock (or a Barrier party) is still
 * alive. MPX_FOREVER disables owner-death detection by waiters (an
 * MPX_NOWAIT acquire still checks). Returns the previous value, or
 * MPX_EINVAL (nothing changed) for interval_ms <= 0. Default 50, or the
 * MPX_SYNC_CHECK_MS environment variable (<= 0 there: disabled).
 *
 * Threads: safe.
 * Fork:    children start with the value of their start (as
 *          mpx_sync_set_spin).
 * Signals: async-signal-safe.
 */
MPX_API mpx_duration mpx_sync_set_owner_check(mpx_duration interval_ms);

/* ---------------------------------------------------------------------
 * Lock (SYNC-02..05): non-recursive; any process or thread may release it.
 * ------------------------------------------------------------------- */

/*
 * mpx_lock_create - a new unlocked Lock. opts may be NULL.
 * Returns 0, -ENOMEM, -EMFILE or another -errno from memfd/mmap.
 *
 * Threads: safe.
 * Fork:    a fork child shares the lock with its parent.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_lock_create(mpx_lock **out, const mpx_sync_opts *opts);

/*
 * mpx_lock_destroy - drop this process's handle. Other processes (and
 * objects that use the lock, such as a Condition or a Value) keep the
 * shared lock alive. NULL does nothing.
 *
 * Threads: no other thread may use this handle afterwards.
 * Fork:    affects only the calling process.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_lock_destroy(mpx_lock *l);

/*
 * mpx_lock_acquire - lock it, waiting at most timeout (SYNC-03, SYNC-04).
 * Returns 1 (acquired: Python's True), 0 (not acquired: the timeout ended,
 * or MPX_NOWAIT found it taken; Python's False), MPX_EOWNERDEAD (acquired,
 * but the previous holder died holding it: the protected state is
 * suspect), -EINTR (interruptible objects only), MPX_EINVAL.
 * A thread that acquires a Lock it already holds waits (deadlock with
 * MPX_FOREVER), as in Python.
 *
 * Threads: safe.
 * Fork:    a fork child shares the lock word: a Lock held at fork time
 *          stays held until some process or thread releases it.
 * Signals: see the header comment (SYNC-17).
 */
MPX_API int mpx_lock_acquire(mpx_lock *l, mpx_duration timeout);

/*
 * mpx_lock_release - unlock (SYNC-05); any process or thread may.
 * Returns 0, MPX_ESTATE when the lock is not locked (Python's ValueError),
 * MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_lock_release(mpx_lock *l);

/*
 * mpx_lock_locked - 1 when locked, 0 when not, MPX_EINVAL.
 * mpx_lock_owner - the pid of the process holding it, 0 when unlocked.
 *
 * Threads: safe (a snapshot).
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_lock_locked(mpx_lock *l);
MPX_API pid_t mpx_lock_owner(mpx_lock *l);

/*
 * mpx_lock_suspect - 1 when an acquirer took the lock over from a dead
 * holder and nobody has called mpx_lock_consistent since, else 0.
 * mpx_lock_consistent - clear that mark (like pthread_mutex_consistent):
 * the caller declares the protected state repaired. Returns 0 or
 * MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_lock_suspect(mpx_lock *l);
MPX_API int mpx_lock_consistent(mpx_lock *l);

/*
 * mpx_lock_describe - Python's repr (SYNC-21): "<Lock(owner=None)>",
 * "<Lock(owner=MainProcess)>" (held by this process, named as
 * mpx_current_process names it), "<Lock(owner=SomeOtherProcess)>"; ", owner
 * died" is added while suspect. Free with mpx_free; NULL on failure.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API char *mpx_lock_describe(mpx_lock *l);

/* ---------------------------------------------------------------------
 * RLock (SYNC-06..08): recursive, owned by (process, thread).
 * ------------------------------------------------------------------- */

/*
 * mpx_rlock_create / mpx_rlock_destroy - as for Lock.
 *
 * Threads: safe.
 * Fork:    a fork child shares the lock; ownership is per (pid, thread),
 *          so a lock its parent held is not held by the child.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_rlock_create(mpx_rlock **out, const mpx_sync_opts *opts);
MPX_API void mpx_rlock_destroy(mpx_rlock *l);

/*
 * mpx_rlock_acquire - take the lock or, when the calling thread owns it,
 * add a level (SYNC-07). Returns 1 (acquired), 0 (not acquired in time:
 * nothing changed), MPX_EOWNERDEAD (acquired at level 1; the previous
 * owner process died holding it), -EINTR (interruptible objects),
 * -EOVERFLOW (recursion level at INT_MAX), MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    see mpx_rlock_create.
 * Signals: see the header comment.
 */
MPX_API int mpx_rlock_acquire(mpx_rlock *l, mpx_duration timeout);

/*
 * mpx_rlock_release - drop one level; at zero unlock and let one waiter
 * in (SYNC-08). Returns 0, MPX_ESTATE when the caller (pid, thread) is not
 * the owner or the lock is not held, MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_rlock_release(mpx_rlock *l);

/*
 * mpx_rlock_count - recursion level (0 when unlocked); mpx_rlock_owner -
 * the owner's pid (0 when unlocked); mpx_rlock_is_mine - 1 when the
 * calling thread owns it; mpx_rlock_suspect / mpx_rlock_consistent - as
 * for Lock. Negative MPX_EINVAL for a bad pointer.
 *
 * Threads: safe (snapshots).
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_rlock_count(mpx_rlock *l);
MPX_API pid_t mpx_rlock_owner(mpx_rlock *l);
MPX_API int mpx_rlock_is_mine(mpx_rlock *l);
MPX_API int mpx_rlock_suspect(mpx_rlock *l);
MPX_API int mpx_rlock_consistent(mpx_rlock *l);

/*
 * mpx_rlock_describe - "<RLock(None, 0)>", "<RLock(MainProcess, 2)>",
 * "<RLock(SomeOtherThread, nonzero)>", "<RLock(SomeOtherProcess,
 * nonzero)>" (SYNC-21). Free with mpx_free; NULL on failure.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API char *mpx_rlock_describe(mpx_rlock *l);

/* ---------------------------------------------------------------------
 * Either kind of lock (and a Semaphore or a Condition, which acquire and
 * release their lock): dispatch on the object's type.
 * ------------------------------------------------------------------- */

/*
 * mpx_sync_acquire / mpx_sync_release - acquire/release a Lock, RLock,
 * Semaphore, BoundedSemaphore or Condition given as void *, or the lock of
 * a synchronized Value/Array (sharedctypes.h; MPX_ESTATE for a raw one).
 * Same results as the typed calls (acquire: 1 acquired, 0 not acquired);
 * MPX_EINVAL for anything else.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: as the typed calls.
 */
MPX_API int mpx_sync_acquire(void *lock, mpx_duration timeout);
MPX_API int mpx_sync_release(void *lock);

/*
 * mpx_sync_describe - the describe string of any object of this header.
 * Free with mpx_free; NULL for a bad pointer or on failure.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API char *mpx_sync_describe(void *obj);

/* ---------------------------------------------------------------------
 * Semaphore and BoundedSemaphore (SYNC-09..12)
 * ------------------------------------------------------------------- */

/* Largest value of a semaphore (Python's SEM_VALUE_MAX). */
#define MPX_SEM_VALUE_MAX 2147483647

/*
 * mpx_semaphore_create - a counter starting at value (0..MPX_SEM_VALUE_MAX;
 * Python's default is 1). mpx_bounded_semaphore_create - the same, where a
 * release that would raise the value above the initial value fails
 * (SYNC-10). Returns 0, MPX_EINVAL, -ENOMEM, -errno.
 *
 * Threads: safe.
 * Fork:    a fork child shares the counter.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_semaphore_create(mpx_semaphore **out, unsigned value, const mpx_sync_opts *opts);
MPX_API int mpx_bounded_semaphore_create(mpx_semaphore **out, unsigned value,
                                         const mpx_sync_opts *opts);

/*
 * mpx_semaphore_destroy - drop this handle. NULL does nothing.
 *
 * Threads: no other thread may use this handle afterwards.
 * Fork:    affects only the calling process.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_semaphore_destroy(mpx_semaphore *s);

/*
 * mpx_semaphore_acquire - decrement, waiting at most timeout while the
 * value is 0 (SYNC-11). Returns 1 (acquired), 0 (the timeout ended
 * first), -EINTR (interruptible objects), MPX_EINVAL. A semaphore has no
 * owner: a process that dies without releasing leaves the count lowered.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: see the header comment.
 */
MPX_API int mpx_semaphore_acquire(mpx_semaphore *s, mpx_duration timeout);

/*
 * mpx_semaphore_release - increment and wake one waiter. Returns 0,
 * MPX_ESTATE for a bounded semaphore already at its initial value
 * (Python's ValueError) or at MPX_SEM_VALUE_MAX, MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_semaphore_release(mpx_semaphore *s);

/*
 * mpx_semaphore_get_value - the current value (Python's get_value(),
 * also on macOS where Python lacks it). mpx_semaphore_bound - the maximum
 * of a bounded semaphore, 0 for a plain one. Negative MPX_EINVAL.
 *
 * Threads: safe (a snapshot).
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_semaphore_get_value(mpx_semaphore *s);
MPX_API int mpx_semaphore_bound(mpx_semaphore *s);

/*
 * mpx_semaphore_describe - "<Semaphore(value=3)>" or
 * "<BoundedSemaphore(value=2, maxvalue=3)>". Free with mpx_free.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API char *mpx_semaphore_describe(mpx_semaphore *s);

/* ---------------------------------------------------------------------
 * Condition (SYNC-13, SYNC-14)
 * ------------------------------------------------------------------- */

/*
 * mpx_condition_create - a condition variable bound to lock, which must be
 * an mpx_lock or mpx_rlock (it is kept alive by the condition), or NULL
 * for a new RLock (Python's default). Returns 0, MPX_EINVAL, -ENOMEM,
 * -errno.
 *
 * Threads: safe.
 * Fork:    a fork child shares it.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_condition_create(mpx_condition **out, void *lock, const mpx_sync_opts *opts);

/*
 * mpx_condition_destroy - drop this handle (and its reference to the
 * lock). NULL does nothing.
 *
 * Threads: no other thread may use this handle afterwards.
 * Fork:    affects only the calling process.
 * Signals: not async-signal-safe.
 */
MPX_API void mpx_condition_destroy(mpx_condition *c);

/*
 * mpx_condition_lock - the underlying lock (an mpx_lock or mpx_rlock,
 * borrowed; use mpx_sync_acquire/mpx_sync_release or the typed calls).
 * mpx_condition_acquire / _release - acquire or release that lock, with
 * its results (acquire: 1 acquired, 0 not acquired in time).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: as the lock calls.
 */
MPX_API void *mpx_condition_lock(mpx_condition *c);
MPX_API int mpx_condition_acquire(mpx_condition *c, mpx_duration timeout);
MPX_API int mpx_condition_release(mpx_condition *c);

/*
 * mpx_condition_wait - release the lock (every level of an RLock, SYNC-14),
 * sleep until notified or timeout, and re-acquire it with the same levels.
 * The caller must own the lock (MPX_ESTATE otherwise). Returns 1
 * (notified: Python's True), 0 (the timeout ended first: Python's False),
 * MPX_EOWNERDEAD (the lock is held again, but a holder died while holding
 * it; a waiter also returns this when the lock's holder dies while it
 * sleeps, instead of hanging), -EINTR (interruptible condition; the lock
 * is held again). The lock is held again on every return but MPX_ESTATE
 * and MPX_EINVAL.
 * A notify(n) wakes exactly min(n, waiters) of the threads that were
 * waiting when it ran.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: see the header comment.
 */
MPX_API int mpx_condition_wait(mpx_condition *c, mpx_duration timeout);

/*
 * A predicate for mpx_condition_wait_for: nonzero when the awaited state
 * holds. Called with the lock held.
 */
typedef int (*mpx_predicate_fn)(void *arg);

/*
 * mpx_condition_wait_for - wait until pred(arg) is nonzero, at most
 * timeout overall (Python's wait_for, 3.3+). Returns 1 when the predicate
 * holds (Python's True; the lock held), 0 when it still does not hold at
 * the deadline (Python's False; the lock held), MPX_EOWNERDEAD / -EINTR /
 * MPX_ESTATE as mpx_condition_wait (for MPX_EOWNERDEAD the predicate was
 * not evaluated again: check the state yourself).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: see the header comment.
 */
MPX_API int mpx_condition_wait_for(mpx_condition *c, mpx_predicate_fn pred, void *arg,
                                   mpx_duration timeout);

/*
 * mpx_condition_notify - wake up to n waiters (Python's notify(n), n >= 1;
 * n = 0 does nothing). mpx_condition_notify_all - wake every waiter. The
 * caller must own the lock (MPX_ESTATE otherwise). Return 0, MPX_ESTATE,
 * MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_condition_notify(mpx_condition *c, int n);
MPX_API int mpx_condition_notify_all(mpx_condition *c);

/*
 * mpx_condition_waiters - threads waiting and not yet notified (a
 * snapshot), negative MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_condition_waiters(mpx_condition *c);

/*
 * mpx_condition_describe - "<Condition(<RLock(MainProcess, 2)>, 0)>":
 * the lock's describe string and the number of waiters (SYNC-21).
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API char *mpx_condition_describe(mpx_condition *c);

/* ---------------------------------------------------------------------
 * Event (SYNC-15)
 * ------------------------------------------------------------------- */

/*
 * mpx_event_create / mpx_event_destroy - a flag, initially clear.
 *
 * Threads: safe; destroy: no other thread may use the handle afterwards.
 * Fork:    shared with fork children.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_event_create(mpx_event **out, const mpx_sync_opts *opts);
MPX_API void mpx_event_destroy(mpx_event *e);

/*
 * mpx_event_set - set the flag and wake every waiter; mpx_event_clear -
 * reset it. Return 0 or MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_event_set(mpx_event *e);
MPX_API int mpx_event_clear(mpx_event *e);

/*
 * mpx_event_is_set - 1 when set, 0 when clear, MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_event_is_set(mpx_event *e);

/*
 * mpx_event_wait - wait until the flag is set, at most timeout. Returns
 * the flag: 1 when it is set (Python's True; also when a set() woke the
 * caller and a clear() followed at once), 0 when it was still clear at
 * the deadline (Python's False), -EINTR (interruptible event),
 * MPX_EINVAL. `if (mpx_event_wait(e, t) == 1)` is `if e.wait(t):`.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: see the header comment.
 */
MPX_API int mpx_event_wait(mpx_event *e, mpx_duration timeout);

/*
 * mpx_event_describe - "<Event(set)>" or "<Event(unset)>".
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API char *mpx_event_describe(mpx_event *e);

/* ---------------------------------------------------------------------
 * Barrier (SYNC-16)
 * ------------------------------------------------------------------- */

/*
 * A barrier action: run by exactly one party (the last to arrive) before
 * the others are released. Nonzero breaks the barrier: that party's wait
 * returns the value (MPX_EBROKEN when it is positive), the others
 * MPX_EBROKEN (Python: an exception in the action). The function must be
 * resolvable in children started with spawn (a function of the program).
 */
typedef int (*mpx_barrier_action_fn)(void);

typedef struct mpx_barrier_opts {
    mpx_context *ctx;             /* NULL: any start method */
    mpx_barrier_action_fn action; /* NULL: none */
    /* The default for wait(MPX_FOREVER) (Python's timeout=None): 0 (not
     * set) or MPX_FOREVER none; N > 0 ms; negative zero time (a party
     * that is not the last to arrive breaks the barrier at once). */
    mpx_duration timeout;
    int interruptible; /* as mpx_sync_opts.interruptible (-EINTR breaks it) */
} mpx_barrier_opts;

/*
 * mpx_barrier_create - a barrier for parties (1..1000000) parties.
 * Returns 0, MPX_EINVAL, -ENOMEM, -errno.
 * mpx_barrier_destroy - drop this handle; NULL does nothing.
 *
 * Threads: safe; destroy: no other thread may use the handle afterwards.
 * Fork:    shared with fork children.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_barrier_create(mpx_barrier **out, unsigned parties, const mpx_barrier_opts *opts);
MPX_API void mpx_barrier_destroy(mpx_barrier *b);

/*
 * mpx_barrier_wait - wait until parties callers have called it. Returns
 * the caller's arrival index 0..parties-1 (>= 0; the last arrival, which
 * runs the action, gets parties-1); MPX_EBROKEN when the barrier is or
 * becomes broken (abort, reset while waiting, a timeout, a failing action,
 * or a party that died while waiting: the last arrival checks every
 * waiter's process before releasing them, by pid and start time, so a
 * reused pid does not pass for the dead party; this costs it a few system
 * calls per waiter of another process); MPX_EINVAL. MPX_FOREVER means the
 * barrier's default timeout (Python's timeout=None), which may itself be
 * none. A timeout breaks the barrier for every party, as in Python.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: see the header comment (-EINTR, on an interruptible barrier,
 *          breaks it, like Python's KeyboardInterrupt does).
 */
MPX_API int mpx_barrier_wait(mpx_barrier *b, mpx_duration timeout);

/*
 * mpx_barrier_reset - back to the empty state; parties waiting now get
 * MPX_EBROKEN; a broken barrier becomes usable again.
 * mpx_barrier_abort - put it in the broken state: current and future
 * waits return MPX_EBROKEN until reset. Return 0, MPX_EINVAL.
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API int mpx_barrier_reset(mpx_barrier *b);
MPX_API int mpx_barrier_abort(mpx_barrier *b);

/*
 * mpx_barrier_parties / mpx_barrier_n_waiting / mpx_barrier_broken -
 * Python's properties (broken: 1 or 0). Negative MPX_EINVAL.
 *
 * Threads: safe (snapshots).
 * Fork:    safe.
 * Signals: async-signal-safe.
 */
MPX_API int mpx_barrier_parties(mpx_barrier *b);
MPX_API int mpx_barrier_n_waiting(mpx_barrier *b);
MPX_API int mpx_barrier_broken(mpx_barrier *b);

/*
 * mpx_barrier_describe - "<Barrier(parties=3, n_waiting=1, broken=False)>".
 *
 * Threads: safe.
 * Fork:    safe.
 * Signals: not async-signal-safe.
 */
MPX_API char *mpx_barrier_describe(mpx_barrier *b);

MPX_END_DECLS

#endif /* MPX_SYNC_H */
