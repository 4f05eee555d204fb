/* test_sync.c - Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event,
 * Barrier (SYNC-01..16, 18, 19, 21).
 * Children are started with mpx_process so the tests run under every
 * start method. */
#include "sync_util.h"

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
