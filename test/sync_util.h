/* sync_util.h - helpers shared by the sync test files (test_sync*.c). */
#ifndef MPX_TEST_SYNC_UTIL_H
#define MPX_TEST_SYNC_UTIL_H

#include "harness.h"
#include "import_check.h"

#include "core/args.h" /* export/import round trip (spawn readiness) */
#include "core/sync_internal.h" /* lock words, for the pid-reuse test */
#include "os/proc.h"
#include "os/intr.h"             /* mpx__intr_exact */

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>


static inline mpx_process *spawn1(mpx_target_fn fn, void *obj, void *obj2)
{
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    if (obj)
        CHECK_OK(mpx_args_add_object(a, obj));
    if (obj2)
        CHECK_OK(mpx_args_add_object(a, obj2));
    mpx_process *p = start_args(fn, a);
    mpx_args_destroy(a);
    return p;
}

/* A Lock, an RLock and a Semaphore(1): lk[0], lk[1], lk[2]. */
static inline void make_locks(void *lk[3])
{
    mpx_lock *l;
    mpx_rlock *r;
    mpx_semaphore *s;
    CHECK_OK(mpx_lock_create(&l, NULL));
    CHECK_OK(mpx_rlock_create(&r, NULL));
    CHECK_OK(mpx_semaphore_create(&s, 1, NULL));
    lk[0] = l;
    lk[1] = r;
    lk[2] = s;
}

static inline void destroy_locks(void *lk[3])
{
    mpx_lock_destroy(lk[0]);
    mpx_rlock_destroy(lk[1]);
    mpx_semaphore_destroy(lk[2]);
}


/* Children of the forkserver do not see the parent's settings or
 * environment changes: the no-spin targets switch spinning off themselves. */
static inline void child_no_spin(void)
{
    mpx_sync_set_spin(0);
    mpx_sync_set_owner_check(MPX_FOREVER);
}

/* Ping-pong between two processes through one condition: every round a
 * side flips the turn and notifies; lost wake-ups would hang. */
static inline int pingpong_side(mpx_condition *c, mpx_array *turn, int me, int rounds)
{
    int64_t *t = mpx_array_ptr(turn);
    for (int i = 0; i < rounds; i++) {
        if (mpx_condition_acquire(c, MPX_FOREVER) != 1)
            return 2;
        while (t[0] != me) {
            int rc = mpx_condition_wait(c, MPX_FOREVER);
            if (rc != 1)
                return 3;
        }
        t[0] = 1 - me;
        t[1]++;
        mpx_condition_notify(c, 1);
        mpx_condition_release(c);
    }
    return 0;
}

static inline int t_pingpong(const mpx_args *a)
{
    if (mpx_args_int(a, 3))
        child_no_spin();
    return pingpong_side(mpx_args_object(a, 0), mpx_args_object(a, 1), 1,
                         (int)mpx_args_int(a, 2));
}

static inline void cond_pingpong(int rounds, int nospin)
{
    mpx_lock *l;
    mpx_condition *c;
    mpx_array *turn;
    CHECK_OK(mpx_lock_create(&l, NULL));
    CHECK_OK(mpx_condition_create(&c, l, NULL));
    CHECK_OK(mpx_rawarray_create(&turn, "q", 2, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, c));
    CHECK_OK(mpx_args_add_object(a, turn));
    CHECK_OK(mpx_args_add_int(a, rounds));
    CHECK_OK(mpx_args_add_int(a, nospin));
    mpx_process *p = start_args(t_pingpong, a);
    mpx_args_destroy(a);
    CHECK_EQ(pingpong_side(c, turn, 0, rounds), 0);
    CHECK_EQ(join_destroy(p), 0);
    CHECK_EQ(((int64_t *)mpx_array_ptr(turn))[1], 2 * rounds);
    mpx_array_destroy(turn);
    mpx_condition_destroy(c);
    mpx_lock_destroy(l);
}

#endif
