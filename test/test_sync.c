/* test_sync.c - Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event,
 * Barrier (SYNC-01..21), owner death, lost-wakeup stress. Children are
 * started with mpx_process so the tests run under every start method. */
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

static mpx_process *spawn1(mpx_target_fn fn, void *obj, void *obj2)
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
static void make_locks(void *lk[3])
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

static void destroy_locks(void *lk[3])
{
    mpx_lock_destroy(lk[0]);
    mpx_rlock_destroy(lk[1]);
    mpx_semaphore_destroy(lk[2]);
}

/* ---- Lock ----------------------------------------------------------------- */

MPX_TEST(sync_02_lock_basic_and_describe)
{
    mpx_lock *l;
    CHECK_OK(mpx_lock_create(&l, NULL));
    CHECK_EQ(mpx_lock_locked(l), 0);
    check_describe(mpx_lock_describe(l), "<Lock(owner=None)>");
    CHECK_EQ(mpx_lock_acquire(l, MPX_FOREVER), 1);
    CHECK_EQ(mpx_lock_locked(l), 1);
    CHECK_EQ(mpx_lock_owner(l), getpid());
    check_describe(mpx_lock_describe(l), "<Lock(owner=MainProcess)>");
    check_describe(mpx_sync_describe(l), "<Lock(owner=MainProcess)>");
    /* SYNC-03: block=False on a held lock; a negative timeout is NOWAIT. */
    CHECK_EQ(mpx_lock_acquire(l, MPX_NOWAIT), 0);
    CHECK_EQ(mpx_lock_acquire(l, -5), 0);
    CHECK_OK(mpx_lock_release(l));
    CHECK_EQ(mpx_lock_owner(l), 0);
    /* SYNC-05: releasing an unlocked lock is an error. */
    CHECK_ERR(mpx_lock_release(l), MPX_ESTATE);
    CHECK_EQ(mpx_lock_acquire(l, MPX_NOWAIT), 1);
    CHECK_OK(mpx_sync_release(l));
    CHECK_EQ(mpx_lock_suspect(l), 0);
    mpx_lock_destroy(l);
    mpx_lock_destroy(NULL);
}

MPX_TEST(sync_02_bad_handles_are_einval)
{
    int junk[16] = {0};
    CHECK_ERR(mpx_lock_acquire(NULL, 0), MPX_EINVAL);
    CHECK_ERR(mpx_lock_acquire((mpx_lock *)junk, 0), MPX_EINVAL);
    CHECK_ERR(mpx_lock_release((mpx_lock *)junk), MPX_EINVAL);
    CHECK_ERR(mpx_rlock_acquire((mpx_rlock *)junk, 0), MPX_EINVAL);
    CHECK_ERR(mpx_semaphore_acquire((mpx_semaphore *)junk, 0), MPX_EINVAL);
    CHECK_ERR(mpx_event_set((mpx_event *)junk), MPX_EINVAL);
    CHECK_ERR(mpx_barrier_wait((mpx_barrier *)junk, 0), MPX_EINVAL);
    CHECK_ERR(mpx_condition_wait((mpx_condition *)junk, 0), MPX_EINVAL);
    CHECK_ERR(mpx_sync_acquire(junk, 0), MPX_EINVAL);
    CHECK(mpx_sync_describe(junk) == NULL);
    mpx_rlock *r;
    CHECK_OK(mpx_rlock_create(&r, NULL));
    /* a Lock call on an RLock is a type error */
    CHECK_ERR(mpx_lock_acquire((mpx_lock *)r, 0), MPX_EINVAL);
    mpx_rlock_destroy(r);
    CHECK_ERR(mpx_lock_create(NULL, NULL), MPX_EINVAL);
}

/* SYNC-04: a timed acquire of a lock held elsewhere gives up in time. */
MPX_TEST(sync_04_lock_timeout)
{
    mpx_lock *l;
    CHECK_OK(mpx_lock_create(&l, NULL));
    CHECK_EQ(mpx_lock_acquire(l, MPX_FOREVER), 1);
    int64_t t0 = mpx_test_now_ms();
    CHECK_EQ(mpx_lock_acquire(l, 150), 0);
    int64_t dt = mpx_test_now_ms() - t0;
    CHECK(dt >= 140 && dt < 5000);
    CHECK_OK(mpx_lock_release(l));
    mpx_lock_destroy(l);
}

static int t_release_lock(const mpx_args *a)
{
    return mpx_lock_release(mpx_args_object(a, 0));
}

/* SYNC-05: any process may release a Lock. */
MPX_TEST(sync_05_lock_released_by_other_process)
{
    mpx_lock *l;
    CHECK_OK(mpx_lock_create(&l, NULL));
    CHECK_EQ(mpx_lock_acquire(l, MPX_FOREVER), 1);
    CHECK_EQ(join_destroy(spawn1(t_release_lock, l, NULL)), 0);
    CHECK_EQ(mpx_lock_locked(l), 0);
    /* and a child releasing an unlocked lock fails (exit code 1) */
    CHECK_EQ(join_destroy(spawn1(t_release_lock, l, NULL)), 1);
    mpx_lock_destroy(l);
}

static void *thr_release_lock(void *p)
{
    return (void *)(intptr_t)mpx_lock_release(p);
}

MPX_TEST(sync_05_lock_released_by_other_thread)
{
    mpx_lock *l;
    CHECK_OK(mpx_lock_create(&l, NULL));
    CHECK_EQ(mpx_lock_acquire(l, MPX_FOREVER), 1);
    pthread_t t;
    void *r;
    CHECK_OK(pthread_create(&t, NULL, thr_release_lock, l));
    CHECK_OK(pthread_join(t, &r));
    CHECK_EQ((intptr_t)r, 0);
    CHECK_EQ(mpx_lock_locked(l), 0);
    mpx_lock_destroy(l);
}

/* Counter increment under a lock by several processes (SYNC-02). */
static int t_count(const mpx_args *a)
{
    void *lk = mpx_args_object(a, 0);
    mpx_array *arr = mpx_args_object(a, 1);
    int n = (int)mpx_args_int(a, 2);
    volatile int64_t *c = mpx_array_ptr(arr);
    for (int i = 0; i < n; i++) {
        int rc = mpx_sync_acquire(lk, MPX_FOREVER);
        if (rc != 1)
            return 3;
        int64_t v = c[0];
        c[0] = v + 1;
        rc = mpx_sync_release(lk);
        if (rc)
            return 4;
    }
    return 0;
}

static void contention(void *lk, int procs, int n)
{
    mpx_array *arr;
    CHECK_OK(mpx_rawarray_create(&arr, "q", 1, NULL));
    mpx_process *p[8];
    for (int i = 0; i < procs; i++) {
        p[i] = start_objs_int(t_count, lk, arr, n);
    }
    for (int i = 0; i < procs; i++)
        CHECK_EQ(join_destroy(p[i]), 0);
    CHECK_EQ(((int64_t *)mpx_array_ptr(arr))[0], (int64_t)procs * n);
    mpx_array_destroy(arr);
}

MPX_TEST(sync_02_lock_contention_processes)
{
    mpx_lock *l;
    CHECK_OK(mpx_lock_create(&l, NULL));
    contention(l, 4, 20000);
    CHECK_EQ(mpx_lock_locked(l), 0);
    mpx_lock_destroy(l);
}

MPX_TEST(sync_06_rlock_contention_processes)
{
    mpx_rlock *l;
    CHECK_OK(mpx_rlock_create(&l, NULL));
    contention(l, 3, 20000);
    CHECK_EQ(mpx_rlock_count(l), 0);
    mpx_rlock_destroy(l);
}

/* ---- threads ---- */

struct thr_count {
    void *lock;
    int64_t *counter;
    int n;
    int err;
};

static void *thr_count(void *p)
{
    struct thr_count *t = p;
    for (int i = 0; i < t->n; i++) {
        if (mpx_sync_acquire(t->lock, MPX_FOREVER) != 1) {
            t->err = 1;
            break;
        }
        (*t->counter)++;
        if (mpx_sync_release(t->lock)) {
            t->err = 2;
            break;
        }
    }
    return NULL;
}

static void thread_contention(void *lk, int nthreads, int n)
{
    int64_t counter = 0;
    pthread_t th[8];
    struct thr_count tc[8];
    for (int i = 0; i < nthreads; i++) {
        tc[i] = (struct thr_count){lk, &counter, n, 0};
        CHECK_OK(pthread_create(&th[i], NULL, thr_count, &tc[i]));
    }
    for (int i = 0; i < nthreads; i++) {
        CHECK_OK(pthread_join(th[i], NULL));
        CHECK_EQ(tc[i].err, 0);
    }
    CHECK_EQ(counter, (int64_t)nthreads * n);
}

MPX_TEST(sync_02_lock_contention_threads)
{
    void *lk[3];
    make_locks(lk);
    for (int i = 0; i < 3; i++)
        thread_contention(lk[i], 4, 20000);
    destroy_locks(lk);
}

/* ---- RLock ---- */

MPX_TEST(sync_06_rlock_recursion_and_describe)
{
    mpx_rlock *r;
    CHECK_OK(mpx_rlock_create(&r, NULL));
    check_describe(mpx_rlock_describe(r), "<RLock(None, 0)>");
    CHECK_EQ(mpx_rlock_acquire(r, MPX_FOREVER), 1);
    CHECK_EQ(mpx_rlock_acquire(r, MPX_NOWAIT), 1); /* SYNC-07: owner re-acquires without blocking */
    CHECK_EQ(mpx_rlock_acquire(r, 10), 1);
    CHECK_EQ(mpx_rlock_count(r), 3);
    CHECK_EQ(mpx_rlock_is_mine(r), 1);
    CHECK_EQ(mpx_rlock_owner(r), getpid());
    check_describe(mpx_rlock_describe(r), "<RLock(MainProcess, 3)>");
    CHECK_OK(mpx_rlock_release(r));
    CHECK_OK(mpx_rlock_release(r));
    CHECK_EQ(mpx_rlock_count(r), 1);
    CHECK_OK(mpx_rlock_release(r));
    CHECK_EQ(mpx_rlock_count(r), 0);
    CHECK_EQ(mpx_rlock_is_mine(r), 0);
    /* SYNC-08: releasing an unowned RLock */
    CHECK_ERR(mpx_rlock_release(r), MPX_ESTATE);
    mpx_rlock_destroy(r);
}

struct rl_thr {
    mpx_rlock *r;
    int release_rc, acquire_rc;
    char *desc;
};

static void *thr_rlock_other(void *p)
{
    struct rl_thr *t = p;
    t->release_rc = mpx_rlock_release(t->r);
    t->acquire_rc = mpx_rlock_acquire(t->r, MPX_NOWAIT);
    t->desc = mpx_rlock_describe(t->r);
    return NULL;
}

/* SYNC-07/08: another thread cannot release it nor take it. */
MPX_TEST(sync_08_rlock_other_thread)
{
    mpx_rlock *r;
    CHECK_OK(mpx_rlock_create(&r, NULL));
    CHECK_EQ(mpx_rlock_acquire(r, MPX_FOREVER), 1);
    struct rl_thr t = {r, 0, 0, NULL};
    pthread_t th;
    CHECK_OK(pthread_create(&th, NULL, thr_rlock_other, &t));
    CHECK_OK(pthread_join(th, NULL));
    CHECK_ERR(t.release_rc, MPX_ESTATE);
    CHECK_EQ(t.acquire_rc, 0);
    check_describe(t.desc, "<RLock(SomeOtherThread, nonzero)>");
    CHECK_EQ(mpx_rlock_count(r), 1);
    CHECK_OK(mpx_rlock_release(r));
    mpx_rlock_destroy(r);
}

static int t_rlock_other_proc(const mpx_args *a)
{
    mpx_rlock *r = mpx_args_object(a, 0);
    if (mpx_rlock_release(r) != MPX_ESTATE)
        return 2;
    if (mpx_rlock_acquire(r, MPX_NOWAIT) != 0)
        return 3;
    char *d = mpx_rlock_describe(r);
    int ok = d && strcmp(d, "<RLock(SomeOtherProcess, nonzero)>") == 0;
    mpx_free(d);
    return ok ? 0 : 4;
}

MPX_TEST(sync_08_rlock_other_process)
{
    mpx_rlock *r;
    CHECK_OK(mpx_rlock_create(&r, NULL));
    CHECK_EQ(mpx_rlock_acquire(r, MPX_FOREVER), 1);
    CHECK_EQ(mpx_rlock_acquire(r, MPX_FOREVER), 1);
    CHECK_EQ(join_destroy(spawn1(t_rlock_other_proc, r, NULL)), 0);
    CHECK_EQ(mpx_rlock_count(r), 2);
    CHECK_OK(mpx_rlock_release(r));
    CHECK_OK(mpx_rlock_release(r));
    mpx_rlock_destroy(r);
}

/* ---- Semaphore ---- */

MPX_TEST(sync_09_semaphore_basic)
{
    mpx_semaphore *s;
    CHECK_OK(mpx_semaphore_create(&s, 2, NULL));
    check_describe(mpx_semaphore_describe(s), "<Semaphore(value=2)>");
    CHECK_EQ(mpx_semaphore_acquire(s, MPX_NOWAIT), 1);
    CHECK_EQ(mpx_semaphore_acquire(s, MPX_FOREVER), 1);
    CHECK_EQ(mpx_semaphore_get_value(s), 0);
    CHECK_EQ(mpx_semaphore_acquire(s, MPX_NOWAIT), 0);
    int64_t t0 = mpx_test_now_ms();
    CHECK_EQ(mpx_semaphore_acquire(s, 100), 0);
    CHECK(mpx_test_now_ms() - t0 >= 90);
    /* an unbounded semaphore may go above its initial value */
    for (int i = 0; i < 5; i++)
        CHECK_OK(mpx_semaphore_release(s));
    CHECK_EQ(mpx_semaphore_get_value(s), 5);
    CHECK_EQ(mpx_semaphore_bound(s), 0);
    mpx_semaphore_destroy(s);
    CHECK_ERR(mpx_semaphore_create(&s, (unsigned)MPX_SEM_VALUE_MAX + 1u, NULL), MPX_EINVAL);
}

MPX_TEST(sync_10_bounded_semaphore)
{
    mpx_semaphore *s;
    CHECK_OK(mpx_bounded_semaphore_create(&s, 2, NULL));
    CHECK_ERR(mpx_semaphore_release(s), MPX_ESTATE);
    CHECK_EQ(mpx_semaphore_acquire(s, MPX_NOWAIT), 1);
    check_describe(mpx_semaphore_describe(s), "<BoundedSemaphore(value=1, maxvalue=2)>");
    CHECK_OK(mpx_semaphore_release(s));
    CHECK_ERR(mpx_semaphore_release(s), MPX_ESTATE);
    CHECK_EQ(mpx_semaphore_get_value(s), 2);
    CHECK_EQ(mpx_semaphore_bound(s), 2);
    mpx_semaphore_destroy(s);
    CHECK_OK(mpx_bounded_semaphore_create(&s, 0, NULL));
    CHECK_ERR(mpx_semaphore_release(s), MPX_ESTATE);
    mpx_semaphore_destroy(s);
}

/* SYNC-09 (seed test_semaphore): Semaphore(3) caps concurrency. */
static int t_sem_cap(const mpx_args *a)
{
    mpx_semaphore *s = mpx_args_object(a, 0);
    mpx_array *st = mpx_args_object(a, 1); /* [running, max] with its lock */
    if (mpx_semaphore_acquire(s, MPX_FOREVER) != 1)
        return 2;
    mpx_array_acquire(st, MPX_FOREVER);
    int64_t *v = mpx_array_ptr(st);
    v[0]++;
    if (v[0] > v[1])
        v[1] = v[0];
    mpx_array_release(st);
    sleep_ms(20);
    mpx_array_acquire(st, MPX_FOREVER);
    v[0]--;
    mpx_array_release(st);
    return mpx_semaphore_release(s) ? 3 : 0;
}

MPX_TEST(sync_09_semaphore_caps_processes)
{
    mpx_semaphore *s;
    mpx_array *st;
    CHECK_OK(mpx_semaphore_create(&s, 3, NULL));
    CHECK_OK(mpx_array_create(&st, "q", 2, NULL, NULL));
    mpx_process *p[8];
    for (int i = 0; i < 8; i++)
        p[i] = spawn1(t_sem_cap, s, st);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(join_destroy(p[i]), 0);
    int64_t mx;
    CHECK_OK(mpx_array_get_i64(st, 1, &mx));
    CHECK(mx >= 1 && mx <= 3);
    CHECK_EQ(mpx_semaphore_get_value(s), 3);
    mpx_semaphore_destroy(s);
    mpx_array_destroy(st);
}

/* ---- Condition ---- */

MPX_TEST(sync_13_condition_requires_lock_and_describe)
{
    mpx_condition *c;
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    check_describe(mpx_condition_describe(c), "<Condition(<RLock(None, 0)>, 0)>");
    CHECK_ERR(mpx_condition_wait(c, 10), MPX_ESTATE);
    CHECK_ERR(mpx_condition_notify(c, 1), MPX_ESTATE);
    CHECK_ERR(mpx_condition_notify_all(c), MPX_ESTATE);
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    check_describe(mpx_condition_describe(c), "<Condition(<RLock(MainProcess, 1)>, 0)>");
    CHECK_EQ(mpx_sync_acquire(c, MPX_FOREVER), 1);
    check_describe(mpx_sync_describe(c), "<Condition(<RLock(MainProcess, 2)>, 0)>");
    CHECK_OK(mpx_condition_notify(c, 1)); /* nobody waiting: nothing happens */
    CHECK_OK(mpx_condition_notify_all(c));
    CHECK_OK(mpx_condition_release(c));
    CHECK_OK(mpx_sync_release(c));
    mpx_condition_destroy(c);
    int junk = 0;
    CHECK_ERR(mpx_condition_create(&c, &junk, NULL), MPX_EINVAL);
}

/* SYNC-14: wait on a recursively held RLock releases every level and
 * restores them. */
static int t_acquire_rlock_nowait(const mpx_args *a)
{
    mpx_rlock *r = mpx_args_object(a, 0);
    int rc = mpx_rlock_acquire(r, 30000);
    if (rc != 1)
        return 2;
    return mpx_rlock_release(r) ? 3 : 0;
}

MPX_TEST(sync_14_condition_wait_releases_all_levels)
{
    mpx_rlock *r;
    mpx_condition *c;
    CHECK_OK(mpx_rlock_create(&r, NULL));
    CHECK_OK(mpx_condition_create(&c, r, NULL));
    CHECK(mpx_condition_lock(c) == (void *)r);
    CHECK_EQ(mpx_rlock_acquire(r, MPX_FOREVER), 1);
    CHECK_EQ(mpx_rlock_acquire(r, MPX_FOREVER), 1);
    /* a child can take the RLock while we wait: it was released fully */
    mpx_process *p = spawn1(t_acquire_rlock_nowait, r, NULL);
    int64_t t0 = mpx_test_now_ms();
    int rc;
    do
        rc = mpx_condition_wait(c, 100);
    while (rc == 0 && mpx_test_now_ms() - t0 < 20000 && mpx_process_is_alive(p) == 1);
    CHECK_EQ(rc, 0);
    CHECK_EQ(join_destroy(p), 0);
    CHECK_EQ(mpx_rlock_count(r), 2);
    CHECK_EQ(mpx_rlock_is_mine(r), 1);
    CHECK_OK(mpx_rlock_release(r));
    CHECK_OK(mpx_rlock_release(r));
    mpx_condition_destroy(c);
    mpx_rlock_destroy(r); /* the condition held a reference until now */
}

struct cw_thr {
    mpx_condition *c;
    _Atomic int *woken;
    int rc;
};

static void *thr_cond_wait(void *p)
{
    struct cw_thr *t = p;
    mpx_condition_acquire(t->c, MPX_FOREVER);
    t->rc = mpx_condition_wait(t->c, 10000);
    if (t->rc == 1)
        atomic_fetch_add(t->woken, 1);
    mpx_condition_release(t->c);
    return NULL;
}

static void wait_waiters(mpx_condition *c, int n)
{
    int64_t t0 = mpx_test_now_ms();
    while (mpx_condition_waiters(c) < n) {
        if (mpx_test_now_ms() - t0 > 10000)
            FAIL("waiters never reached %d", n);
        sleep_ms(1);
    }
}

/* Wait (bounded) until n threads woke, then check no more follow soon. */
static void wait_woken(_Atomic int *woken, int n)
{
    int64_t t0 = mpx_test_now_ms();
    while (atomic_load(woken) < n && mpx_test_now_ms() - t0 < 10000)
        sleep_ms(1);
    sleep_ms(100);
    CHECK_EQ(atomic_load(woken), n);
}

/* SYNC-13: notify(n) wakes exactly n; notify_all the rest. */
MPX_TEST(sync_13_condition_notify_counts)
{
    mpx_lock *l;
    mpx_condition *c;
    CHECK_OK(mpx_lock_create(&l, NULL));
    CHECK_OK(mpx_condition_create(&c, l, NULL));
    mpx_lock_destroy(l); /* the condition keeps it alive */
    _Atomic int woken = 0;
    pthread_t th[5];
    struct cw_thr t[5];
    for (int i = 0; i < 5; i++) {
        t[i] = (struct cw_thr){c, &woken, 99};
        CHECK_OK(pthread_create(&th[i], NULL, thr_cond_wait, &t[i]));
    }
    wait_waiters(c, 5);
    char *d = mpx_condition_describe(c);
    CHECK(d && strstr(d, ", 5)>"));
    mpx_free(d);
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    CHECK_OK(mpx_condition_notify(c, 1));
    CHECK_EQ(mpx_condition_waiters(c), 4);
    CHECK_OK(mpx_condition_release(c));
    wait_woken(&woken, 1);
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    CHECK_OK(mpx_condition_notify(c, 2));
    CHECK_EQ(mpx_condition_waiters(c), 2);
    CHECK_OK(mpx_condition_release(c));
    wait_woken(&woken, 3);
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    CHECK_OK(mpx_condition_notify_all(c));
    CHECK_EQ(mpx_condition_waiters(c), 0);
    CHECK_OK(mpx_condition_release(c));
    for (int i = 0; i < 5; i++) {
        CHECK_OK(pthread_join(th[i], NULL));
        CHECK_EQ(t[i].rc, 1);
    }
    CHECK_EQ(atomic_load(&woken), 5);
    mpx_condition_destroy(c);
}

/* A notify that happened before a waiter arrived does not wake it. */
MPX_TEST(sync_13_condition_no_stale_wakeup)
{
    mpx_condition *c;
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    CHECK_OK(mpx_condition_notify(c, 1));
    CHECK_EQ(mpx_condition_wait(c, 50), 0);
    CHECK_EQ(mpx_condition_wait(c, MPX_NOWAIT), 0);
    CHECK_EQ(mpx_condition_waiters(c), 0);
    CHECK_OK(mpx_condition_release(c));
    mpx_condition_destroy(c);
}

/* seed test_condition: the child notifies a parent waiting on a
 * recursively held default condition. */
static int t_cond_notify(const mpx_args *a)
{
    mpx_condition *c = mpx_args_object(a, 0);
    mpx_array *flag = mpx_args_object(a, 1);
    if (mpx_condition_acquire(c, MPX_FOREVER) != 1)
        return 2;
    char *d = mpx_condition_describe(c);
    int ok = d && strcmp(d, "<Condition(<RLock(Process-1, 1)>, 1)>") == 0;
    if (!ok)
        fprintf(stderr, "child describe: %s\n", d ? d : "(null)");
    mpx_free(d);
    mpx_array_set_i64(flag, 0, 1);
    if (mpx_condition_notify(c, 1))
        return 3;
    return mpx_condition_release(c) ? 4 : ok ? 0 : 5;
}

static int flag_set(void *arg)
{
    int64_t v = 0;
    mpx_array_get_i64(arg, 0, &v);
    return v != 0;
}

MPX_TEST(sync_13_condition_across_processes_wait_for)
{
    mpx_condition *c;
    mpx_array *flag;
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_OK(mpx_rawarray_create(&flag, "q", 1, NULL));
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    /* wait_for with a false predicate times out */
    CHECK_EQ(mpx_condition_wait_for(c, flag_set, flag, 30), 0);
    mpx_process *p = spawn1(t_cond_notify, c, flag);
    CHECK_EQ(mpx_condition_wait_for(c, flag_set, flag, 10000), 1);
    check_describe(mpx_condition_describe(c), "<Condition(<RLock(MainProcess, 2)>, 0)>");
    CHECK_OK(mpx_condition_release(c));
    CHECK_OK(mpx_condition_release(c));
    CHECK_EQ(join_destroy(p), 0);
    /* wait_for with a predicate already true returns at once */
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    CHECK_EQ(mpx_condition_wait_for(c, flag_set, flag, MPX_NOWAIT), 1);
    CHECK_OK(mpx_condition_release(c));
    CHECK_ERR(mpx_condition_wait_for(c, flag_set, flag, 0), MPX_ESTATE);
    mpx_condition_destroy(c);
    mpx_array_destroy(flag);
}

/* Ping-pong between two processes through one condition: every round a
 * side flips the turn and notifies; lost wake-ups would hang. */
static int pingpong_side(mpx_condition *c, mpx_array *turn, int me, int rounds)
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

static void child_no_spin(void);

static int t_pingpong(const mpx_args *a)
{
    if (mpx_args_int(a, 3))
        child_no_spin();
    return pingpong_side(mpx_args_object(a, 0), mpx_args_object(a, 1), 1,
                         (int)mpx_args_int(a, 2));
}

static void cond_pingpong(int rounds, int nospin)
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

MPX_TEST(sync_13_condition_pingpong_processes)
{
    cond_pingpong(3000, 0);
}

/* ---- Event ---- */

MPX_TEST(sync_15_event_basic)
{
    mpx_event *e;
    CHECK_OK(mpx_event_create(&e, NULL));
    CHECK_EQ(mpx_event_is_set(e), 0);
    check_describe(mpx_event_describe(e), "<Event(unset)>");
    CHECK_EQ(mpx_event_wait(e, MPX_NOWAIT), 0);
    int64_t t0 = mpx_test_now_ms();
    CHECK_EQ(mpx_event_wait(e, 80), 0);
    CHECK(mpx_test_now_ms() - t0 >= 70);
    CHECK_OK(mpx_event_set(e));
    CHECK_OK(mpx_event_set(e));
    CHECK_EQ(mpx_event_is_set(e), 1);
    check_describe(mpx_sync_describe(e), "<Event(set)>");
    CHECK_EQ(mpx_event_wait(e, MPX_FOREVER), 1);
    CHECK_EQ(mpx_event_wait(e, MPX_NOWAIT), 1);
    CHECK_OK(mpx_event_clear(e));
    CHECK_EQ(mpx_event_is_set(e), 0);
    CHECK_EQ(mpx_event_wait(e, 10), 0);
    mpx_event_destroy(e);
}

static int t_event_wait(const mpx_args *a)
{
    mpx_event *e = mpx_args_object(a, 0);
    mpx_array *cnt = mpx_args_object(a, 1);
    int rc = mpx_event_wait(e, 20000);
    if (rc != 1)
        return 2;
    mpx_array_acquire(cnt, MPX_FOREVER);
    ((int64_t *)mpx_array_ptr(cnt))[0]++;
    mpx_array_release(cnt);
    return 0;
}

/* seed test_event: 5 processes wait, the parent sets. */
MPX_TEST(sync_15_event_wakes_processes)
{
    mpx_event *e;
    mpx_array *cnt;
    CHECK_OK(mpx_event_create(&e, NULL));
    CHECK_OK(mpx_array_create(&cnt, "q", 1, NULL, NULL));
    mpx_process *p[5];
    for (int i = 0; i < 5; i++)
        p[i] = spawn1(t_event_wait, e, cnt);
    sleep_ms(100);
    int64_t v;
    CHECK_OK(mpx_array_get_i64(cnt, 0, &v));
    CHECK_EQ(v, 0);
    CHECK_OK(mpx_event_set(e));
    for (int i = 0; i < 5; i++)
        CHECK_EQ(join_destroy(p[i]), 0);
    CHECK_OK(mpx_array_get_i64(cnt, 0, &v));
    CHECK_EQ(v, 5);
    mpx_event_destroy(e);
    mpx_array_destroy(cnt);
}

struct ev_thr {
    mpx_event *e;
    int rc;
    _Atomic int *ready;
};

static void *thr_event_wait(void *p)
{
    struct ev_thr *t = p;
    atomic_fetch_add(t->ready, 1);
    t->rc = mpx_event_wait(t->e, 20000);
    return NULL;
}

/* A waiter woken by set() reports it even when clear() follows at once. */
MPX_TEST(sync_15_event_set_then_clear_still_wakes)
{
    mpx_event *e;
    CHECK_OK(mpx_event_create(&e, NULL));
    mpx_sync_set_spin(0);
    struct ev_thr t[3];
    pthread_t th[3];
    _Atomic int ready = 0;
    for (int i = 0; i < 3; i++) {
        t[i] = (struct ev_thr){e, 99, &ready};
        CHECK_OK(pthread_create(&th[i], NULL, thr_event_wait, &t[i]));
    }
    int64_t t0 = mpx_test_now_ms();
    while (atomic_load(&ready) < 3 && mpx_test_now_ms() - t0 < 10000)
        sleep_ms(1);
    sleep_ms(200); /* let them reach the futex */
    CHECK_OK(mpx_event_set(e));
    CHECK_OK(mpx_event_clear(e));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(pthread_join(th[i], NULL));
        CHECK_EQ(t[i].rc, 1);
    }
    mpx_event_destroy(e);
}

/* ---- Barrier ---- */

static _Atomic int action_runs;
static int count_action(void)
{
    atomic_fetch_add(&action_runs, 1);
    return 0;
}

static int t_barrier(const mpx_args *a)
{
    mpx_barrier *b = mpx_args_object(a, 0);
    mpx_array *seen = mpx_args_object(a, 1);
    int rounds = (int)mpx_args_int(a, 2);
    for (int i = 0; i < rounds; i++) {
        int idx = mpx_barrier_wait(b, 10000);
        if (idx < 0 || idx >= mpx_barrier_parties(b))
            return 2;
        mpx_array_acquire(seen, MPX_FOREVER);
        int64_t *v = mpx_array_ptr(seen);
        v[i * 3 + idx]++;
        mpx_array_release(seen);
    }
    return 0;
}

/* SYNC-16: 3 processes, 20 generations: each generation hands out the
 * indices 0, 1, 2 once each; the action runs once per generation. */
MPX_TEST(sync_16_barrier_processes)
{
    enum { R = 20 };
    mpx_barrier *b;
    mpx_barrier_opts o = {.action = count_action};
    CHECK_OK(mpx_barrier_create(&b, 3, &o));
    check_describe(mpx_barrier_describe(b), "<Barrier(parties=3, n_waiting=0, broken=False)>");
    mpx_array *seen;
    CHECK_OK(mpx_array_create(&seen, "q", R * 3, NULL, NULL));
    mpx_process *p[2];
    for (int i = 0; i < 2; i++) {
        p[i] = start_objs_int(t_barrier, b, seen, R);
    }
    atomic_store(&action_runs, 0);
    int mine_last = 0;
    for (int i = 0; i < R; i++) {
        int idx = mpx_barrier_wait(b, 10000);
        CHECK(idx >= 0 && idx < 3);
        if (idx == 2)
            mine_last++;
        mpx_array_acquire(seen, MPX_FOREVER);
        ((int64_t *)mpx_array_ptr(seen))[i * 3 + idx]++;
        mpx_array_release(seen);
    }
    for (int i = 0; i < 2; i++)
        CHECK_EQ(join_destroy(p[i]), 0);
    int64_t *v = mpx_array_ptr(seen);
    for (int i = 0; i < R * 3; i++)
        CHECK_EQ(v[i], 1);
    /* under fork each child has its own copy of action_runs: the parent
     * counted the generations where it arrived last */
    CHECK_EQ(atomic_load(&action_runs), mine_last);
    CHECK_EQ(mpx_barrier_n_waiting(b), 0);
    CHECK_EQ(mpx_barrier_broken(b), 0);
    mpx_barrier_destroy(b);
    mpx_array_destroy(seen);
}

struct bar_thr {
    mpx_barrier *b;
    mpx_duration timeout;
    int rc;
};

static void *thr_barrier(void *p)
{
    struct bar_thr *t = p;
    t->rc = mpx_barrier_wait(t->b, t->timeout);
    return NULL;
}

/* Start a thread waiting on b without a timeout, and give it up to 5 s to
 * be counted as waiting. */
static void start_bar_waiter(mpx_barrier *b, struct bar_thr *t, pthread_t *th)
{
    *t = (struct bar_thr){b, MPX_FOREVER, -1};
    CHECK_OK(pthread_create(th, NULL, thr_barrier, t));
    int64_t t0 = mpx_test_now_ms();
    while (mpx_barrier_n_waiting(b) < 1 && mpx_test_now_ms() - t0 < 5000)
        sleep_ms(1);
}

static int fail_action(void)
{
    return -ENOSPC;
}

MPX_TEST(sync_16_barrier_threads_action_once)
{
    mpx_barrier *b;
    mpx_barrier_opts o = {.action = count_action};
    CHECK_OK(mpx_barrier_create(&b, 4, &o));
    atomic_store(&action_runs, 0);
    for (int round = 0; round < 10; round++) {
        struct bar_thr t[4];
        pthread_t th[4];
        for (int i = 0; i < 4; i++) {
            t[i] = (struct bar_thr){b, MPX_FOREVER, -1};
            CHECK_OK(pthread_create(&th[i], NULL, thr_barrier, &t[i]));
        }
        int mask = 0;
        for (int i = 0; i < 4; i++) {
            CHECK_OK(pthread_join(th[i], NULL));
            CHECK(t[i].rc >= 0 && t[i].rc < 4);
            mask |= 1 << t[i].rc;
        }
        CHECK_EQ(mask, 15);
    }
    CHECK_EQ(atomic_load(&action_runs), 10);
    mpx_barrier_destroy(b);
    CHECK_ERR(mpx_barrier_create(&b, 0, NULL), MPX_EINVAL);
}

/* Timeout breaks the barrier for all; reset repairs it; abort breaks. */
MPX_TEST(sync_16_barrier_timeout_reset_abort)
{
    mpx_barrier *b;
    CHECK_OK(mpx_barrier_create(&b, 3, NULL));
    struct bar_thr t;
    pthread_t th;
    start_bar_waiter(b, &t, &th);
    CHECK_EQ(mpx_barrier_n_waiting(b), 1);
    CHECK_ERR(mpx_barrier_wait(b, 50), MPX_EBROKEN); /* our timeout breaks it */
    CHECK_OK(pthread_join(th, NULL));
    CHECK_ERR(t.rc, MPX_EBROKEN);
    CHECK_EQ(mpx_barrier_broken(b), 1);
    CHECK_ERR(mpx_barrier_wait(b, 10), MPX_EBROKEN);
    check_describe(mpx_barrier_describe(b), "<Barrier(parties=3, n_waiting=0, broken=True)>");
    CHECK_OK(mpx_barrier_reset(b));
    CHECK_EQ(mpx_barrier_broken(b), 0);

    /* reset while a party waits: it gets EBROKEN, the barrier stays usable */
    start_bar_waiter(b, &t, &th);
    CHECK_OK(mpx_barrier_reset(b));
    CHECK_OK(pthread_join(th, NULL));
    CHECK_ERR(t.rc, MPX_EBROKEN);
    CHECK_EQ(mpx_barrier_broken(b), 0);
    CHECK_EQ(mpx_barrier_n_waiting(b), 0);

    /* abort */
    start_bar_waiter(b, &t, &th);
    CHECK_OK(mpx_barrier_abort(b));
    CHECK_OK(pthread_join(th, NULL));
    CHECK_ERR(t.rc, MPX_EBROKEN);
    CHECK_EQ(mpx_barrier_broken(b), 1);
    mpx_barrier_destroy(b);

    /* default timeout from the options (Python's Barrier(timeout=)) */
    mpx_barrier_opts o = {.timeout = 40};
    CHECK_OK(mpx_barrier_create(&b, 2, &o));
    CHECK_ERR(mpx_barrier_wait(b, MPX_FOREVER), MPX_EBROKEN);
    mpx_barrier_destroy(b);

    /* a failing action: its party gets the action's code, others EBROKEN */
    o = (mpx_barrier_opts){.action = fail_action};
    CHECK_OK(mpx_barrier_create(&b, 2, &o));
    start_bar_waiter(b, &t, &th);
    CHECK_ERR(mpx_barrier_wait(b, MPX_FOREVER), -ENOSPC);
    CHECK_OK(pthread_join(th, NULL));
    CHECK_ERR(t.rc, MPX_EBROKEN);
    CHECK_EQ(mpx_barrier_broken(b), 1);
    mpx_barrier_destroy(b);
}

/* ---- owner death (SYNC-20) ---- */

static int t_die_holding(const mpx_args *a)
{
    void *lk = mpx_args_object(a, 0);
    if (mpx_sync_acquire(lk, MPX_FOREVER) != 1)
        return 2;
    if (mpx_args_int(a, 1)) /* RLock: two levels */
        mpx_sync_acquire(lk, MPX_FOREVER);
    raise(SIGKILL);
    return 0;
}

static void die_holding(void *lk, int levels2)
{
    mpx_process *p = start_objs_int(t_die_holding, lk, NULL, levels2);
    CHECK_EQ(join_destroy(p), -SIGKILL);
}

MPX_TEST(sync_20_lock_owner_death)
{
    mpx_lock *l;
    CHECK_OK(mpx_lock_create(&l, NULL));
    die_holding(l, 0);
    CHECK_EQ(mpx_lock_locked(l), 1);
    check_describe(mpx_lock_describe(l), "<Lock(owner=SomeOtherProcess)>");
    /* found dead well within a finite wait (MPX_EOWNERDEAD, not
     * MPX_ETIMEDOUT): no clock in the test */
    CHECK_ERR(mpx_lock_acquire(l, 20000), MPX_EOWNERDEAD);
    CHECK_EQ(mpx_lock_suspect(l), 1);
    check_describe(mpx_lock_describe(l), "<Lock(owner=MainProcess, owner died)>");
    CHECK_OK(mpx_lock_consistent(l));
    CHECK_EQ(mpx_lock_suspect(l), 0);
    CHECK_OK(mpx_lock_release(l));
    CHECK_EQ(mpx_lock_acquire(l, MPX_NOWAIT), 1); /* only the next acquirer is told */
    CHECK_OK(mpx_lock_release(l));
    /* a NOWAIT acquire also detects the death */
    die_holding(l, 0);
    CHECK_ERR(mpx_lock_acquire(l, MPX_NOWAIT), MPX_EOWNERDEAD);
    CHECK_OK(mpx_lock_release(l));
    /* and a timed one */
    die_holding(l, 0);
    CHECK_ERR(mpx_lock_acquire(l, 2000), MPX_EOWNERDEAD);
    CHECK_OK(mpx_lock_release(l));
    mpx_lock_destroy(l);
}

/* The holder is a zombie (killed, not yet joined): still detected. */
static int t_hold_and_sleep(const mpx_args *a)
{
    void *lk = mpx_args_object(a, 0);
    mpx_event *ev = mpx_args_object(a, 1);
    if (mpx_sync_acquire(lk, MPX_FOREVER) != 1)
        return 2;
    mpx_event_set(ev);
    for (;;)
        sleep_ms(1000);
}

MPX_TEST(sync_20_owner_death_zombie_holder)
{
    mpx_rlock *r;
    mpx_event *ev;
    CHECK_OK(mpx_rlock_create(&r, NULL));
    CHECK_OK(mpx_event_create(&ev, NULL));
    mpx_process *p = spawn1(t_hold_and_sleep, r, ev);
    CHECK_EQ(mpx_event_wait(ev, 10000), 1);
    CHECK_EQ(mpx_rlock_acquire(r, 100), 0); /* alive: a real timeout */
    CHECK_OK(mpx_process_kill(p));
    CHECK_ERR(mpx_rlock_acquire(r, 5000), MPX_EOWNERDEAD);
    CHECK_EQ(mpx_rlock_count(r), 1);
    CHECK_EQ(mpx_rlock_suspect(r), 1);
    CHECK_OK(mpx_rlock_consistent(r));
    CHECK_EQ(mpx_rlock_acquire(r, MPX_NOWAIT), 1);
    CHECK_EQ(mpx_rlock_count(r), 2);
    CHECK_OK(mpx_rlock_release(r));
    CHECK_OK(mpx_rlock_release(r));
    CHECK_EQ(join_destroy(p), -SIGKILL);
    mpx_rlock_destroy(r);
    mpx_event_destroy(ev);
}

/* Pid reuse: a live process whose start time differs from the one in the
 * lock word is not the owner. */
MPX_TEST(sync_20_owner_pid_reuse_detected)
{
    mpx_lock *l;
    mpx_event *ev;
    CHECK_OK(mpx_lock_create(&l, NULL));
    CHECK_OK(mpx_event_create(&ev, NULL));
    _Atomic uint64_t *word = &((struct mpx_lock *)l)->w->word;
    /* our own pid with another start time: an earlier process with our pid */
    CHECK_EQ(mpx_lock_acquire(l, MPX_NOWAIT), 1);
    uint64_t mine = atomic_load(word);
    CHECK_EQ(mine & MPX__LK_PIDMASK, getpid());
    atomic_store(word, mine ^ ((uint64_t)1 << 40));
    CHECK_ERR(mpx_lock_acquire(l, MPX_NOWAIT), MPX_EOWNERDEAD);
    CHECK_OK(mpx_lock_release(l));
    /* a live child holding it is alive; the same pid with a wrong start is not */
    mpx_process *p = spawn1(t_hold_and_sleep, l, ev);
    CHECK_EQ(mpx_event_wait(ev, 10000), 1);
    CHECK_EQ(mpx_lock_acquire(l, MPX_NOWAIT), 0);
    CHECK_EQ(mpx_lock_acquire(l, 120), 0);
    uint64_t theirs = atomic_load(word);
    CHECK_EQ(theirs & MPX__LK_PIDMASK, mpx_process_pid(p));
    atomic_store(word, theirs ^ ((uint64_t)1 << 33));
    CHECK_ERR(mpx_lock_acquire(l, MPX_NOWAIT), MPX_EOWNERDEAD);
    CHECK_OK(mpx_lock_release(l));
    CHECK_OK(mpx_process_kill(p));
    CHECK_EQ(join_destroy(p), -SIGKILL);
    mpx_lock_destroy(l);
    mpx_event_destroy(ev);
}

MPX_TEST(sync_20_rlock_owner_death)
{
    mpx_rlock *r;
    CHECK_OK(mpx_rlock_create(&r, NULL));
    die_holding(r, 1);
    CHECK_ERR(mpx_rlock_acquire(r, MPX_FOREVER), MPX_EOWNERDEAD);
    CHECK_EQ(mpx_rlock_count(r), 1); /* the dead owner's levels are gone */
    CHECK_OK(mpx_rlock_release(r));
    CHECK_EQ(mpx_rlock_count(r), 0);
    mpx_rlock_destroy(r);
}

/* A Condition whose lock holder died: the next acquirer is told. */
MPX_TEST(sync_20_condition_lock_holder_dies)
{
    mpx_condition *c;
    mpx_event *ev;
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_OK(mpx_event_create(&ev, NULL));
    mpx_process *p = spawn1(t_hold_and_sleep, mpx_condition_lock(c), ev);
    CHECK_EQ(mpx_event_wait(ev, 10000), 1);
    CHECK_OK(mpx_process_kill(p));
    CHECK_EQ(join_destroy(p), -SIGKILL);
    CHECK_ERR(mpx_condition_acquire(c, MPX_FOREVER), MPX_EOWNERDEAD);
    CHECK_EQ(mpx_rlock_is_mine(mpx_condition_lock(c)), 1);
    CHECK_EQ(mpx_condition_wait(c, 20), 0); /* usable again */
    CHECK_OK(mpx_condition_release(c));
    mpx_condition_destroy(c);
    mpx_event_destroy(ev);
}

/* The waiter sleeps in wait() while the holder dies holding the lock. */
static int t_take_lock_die(const mpx_args *a)
{
    mpx_condition *c = mpx_args_object(a, 0);
    if (mpx_condition_acquire(c, MPX_FOREVER) != 1)
        return 2;
    sleep_ms(50);
    raise(SIGKILL);
    return 0;
}

MPX_TEST(sync_20_condition_waiter_sees_holder_death)
{
    mpx_condition *c;
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    mpx_process *p = spawn1(t_take_lock_die, c, NULL);
    int rc = mpx_condition_wait(c, 20000); /* nobody will notify */
    CHECK_ERR(rc, MPX_EOWNERDEAD);             /* not MPX_ETIMEDOUT */
    CHECK_EQ(mpx_rlock_is_mine(mpx_condition_lock(c)), 1);
    CHECK_EQ(mpx_condition_waiters(c), 0);
    CHECK_OK(mpx_condition_release(c));
    CHECK_EQ(join_destroy(p), -SIGKILL);
    mpx_condition_destroy(c);
}

/* A barrier party killed while waiting breaks the barrier. */
static int t_barrier_wait_forever(const mpx_args *a)
{
    mpx_barrier_wait(mpx_args_object(a, 0), MPX_FOREVER);
    return 0;
}

MPX_TEST(sync_20_barrier_party_dies)
{
    mpx_barrier *b;
    CHECK_OK(mpx_barrier_create(&b, 3, NULL));
    mpx_process *p = spawn1(t_barrier_wait_forever, b, NULL);
    int64_t t0 = mpx_test_now_ms();
    while (mpx_barrier_n_waiting(b) < 1 && mpx_test_now_ms() - t0 < 10000)
        sleep_ms(2);
    CHECK_EQ(mpx_barrier_n_waiting(b), 1);
    CHECK_OK(mpx_process_kill(p));
    CHECK_EQ(join_destroy(p), -SIGKILL);
    CHECK_ERR(mpx_barrier_wait(b, MPX_FOREVER), MPX_EBROKEN);
    CHECK_EQ(mpx_barrier_broken(b), 1);
    mpx_barrier_destroy(b);
}

/*
 * Issue #12 item 6: the last party to arrive must not pass a barrier on
 * which a party died while waiting, however soon after the death it
 * arrives (the waiters' own check runs every 50 ms and may not have seen
 * it yet). Reaped (the death is final) and zombie (killed, not reaped yet)
 * dead parties, several rounds; and a barrier whose waiters are alive
 * still passes.
 */
static int t_barrier_wait_report(const mpx_args *a)
{
    int rc = mpx_barrier_wait(mpx_args_object(a, 0), MPX_FOREVER);
    return rc == 0 || rc == 1 ? 0 : rc == MPX_EBROKEN ? 5 : 6;
}

static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : '?';
}

MPX_TEST_T(issue12_6_sync_16_last_arrival_sees_dead_party, 60)
{
    mpx_sync_set_owner_check(MPX_FOREVER); /* no waiter check: only the last arrival's */
    for (int round = 0; round < 6; round++) {
        mpx_barrier *b;
        CHECK_OK(mpx_barrier_create(&b, 2, NULL));
        mpx_process *p = spawn1(t_barrier_wait_forever, b, NULL);
        int64_t t0 = mpx_test_now_ms();
        while (mpx_barrier_n_waiting(b) < 1 && mpx_test_now_ms() - t0 < 10000)
            sleep_ms(1);
        CHECK_EQ(mpx_barrier_n_waiting(b), 1);
        pid_t pid = mpx_process_pid(p);
        CHECK_OK(mpx_process_kill(p));
        if (round % 2 == 0) {
            CHECK_EQ(join_destroy(p), -SIGKILL); /* reaped */
            p = NULL;
        } else {
            /* dead, not reaped yet (a forkserver child is reaped by the
             * server: then gone) */
            char st;
            while ((st = proc_state(pid)) != 'Z' && st != '?')
                sleep_ms(1);
        }
        CHECK_ERR(mpx_barrier_wait(b, MPX_FOREVER), MPX_EBROKEN);
        CHECK_EQ(mpx_barrier_broken(b), 1);
        CHECK_ERR(mpx_barrier_wait(b, 0), MPX_EBROKEN); /* stays broken until reset */
        if (p)
            CHECK_EQ(join_destroy(p), -SIGKILL);
        /* after reset, live parties pass */
        CHECK_OK(mpx_barrier_reset(b));
        p = spawn1(t_barrier_wait_report, b, NULL);
        int rc = mpx_barrier_wait(b, 20000);
        CHECK(rc == 0 || rc == 1);
        CHECK_EQ(join_destroy(p), 0);
        mpx_barrier_destroy(b);
    }
    mpx_sync_set_owner_check(50);
}

/*
 * Random SIGKILL stress: two workers increment a pair (a, b) under the
 * lock, keeping a == b. A worker is killed at a random moment; the other
 * worker is paused first, so only the victim can hold the lock, and the
 * lock word then tells whether it died holding it. Exactly that many
 * acquirers must get MPX_EOWNERDEAD; every clean acquire sees a == b.
 * st: [a, b, ownerdead, stop, pause, paused0, paused1, bad]
 */
static int t_worker(const mpx_args *a)
{
    void *lk = mpx_args_object(a, 0);
    mpx_array *arr = mpx_args_object(a, 1);
    int id = (int)mpx_args_int(a, 2);
    _Atomic int64_t *st = mpx_array_ptr(arr);
    while (!atomic_load(&st[3])) {
        if (atomic_load(&st[4]) && id == 1) {
            atomic_store(&st[5 + id], 1);
            while (atomic_load(&st[4]) && !atomic_load(&st[3]))
                sleep_ms(1);
            atomic_store(&st[5 + id], 0);
            continue;
        }
        int rc = mpx_sync_acquire(lk, MPX_FOREVER);
        if (rc == MPX_EOWNERDEAD) {
            atomic_fetch_add(&st[2], 1);
            atomic_store(&st[1], atomic_load(&st[0])); /* repair */
        } else if (rc != 1) {
            return 2;
        } else if (atomic_load(&st[0]) != atomic_load(&st[1])) {
            atomic_store(&st[7], 1);
        }
        atomic_fetch_add(&st[0], 1);
        for (volatile int k = 0; k < 200; k++)
            ;
        atomic_fetch_add(&st[1], 1);
        mpx_sync_release(lk);
    }
    return 0;
}

static mpx_process *start_worker(void *lk, mpx_array *arr, int id)
{
    mpx_process *p = start_objs_int(t_worker, lk, arr, id);
    return p;
}

static void kill_stress(void *lk, pid_t (*owner)(void *), int rounds)
{
    mpx_array *arr;
    CHECK_OK(mpx_rawarray_create(&arr, "q", 8, NULL));
    _Atomic int64_t *st = mpx_array_ptr(arr);
    unsigned seed = (unsigned)getpid();
    int held_total = 0;
    for (int r = 0; r < rounds; r++) {
        atomic_store(&st[3], 0);
        atomic_store(&st[4], 0);
        mpx_process *victim = start_worker(lk, arr, 0);
        mpx_process *other = start_worker(lk, arr, 1);
        sleep_ms(5 + (int)(rand_r(&seed) % 25));
        atomic_store(&st[4], 1); /* pause the survivor */
        int64_t t0 = mpx_test_now_ms();
        while (!atomic_load(&st[6]) && mpx_test_now_ms() - t0 < 10000)
            sleep_ms(1);
        CHECK_EQ(atomic_load(&st[6]), 1);
        CHECK_OK(mpx_process_kill(victim));
        pid_t vp = mpx_process_pid(victim);
        CHECK_EQ(join_destroy(victim), -SIGKILL);
        int held = owner(lk) == vp;
        held_total += held;
        atomic_store(&st[4], 0); /* resume: the survivor recovers it */
        sleep_ms(30);
        atomic_store(&st[3], 1);
        CHECK_EQ(join_destroy(other), 0);
        /* the survivor may not have reached the lock: then we are next */
        int rc = mpx_sync_acquire(lk, MPX_FOREVER);
        CHECK(rc == 1 || rc == MPX_EOWNERDEAD);
        if (rc == MPX_EOWNERDEAD) {
            atomic_fetch_add(&st[2], 1);
            atomic_store(&st[1], atomic_load(&st[0]));
        }
        CHECK_EQ(atomic_load(&st[0]), atomic_load(&st[1]));
        CHECK_OK(mpx_sync_release(lk));
        CHECK_EQ(atomic_load(&st[2]), held_total);
        CHECK_EQ(atomic_load(&st[7]), 0);
    }
    fprintf(stderr, "kill stress: holder killed while holding in %d of %d rounds\n", held_total,
            rounds);
    mpx_array_destroy(arr);
}

static pid_t lock_owner(void *l)
{
    return mpx_lock_owner(l);
}

static pid_t rlock_owner(void *l)
{
    return mpx_rlock_owner(l);
}

MPX_TEST_T(sync_20_random_kill_stress_lock, 60)
{
    mpx_lock *l;
    CHECK_OK(mpx_lock_create(&l, NULL));
    kill_stress(l, lock_owner, 12);
    mpx_lock_destroy(l);
}

MPX_TEST_T(sync_20_random_kill_stress_rlock, 60)
{
    mpx_rlock *l;
    CHECK_OK(mpx_rlock_create(&l, NULL));
    kill_stress(l, rlock_owner, 8);
    mpx_rlock_destroy(l);
}

/* ---- lost wake-up stress with spinning off (and no periodic owner
 * checks, which would hide a lost wake-up as a 50 ms stall) ---- */

static void no_spin(void)
{
    mpx_sync_set_spin(0);
    mpx_sync_set_owner_check(MPX_FOREVER);
    setenv("MPX_SYNC_SPIN", "0", 1); /* for spawned children */
    setenv("MPX_SYNC_CHECK_MS", "0", 1);
}

/* Children of the forkserver do not see the parent's settings or
 * environment changes: the no-spin targets switch spinning off themselves. */
static void child_no_spin(void)
{
    mpx_sync_set_spin(0);
    mpx_sync_set_owner_check(MPX_FOREVER);
}

static int t_timed_count(const mpx_args *a)
{
    child_no_spin();
    void *lk = mpx_args_object(a, 0);
    mpx_array *arr = mpx_args_object(a, 1);
    int64_t ms = mpx_args_int(a, 2);
    volatile int64_t *c = mpx_array_ptr(arr);
    int64_t end = mpx_test_now_ms() + ms, n = 0;
    while (mpx_test_now_ms() < end) {
        for (int i = 0; i < 100; i++) {
            if (mpx_sync_acquire(lk, MPX_FOREVER) != 1)
                return 2;
            c[0]++;
            mpx_sync_release(lk);
        }
        n += 100;
    }
    mpx_array_acquire(arr, MPX_FOREVER); /* the array's own lock */
    c[1] += n;
    mpx_array_release(arr);
    return 0;
}

static void lost_wakeup_counting(void *lk)
{
    mpx_array *arr;
    CHECK_OK(mpx_array_create(&arr, "q", 2, NULL, NULL));
    mpx_process *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = start_objs_int(t_timed_count, lk, arr, 700);
    }
    for (int i = 0; i < 3; i++)
        CHECK_EQ(join_destroy(p[i]), 0);
    int64_t *v = mpx_array_ptr(arr);
    CHECK(v[1] > 0);
    CHECK_EQ(v[0], v[1]);
    mpx_array_destroy(arr);
}

MPX_TEST_T(sync_lost_wakeup_stress_nospin, 60)
{
    no_spin();
    void *lk[3];
    make_locks(lk);
    for (int i = 0; i < 3; i++)
        lost_wakeup_counting(lk[i]);
    cond_pingpong(2000, 1);
    destroy_locks(lk);
}

/* notify_all to several sleeping processes, round after round: every
 * requeued sleeper must be woken by the lock's releases (no periodic
 * checks to rescue a lost one). st: [gen, arrived] */
static int t_bcast_worker(const mpx_args *a)
{
    child_no_spin();
    mpx_condition *c = mpx_args_object(a, 0);
    int64_t *st = mpx_array_ptr(mpx_args_object(a, 1));
    int rounds = (int)mpx_args_int(a, 2);
    for (int64_t g = 1; g <= rounds; g++) {
        if (mpx_condition_acquire(c, MPX_FOREVER) != 1)
            return 2;
        st[1]++;
        mpx_condition_notify_all(c); /* tell the driver we arrived */
        while (st[0] < g)
            if (mpx_condition_wait(c, MPX_FOREVER) != 1)
                return 3;
        mpx_condition_release(c);
    }
    return 0;
}

MPX_TEST_T(sync_lost_wakeup_notify_all_nospin, 60)
{
    no_spin();
    enum { W = 3, R = 300 };
    mpx_condition *c;
    mpx_array *st;
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_OK(mpx_rawarray_create(&st, "q", 2, NULL));
    int64_t *v = mpx_array_ptr(st);
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, c));
    CHECK_OK(mpx_args_add_object(a, st));
    CHECK_OK(mpx_args_add_int(a, R));
    mpx_process *p[W];
    for (int i = 0; i < W; i++)
        p[i] = start_args(t_bcast_worker, a);
    mpx_args_destroy(a);
    for (int64_t g = 1; g <= R; g++) {
        CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
        while (v[1] < g * W) /* all arrived for this round */
            CHECK_EQ(mpx_condition_wait(c, MPX_FOREVER), 1);
        v[0] = g;
        CHECK_OK(mpx_condition_notify_all(c));
        CHECK_OK(mpx_condition_release(c));
    }
    for (int i = 0; i < W; i++)
        CHECK_EQ(join_destroy(p[i]), 0);
    mpx_array_destroy(st);
    mpx_condition_destroy(c);
}

/* Semaphore ping-pong between processes, spinning off. */
static int t_sem_pong(const mpx_args *a)
{
    child_no_spin();
    mpx_semaphore *ping = mpx_args_object(a, 0), *pong = mpx_args_object(a, 1);
    int n = (int)mpx_args_int(a, 2);
    for (int i = 0; i < n; i++) {
        if (mpx_semaphore_acquire(ping, MPX_FOREVER) != 1)
            return 2;
        mpx_semaphore_release(pong);
    }
    return 0;
}

static int t_event_pong(const mpx_args *a)
{
    child_no_spin();
    mpx_event *ping = mpx_args_object(a, 0), *pong = mpx_args_object(a, 1);
    int n = (int)mpx_args_int(a, 2);
    for (int i = 0; i < n; i++) {
        if (mpx_event_wait(ping, MPX_FOREVER) != 1)
            return 2;
        mpx_event_clear(ping);
        mpx_event_set(pong);
    }
    return 0;
}

MPX_TEST_T(sync_lost_wakeup_pingpong_nospin, 60)
{
    no_spin();
    enum { N = 3000 };
    mpx_semaphore *ping, *pong;
    CHECK_OK(mpx_semaphore_create(&ping, 0, NULL));
    CHECK_OK(mpx_semaphore_create(&pong, 0, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, ping));
    CHECK_OK(mpx_args_add_object(a, pong));
    CHECK_OK(mpx_args_add_int(a, N));
    mpx_process *p = start_args(t_sem_pong, a);
    for (int i = 0; i < N; i++) {
        CHECK_OK(mpx_semaphore_release(ping));
        CHECK_EQ(mpx_semaphore_acquire(pong, MPX_FOREVER), 1);
    }
    CHECK_EQ(join_destroy(p), 0);
    mpx_args_destroy(a);
    mpx_semaphore_destroy(ping);
    mpx_semaphore_destroy(pong);

    mpx_event *e1, *e2;
    CHECK_OK(mpx_event_create(&e1, NULL));
    CHECK_OK(mpx_event_create(&e2, NULL));
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, e1));
    CHECK_OK(mpx_args_add_object(a, e2));
    CHECK_OK(mpx_args_add_int(a, N));
    p = start_args(t_event_pong, a);
    for (int i = 0; i < N; i++) {
        CHECK_OK(mpx_event_set(e1));
        CHECK_EQ(mpx_event_wait(e2, MPX_FOREVER), 1);
        CHECK_OK(mpx_event_clear(e2));
    }
    CHECK_EQ(join_destroy(p), 0);
    mpx_args_destroy(a);
    mpx_event_destroy(e1);
    mpx_event_destroy(e2);
}

/* ---- SYNC-17: interruptible mode ---- */

static void on_alarm(int sig)
{
    (void)sig;
}

static void ticker(int on)
{
    struct itimerval it;
    memset(&it, 0, sizeof it);
    if (on) {
        it.it_interval.tv_usec = 20000; /* keeps firing: no race with the wait's start */
        it.it_value.tv_usec = 20000;
    }
    setitimer(ITIMER_REAL, &it, NULL);
}

static void interruptible_waits(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    /* issue #13 item 8 (D6): interruptibility is per object */
    mpx_sync_opts io = {.interruptible = 1};
    mpx_lock *l, *plain;
    mpx_semaphore *s, *splain;
    mpx_event *e;
    mpx_condition *c;
    CHECK_OK(mpx_lock_create(&l, &io));
    CHECK_OK(mpx_lock_create(&plain, NULL));
    CHECK_OK(mpx_semaphore_create(&s, 0, &io));
    CHECK_OK(mpx_semaphore_create(&splain, 0, NULL));
    CHECK_OK(mpx_event_create(&e, &io));
    CHECK_OK(mpx_condition_create(&c, NULL, &io));
    CHECK_EQ(mpx_lock_acquire(l, MPX_FOREVER), 1);
    CHECK_EQ(mpx_lock_acquire(plain, MPX_FOREVER), 1);
    /* default objects: handlers run, the wait goes on to its deadline,
     * even while interruptible objects exist in the process */
    ticker(1);
    int64_t t0 = mpx_test_now_ms();
    CHECK_EQ(mpx_semaphore_acquire(splain, 200), 0);
    CHECK_EQ(mpx_lock_acquire(plain, 100), 0);
    CHECK(mpx_test_now_ms() - t0 >= 280);
    /* interruptible objects: -EINTR */
    t0 = mpx_test_now_ms();
    CHECK_ERR(mpx_lock_acquire(l, 5000), -EINTR);
    CHECK_ERR(mpx_semaphore_acquire(s, 5000), -EINTR);
    CHECK_ERR(mpx_event_wait(e, 5000), -EINTR);
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    CHECK_ERR(mpx_condition_wait(c, 5000), -EINTR);
    CHECK_EQ(mpx_rlock_is_mine(mpx_condition_lock(c)), 1); /* re-acquired */
    CHECK_EQ(mpx_condition_waiters(c), 0);
    CHECK_OK(mpx_condition_release(c));
    ticker(0); /* each wait above ended with -EINTR, not its timeout */
    /* nothing of the caller's signal mask changed */
    sigset_t m;
    pthread_sigmask(SIG_BLOCK, NULL, &m);
    CHECK_EQ(sigismember(&m, SIGALRM), 0);
    CHECK_EQ(sigismember(&m, SIGINT), 0);
    CHECK_OK(mpx_lock_release(l));
    CHECK_OK(mpx_lock_release(plain));
    mpx_lock_destroy(l);
    mpx_lock_destroy(plain);
    mpx_semaphore_destroy(s);
    mpx_semaphore_destroy(splain);
    mpx_event_destroy(e);
    mpx_condition_destroy(c);
}

MPX_TEST(sync_17_interruptible_waits)
{
    if (getenv("MPX_TEST_VALGRIND"))
        MPX_SKIP("valgrind restarts interrupted futex waits itself");
    interruptible_waits();
}

/* The same without io_uring futex waits (older kernels, io_uring
 * disabled): sigprocmask around plain futex sleeps. */
MPX_TEST(sync_17_interruptible_waits_fallback)
{
    if (getenv("MPX_TEST_VALGRIND"))
        MPX_SKIP("valgrind restarts interrupted futex waits itself");
    setenv("MPX_SYNC_INTR_URING", "0", 1);
    CHECK_EQ(mpx__intr_exact(), 0);
    interruptible_waits();
}

/*
 * Issue #12 item 4: a delivered signal ends an interruptible wait every
 * time, whatever its offset from the waits' 50 ms owner-check slices
 * (the old code missed a handler that ran as a slice timed out). The
 * sender waits until the waiter sleeps in the kernel (its /proc state is
 * S), then waits a varied delay (multiples of the slice and a few ms
 * around them) and sends SIGUSR1 to the waiting thread; every wait must
 * return -EINTR (MPX_FOREVER waits: a missed signal hangs the test, which
 * its time limit fails). A Lock held by a child process (live owner: the
 * waiter checks it on every slice), a Condition, a Semaphore, an Event,
 * a Barrier.
 */
static volatile sig_atomic_t usr1_seen;
static void on_usr1(int sig)
{
    (void)sig;
    usr1_seen++;
}

struct kicker {
    pthread_t target;
    pid_t tid;
    _Atomic int go;   /* round number to run, 0: none, -1: stop */
    _Atomic int done; /* last round whose signal was sent */
    int delay_us;
    bool process_directed;
};

static char thread_state(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : '?';
}

static void *kicker_main(void *arg)
{
    struct kicker *k = arg;
    sigset_t m; /* this thread never takes SIGUSR1: a process-directed one goes to the waiter */
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &m, NULL);
    int last = 0;
    for (;;) {
        int r = atomic_load(&k->go);
        if (r < 0)
            return NULL;
        if (r == last) {
            sleep_ms(1);
            continue;
        }
        /* the waiter is in the wait once it sleeps in the kernel */
        while (thread_state(k->tid) != 'S' && atomic_load(&k->go) == r)
            sched_yield();
        struct timespec t = {k->delay_us / 1000000, (long)(k->delay_us % 1000000) * 1000};
        while (nanosleep(&t, &t) < 0)
            ;
        if (k->process_directed)
            kill(getpid(), SIGUSR1);
        else
            pthread_kill(k->target, SIGUSR1);
        last = r;
        atomic_store(&k->done, r);
    }
}

static int t_hold_lock_until_set(const mpx_args *a)
{
    mpx_lock *l = mpx_args_object(a, 0);
    mpx_event *e = mpx_args_object(a, 1);
    mpx_event *held = mpx_args_object(a, 2);
    if (mpx_lock_acquire(l, MPX_FOREVER) != 1)
        return 2;
    mpx_event_set(held);
    mpx_event_wait(e, MPX_FOREVER);
    return mpx_lock_release(l) ? 3 : 0;
}

MPX_TEST_T(issue12_4_sync_17_signal_always_ends_interruptible_wait, 180)
{
    if (getenv("MPX_TEST_VALGRIND"))
        MPX_SKIP("valgrind restarts interrupted futex waits itself");
    if (!mpx__intr_exact())
        MPX_SKIP("no io_uring futex waits here (Linux < 6.7 or io_uring disabled): "
                 "the documented fallback may miss a signal at a slice boundary");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART; /* the hard case: the kernel would restart a plain futex wait */
    sigaction(SIGUSR1, &sa, NULL);
    mpx_sync_opts io = {.interruptible = 1};
    mpx_lock *l;
    mpx_condition *c;
    mpx_semaphore *s;
    mpx_event *e, *stop, *held;
    mpx_barrier *b;
    CHECK_OK(mpx_lock_create(&l, &io));
    CHECK_OK(mpx_condition_create(&c, NULL, &io));
    CHECK_OK(mpx_semaphore_create(&s, 0, &io));
    CHECK_OK(mpx_event_create(&e, &io));
    CHECK_OK(mpx_event_create(&stop, NULL));
    CHECK_OK(mpx_event_create(&held, NULL));
    CHECK_OK(mpx_barrier_create(&b, 2, &(mpx_barrier_opts){.interruptible = 1}));
    mpx_args *ha;
    CHECK_OK(mpx_args_create(&ha));
    CHECK_OK(mpx_args_add_object(ha, l));
    CHECK_OK(mpx_args_add_object(ha, stop));
    CHECK_OK(mpx_args_add_object(ha, held));
    mpx_process *holder = start_args(t_hold_lock_until_set, ha);
    mpx_args_destroy(ha);
    CHECK_EQ(mpx_event_wait(held, 20000), 1);
    struct kicker k = {.target = pthread_self(), .tid = (pid_t)syscall(SYS_gettid)};
    pthread_t kt;
    CHECK_OK(pthread_create(&kt, NULL, kicker_main, &k));
    int round = 0;
    for (int i = 0; i < 40; i++) {
        /* delays around the 50 ms slices: 0..3 slices, -3..+3 ms */
        int slice = i % 4, jitter = (i * 7) % 7 - 3;
        int ms = slice * 50 + jitter;
        k.delay_us = (ms < 1 ? 1 : ms) * 1000 + (i * 371) % 1000;
        k.process_directed = i % 5 == 4;
        for (int prim = 0; prim < 5; prim++) {
            sig_atomic_t before = usr1_seen;
            round++;
            atomic_store(&k.go, round);
            int rc;
            switch (prim) {
            case 0:
                rc = mpx_lock_acquire(l, MPX_FOREVER);
                break;
            case 1:
                CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
                rc = mpx_condition_wait(c, MPX_FOREVER);
                CHECK_EQ(mpx_rlock_is_mine(mpx_condition_lock(c)), 1);
                CHECK_OK(mpx_condition_release(c));
                break;
            case 2:
                rc = mpx_semaphore_acquire(s, MPX_FOREVER);
                break;
            case 3:
                rc = mpx_event_wait(e, MPX_FOREVER);
                break;
            default:
                rc = mpx_barrier_wait(b, MPX_FOREVER);
                CHECK_OK(mpx_barrier_reset(b));
                break;
            }
            if (rc != -EINTR)
                FAIL("round %d primitive %d delay %d us: returned %d (%s)", i, prim,
                     k.delay_us, rc, mpx_err_name(rc));
            CHECK(usr1_seen != before); /* the handler ran, by the time the call returned */
            while (atomic_load(&k.done) != round)
                sleep_ms(1);
        }
    }
    atomic_store(&k.go, -1);
    CHECK_OK(pthread_join(kt, NULL));
    CHECK_OK(mpx_event_set(stop));
    CHECK_EQ(join_destroy(holder), 0);
    mpx_lock_destroy(l);
    mpx_condition_destroy(c);
    mpx_semaphore_destroy(s);
    mpx_event_destroy(e);
    mpx_event_destroy(stop);
    mpx_event_destroy(held);
    mpx_barrier_destroy(b);
}

/* ---- export / import round trip (what spawn and forkserver use) ---- */

MPX_TEST(sync_19_export_import_roundtrip)
{
    mpx_lock *l;
    mpx_rlock *r;
    mpx_semaphore *s;
    mpx_condition *c;
    mpx_event *e;
    mpx_barrier *b;
    CHECK_OK(mpx_lock_create(&l, NULL));
    CHECK_OK(mpx_rlock_create(&r, NULL));
    CHECK_OK(mpx_bounded_semaphore_create(&s, 2, NULL));
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_OK(mpx_event_create(&e, NULL));
    CHECK_OK(mpx_barrier_create(&b, 1, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    void *objs[] = {l, r, s, c, e, b};
    for (int i = 0; i < 6; i++)
        CHECK_OK(mpx_args_add_object(a, objs[i]));
    mpx__buf buf;
    mpx__buf_init(&buf);
    mpx__fdlist fds = {.n = 0};
    CHECK_OK(mpx__args_export(a, NULL, &buf, &fds));
    CHECK_EQ(fds.n, 6); /* the condition's default RLock shares its segment */
    int dup_fds[64];
    for (int i = 0; i < fds.n; i++) {
        dup_fds[i] = fcntl(fds.fds[i], F_DUPFD_CLOEXEC, 0);
        CHECK(dup_fds[i] >= 0);
    }
    mpx__rd rd = {buf.data, buf.len};
    mpx_args *in;
    CHECK_OK(mpx__args_import(&rd, dup_fds, fds.n, &in));
    mpx__buf_free(&buf);
    mpx_lock *l2;
    mpx_rlock *r2;
    mpx_semaphore *s2;
    mpx_condition *c2;
    mpx_event *e2;
    mpx_barrier *b2;
    CHECK_OK(mpx_args_get_object(in, 0, "lock", (void **)&l2));
    CHECK_OK(mpx_args_get_object(in, 1, "rlock", (void **)&r2));
    CHECK_OK(mpx_args_get_object(in, 2, "semaphore", (void **)&s2));
    CHECK_OK(mpx_args_get_object(in, 3, "condition", (void **)&c2));
    CHECK_OK(mpx_args_get_object(in, 4, "event", (void **)&e2));
    CHECK_OK(mpx_args_get_object(in, 5, "barrier", (void **)&b2));
    CHECK(l2 != l && r2 != r && c2 != c);
    /* same shared state through both handles */
    CHECK_EQ(mpx_lock_acquire(l, 0), 1);
    CHECK_EQ(mpx_lock_acquire(l2, 0), 0);
    CHECK_OK(mpx_lock_release(l2));
    CHECK_EQ(mpx_rlock_acquire(r, 0), 1);
    CHECK_EQ(mpx_rlock_acquire(r2, 0), 1); /* same thread: recursion */
    CHECK_EQ(mpx_rlock_count(r), 2);
    CHECK_OK(mpx_rlock_release(r2));
    CHECK_OK(mpx_rlock_release(r));
    CHECK_EQ(mpx_semaphore_acquire(s2, 0), 1);
    CHECK_EQ(mpx_semaphore_get_value(s), 1);
    CHECK_OK(mpx_semaphore_release(s2));
    CHECK_ERR(mpx_semaphore_release(s2), MPX_ESTATE); /* the bound travels */
    CHECK_EQ(mpx_condition_acquire(c, 0), 1);
    CHECK_EQ(mpx_rlock_is_mine(mpx_condition_lock(c2)), 1);
    CHECK_EQ(mpx_condition_wait(c2, 10), 0);
    CHECK_OK(mpx_condition_release(c2));
    CHECK_OK(mpx_event_set(e));
    CHECK_EQ(mpx_event_is_set(e2), 1);
    CHECK_EQ(mpx_barrier_parties(b2), 1);
    CHECK_EQ(mpx_barrier_wait(b2, 0), 0);
    mpx_args_destroy(in);
    mpx_args_destroy(a);
    mpx_lock_destroy(l);
    mpx_rlock_destroy(r);
    mpx_semaphore_destroy(s);
    mpx_condition_destroy(c);
    mpx_event_destroy(e);
    mpx_barrier_destroy(b);
}

/* Garbage import data is rejected, never crashes, closes the fds. */
MPX_TEST(sync_19_import_rejects_garbage)
{
    const char *names[] = {"lock", "rlock", "semaphore", "condition", "event", "barrier"};
    unsigned char junk[64];
    for (int n = 0; n < 6; n++) {
        for (int len = 0; len <= 40; len += 8) {
            for (int i = 0; i < len; i++)
                junk[i] = (unsigned char)(i * 37 + n + len);
            check_import_rejects(names[n], junk, (size_t)len);
        }
    }
}

/* SYNC-19 / CTX-09: a lock made for the fork context cannot go to a spawn
 * child; one made without a context (or for spawn) can. */
static int t_nothing(const mpx_args *a)
{
    (void)a;
    return 0;
}

MPX_TEST(sync_19_context_of_objects)
{
    if (getenv("MPX_TEST_VALGRIND"))
        MPX_SKIP("spawn re-executes the program, which valgrind does not allow");
    mpx_context *fork_ctx, *spawn_ctx;
    CHECK_OK(mpx_get_context(&fork_ctx, "fork"));
    CHECK_OK(mpx_get_context(&spawn_ctx, "spawn"));
    mpx_sync_opts fo = {.ctx = fork_ctx};
    mpx_lock *lf, *ln;
    CHECK_OK(mpx_lock_create(&lf, &fo));
    CHECK_OK(mpx_lock_create(&ln, NULL));
    mpx_process_opts po = {.ctx = spawn_ctx};
    mpx_args *a;
    mpx_process *p;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, lf));
    CHECK_OK(mpx_process_create(&p, t_nothing, a, &po));
    CHECK_ERR(mpx_process_start(p), MPX_ECONTEXT);
    mpx_process_destroy(p);
    mpx_args_destroy(a);
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, ln));
    CHECK_OK(mpx_process_create(&p, t_nothing, a, &po));
    CHECK_OK(mpx_process_start(p));
    CHECK_EQ(join_destroy(p), 0);
    mpx_args_destroy(a);
    mpx_lock_destroy(lf);
    mpx_lock_destroy(ln);
}

/* The shared heap: many small objects share a few descriptors, and all
 * are returned when the objects are destroyed. */
#include <dirent.h>

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

MPX_TEST(sync_shared_heap_few_descriptors)
{
    enum { N = 600 };
    static mpx_lock *l[N];
    static mpx_rlock *r[N];
    static mpx_semaphore *s[N];
    static mpx_event *e[N];
    static mpx_condition *c[N];
    int before = count_fds();
    CHECK(before > 0);
    for (int i = 0; i < N; i++) {
        CHECK_OK(mpx_lock_create(&l[i], NULL));
        CHECK_OK(mpx_rlock_create(&r[i], NULL));
        CHECK_OK(mpx_semaphore_create(&s[i], (unsigned)i, NULL));
        CHECK_OK(mpx_event_create(&e[i], NULL));
        CHECK_OK(mpx_condition_create(&c[i], i % 2 ? (void *)l[i] : NULL, NULL));
    }
    int during = count_fds();
    CHECK(during - before < 5 * N / 50); /* hundreds of objects per descriptor */
    /* every object is its own: no two share state */
    for (int i = 0; i < N; i++) {
        CHECK_EQ(mpx_lock_acquire(l[i], MPX_NOWAIT), 1);
        CHECK_EQ(mpx_rlock_acquire(r[i], MPX_NOWAIT), 1);
        CHECK_EQ(mpx_semaphore_get_value(s[i]), i);
        CHECK_OK(mpx_event_set(e[i]));
    }
    for (int i = 0; i < N; i++) {
        CHECK_EQ(mpx_lock_locked(l[i]), 1);
        CHECK_EQ(mpx_rlock_count(r[i]), 1);
        CHECK_EQ(mpx_event_is_set(e[i]), 1);
        CHECK_OK(mpx_lock_release(l[i]));
        CHECK_OK(mpx_rlock_release(r[i]));
        CHECK_EQ(mpx_condition_acquire(c[i], MPX_NOWAIT), 1);
        CHECK_OK(mpx_condition_release(c[i]));
    }
    for (int i = 0; i < N; i++) {
        mpx_condition_destroy(c[i]);
        mpx_lock_destroy(l[i]);
        mpx_rlock_destroy(r[i]);
        mpx_semaphore_destroy(s[i]);
        mpx_event_destroy(e[i]);
    }
    CHECK_EQ(count_fds(), before);
}

/* A child keeps using an object whose creator destroyed its handle, and
 * objects created afterwards never overlap it. */
static int t_use_after_parent_destroy(const mpx_args *a)
{
    mpx_lock *l = mpx_args_object(a, 0);
    mpx_event *go = mpx_args_object(a, 1);
    if (mpx_event_wait(go, 20000) != 1)
        return 2;
    for (int i = 0; i < 1000; i++) {
        if (mpx_lock_acquire(l, MPX_FOREVER) != 1)
            return 3;
        if (mpx_lock_release(l))
            return 4;
    }
    return mpx_lock_locked(l) == 0 ? 0 : 5;
}

MPX_TEST(sync_shared_heap_no_reuse_under_children)
{
    mpx_lock *l;
    mpx_event *go;
    CHECK_OK(mpx_lock_create(&l, NULL));
    CHECK_OK(mpx_event_create(&go, NULL));
    mpx_process *p = spawn1(t_use_after_parent_destroy, l, go);
    mpx_lock_destroy(l);
    /* new objects must not land on the destroyed lock's bytes */
    mpx_lock *fresh[64];
    for (int i = 0; i < 64; i++) {
        CHECK_OK(mpx_lock_create(&fresh[i], NULL));
        CHECK_EQ(mpx_lock_acquire(fresh[i], MPX_NOWAIT), 1);
    }
    CHECK_OK(mpx_event_set(go));
    CHECK_EQ(join_destroy(p), 0);
    for (int i = 0; i < 64; i++) {
        CHECK_EQ(mpx_lock_locked(fresh[i]), 1);
        CHECK_OK(mpx_lock_release(fresh[i]));
        mpx_lock_destroy(fresh[i]);
    }
    mpx_event_destroy(go);
}

/* ---- SYNC-13: notify(1) wakes on unlock (docs/sync.md) ----
 * notify(1) on a Condition with its own lock defers the FUTEX_WAKE to the
 * lock's release. Every way of releasing must do it: condition release,
 * release through the lock's own handle, the last level of an RLock (not
 * an inner one), and wait. Spinning and owner checks are off, so a missed
 * deferred wake hangs and fails by the time limit. */
static int t_cond_turns(const mpx_args *a)
{
    child_no_spin();
    mpx_condition *c = mpx_args_object(a, 0);
    mpx_array *st = mpx_args_object(a, 1);
    int n = (int)mpx_args_int(a, 2);
    volatile int64_t *v = mpx_array_ptr(st);
    for (int i = 0; i < n; i++) {
        if (mpx_condition_acquire(c, MPX_FOREVER) != 1)
            return 2;
        while (v[0] != 2 * i + 1)
            if (mpx_condition_wait(c, MPX_FOREVER) != 1)
                return 3;
        v[0] = 2 * i + 2;
        if (mpx_condition_notify(c, 1))
            return 4;
        if (mpx_condition_release(c))
            return 5;
    }
    return 0;
}

MPX_TEST_T(sync_13_condition_wake_on_unlock_paths_nospin, 60)
{
    no_spin();
    enum { N = 600 };
    mpx_condition *c;
    mpx_array *st;
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_OK(mpx_array_create(&st, "q", 1, NULL, NULL));
    volatile int64_t *v = mpx_array_ptr(st);
    mpx_rlock *lk = mpx_condition_lock(c);
    CHECK(lk != NULL);
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, c));
    CHECK_OK(mpx_args_add_object(a, st));
    CHECK_OK(mpx_args_add_int(a, N));
    mpx_process *p = start_args(t_cond_turns, a);
    for (int i = 0; i < N; i++) {
        int how = i % 3;
        CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
        if (how == 2)
            CHECK_EQ(mpx_rlock_acquire(lk, MPX_FOREVER), 1); /* level 2 */
        v[0] = 2 * i + 1;
        CHECK_OK(mpx_condition_notify(c, 1));
        if (how == 0) {
            CHECK_OK(mpx_condition_release(c));
        } else if (how == 1) {
            CHECK_OK(mpx_rlock_release(lk));
        } else {
            CHECK_OK(mpx_rlock_release(lk)); /* inner level: no wake yet */
            CHECK_EQ(mpx_rlock_count(lk), 1);
            CHECK_OK(mpx_condition_release(c));
        }
        CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
        while (v[0] != 2 * i + 2)
            CHECK_EQ(mpx_condition_wait(c, MPX_FOREVER), 1); /* the child's notify */
        CHECK_OK(mpx_condition_release(c));
    }
    CHECK_EQ(join_destroy(p), 0);
    CHECK_EQ(mpx_rlock_count(lk), 0);
    mpx_args_destroy(a);
    mpx_array_destroy(st);
    mpx_condition_destroy(c);
}

/* ---- the one owner-death check (#14) ------------------------------------------------------- */

/* Token (core/lockword.h) of live process pid; with right unset, as if
 * its pid had been reused (another start time). */
static uint64_t owner_token_of(pid_t pid, bool right)
{
    char state;
    uint64_t start = 0;
    CHECK_OK(mpx__proc_stat(pid, &state, &start));
    uint32_t st = (uint32_t)start;
    if (!right)
        st = st ^ 0x5a5a5a5au ? st ^ 0x5a5a5a5au : 1u;
    return ((uint64_t)st << 32) | ((uint32_t)pid & MPX__LK_PIDMASK);
}

/* mpx__owner_alive, used by locks, conditions, barriers and queues: a
 * live process is alive under its own token only; a reaped one is dead. */
MPX_TEST(sync_owner_alive_pid_reuse)
{
    pid_t other = getppid();
    CHECK(other > 1);
    CHECK(mpx__owner_alive(owner_token_of(other, true)));
    CHECK(mpx__owner_alive(owner_token_of(other, true) | MPX__LK_FLAGBITS));
    CHECK(!mpx__owner_alive(owner_token_of(other, false)));
    CHECK(mpx__owner_alive(mpx__self_token()));
    CHECK(!mpx__owner_alive(owner_token_of(getpid(), false)));
    CHECK(mpx__owner_alive(0)); /* no owner */
    pid_t c = fork();
    CHECK(c >= 0);
    if (c == 0)
        _exit(0);
    uint64_t dead = owner_token_of(c, true);
    CHECK_EQ(waitpid(c, NULL, 0), c);
    CHECK(!mpx__owner_alive(dead));
}

/* A Condition (its default RLock) and an RLock whose word names a live
 * process under another start time (a dead owner's reused pid) are taken
 * over; under the live process's own token they stay held. */
MPX_TEST(sync_condition_rlock_owner_pid_reuse)
{
    pid_t other = getppid();
    mpx_condition *c;
    mpx_rlock *r;
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_OK(mpx_rlock_create(&r, NULL));
    struct mpx_lock *locks[2] = {mpx_condition_lock(c), (struct mpx_lock *)r};
    for (int i = 0; i < 2; i++) {
        _Atomic uint64_t *word = &locks[i]->w->word;
        atomic_store(word, owner_token_of(other, true));
        CHECK_EQ(mpx_sync_acquire(locks[i], MPX_NOWAIT), 0);
        atomic_store(word, owner_token_of(other, false));
        CHECK_ERR(mpx_sync_acquire(locks[i], MPX_NOWAIT), MPX_EOWNERDEAD);
        CHECK_EQ(atomic_load(word) & ~MPX__LK_FLAGBITS, mpx__self_token());
        CHECK_OK(mpx_sync_release(locks[i]));
    }
    CHECK_EQ(mpx_condition_acquire(c, MPX_NOWAIT), 1);
    CHECK_OK(mpx_condition_release(c));
    mpx_condition_destroy(c);
    mpx_rlock_destroy(r);
}

/* The one spin setting (docs/design.md "Spinning"): MPX_SPIN for every
 * component, the older names as aliases that win for theirs, the
 * component defaults when nothing is set. */
MPX_TEST(spin_setting_one_name_aliases)
{
    unsetenv("MPX_SPIN");
    unsetenv("MPX_SYNC_SPIN");
    unsetenv("MPX_QUEUE_SPIN");
    long v;
    CHECK(!mpx__spin_env(MPX__SPIN_QUEUE, &v));
    CHECK_EQ(mpx__spin_default(MPX__SPIN_QUEUE), 200);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_POOL), 2000);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_SYNC), sysconf(_SC_NPROCESSORS_ONLN) == 1 ? 0 : 100);
    setenv("MPX_SPIN", "7", 1);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_QUEUE), 7);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_POOL), 7);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_SYNC), 7);
    setenv("MPX_QUEUE_SPIN", "0", 1);
    setenv("MPX_SYNC_SPIN", "3", 1);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_QUEUE), 0);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_SYNC), 3);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_POOL), 7);
    setenv("MPX_SPIN", "-5", 1); /* out of range: clamped (sync, pool) or ignored (queue) */
    unsetenv("MPX_QUEUE_SPIN");
    unsetenv("MPX_SYNC_SPIN");
    CHECK_EQ(mpx__spin_default(MPX__SPIN_SYNC), 0);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_POOL), 0);
    CHECK_EQ(mpx__spin_default(MPX__SPIN_QUEUE), 200);
    unsetenv("MPX_SPIN");
}
