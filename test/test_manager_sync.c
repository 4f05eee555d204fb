/* test_manager_sync.c - SyncManager's synchronisation types and queues
 * used through proxies from this process, its threads and its children
 * under every start method (#16, MGR-03, MGR-16, MGR-22, GUIDE-03):
 * Lock, RLock (owned per thread), Semaphore, BoundedSemaphore, Condition,
 * Event, Barrier, Queue (bounded, timeouts), JoinableQueue. */
#include "harness.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

static int run_child(mpx_target_fn fn, mpx_proxy *a, mpx_proxy *b)
{
    mpx_args *args;
    mpx_process *p;
    CHECK_OK(mpx_args_create(&args));
    CHECK_OK(mpx_args_add_object(args, a));
    if (b)
        CHECK_OK(mpx_args_add_object(args, b));
    CHECK_OK(mpx_process_create(&p, fn, args, NULL));
    mpx_args_destroy(args);
    CHECK_OK(mpx_process_start(p));
    mpx_process_join(p, MPX_FOREVER);
    int code = -1;
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    mpx_process_destroy(p);
    return code;
}

static mpx_process *start_child(mpx_target_fn fn, mpx_proxy *a, mpx_proxy *b)
{
    mpx_args *args;
    mpx_process *p;
    CHECK_OK(mpx_args_create(&args));
    CHECK_OK(mpx_args_add_object(args, a));
    if (b)
        CHECK_OK(mpx_args_add_object(args, b));
    CHECK_OK(mpx_process_create(&p, fn, args, NULL));
    mpx_args_destroy(args);
    CHECK_OK(mpx_process_start(p));
    return p;
}

static int child_code(mpx_process *p)
{
    mpx_process_join(p, MPX_FOREVER);
    int code = -1;
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    mpx_process_destroy(p);
    return code;
}

/* ---- Lock ------------------------------------------------------------------------------ */

static int lock_try(const mpx_args *a)
{
    int rc = mpx_proxy_acquire(mpx_args_object(a, 0), MPX_NOWAIT);
    return rc == 0 ? 10 : rc == 1 ? 11 : 1;
}

static int lock_take_release(const mpx_args *a)
{
    mpx_proxy *l = mpx_args_object(a, 0);
    if (mpx_proxy_acquire(l, 10000) != 1)
        return 1;
    return mpx_proxy_release(l) == 0 ? 20 : 2;
}

MPX_TEST_T(mgr_sync_lock_across_processes, 60)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *l;
    CHECK_OK(mpx_manager_lock(m, &l));
    CHECK_STREQ(mpx_proxy_type_name(l), "AcquirerProxy");
    CHECK_EQ(mpx_proxy_acquire(l, MPX_FOREVER), 1);
    CHECK_EQ(run_child(lock_try, l, NULL), 10); /* held by us */
    CHECK_EQ(mpx_proxy_acquire(l, 30), 0);      /* timed out */
    char *s = mpx_proxy_str(l);
    CHECK(strncmp(s, "<locked _thread.lock object", 27) == 0);
    mpx_free(s);
    CHECK_OK(mpx_proxy_release(l));
    CHECK_ERR(mpx_proxy_release(l), MPX_ESTATE); /* release unlocked lock */
    CHECK_EQ(run_child(lock_take_release, l, NULL), 20);
    CHECK_EQ(mpx_proxy_acquire(l, MPX_NOWAIT), 1);
    CHECK_OK(mpx_proxy_release(l));
    mpx_proxy_destroy(l);
    mpx_manager_destroy(m);
}

/* ---- RLock: owned by the thread (its connection) ----------------------------------------- */

static void *rlock_other_thread(void *arg)
{
    mpx_proxy *r = arg;
    intptr_t rc = mpx_proxy_release(r);            /* not ours: RuntimeError */
    intptr_t busy = mpx_proxy_acquire(r, MPX_NOWAIT); /* held by the other thread */
    return (void *)(rc * 10 + busy);
}

MPX_TEST_T(mgr_sync_rlock_per_thread, 60)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *r;
    CHECK_OK(mpx_manager_rlock(m, &r));
    CHECK_EQ(mpx_proxy_acquire(r, MPX_FOREVER), 1);
    CHECK_EQ(mpx_proxy_acquire(r, MPX_NOWAIT), 1); /* recursive */
    pthread_t th;
    void *res;
    CHECK_EQ(pthread_create(&th, NULL, rlock_other_thread, r), 0);
    pthread_join(th, &res);
    CHECK_EQ((intptr_t)res, (intptr_t)MPX_ESTATE * 10 + 0);
    CHECK_OK(mpx_proxy_release(r));
    CHECK_OK(mpx_proxy_release(r));
    CHECK_ERR(mpx_proxy_release(r), MPX_ESTATE);
    mpx_proxy_destroy(r);
    mpx_manager_destroy(m);
}

/* ---- Semaphore and BoundedSemaphore -------------------------------------------------------- */

MPX_TEST(mgr_sync_semaphores)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *s, *b;
    CHECK_OK(mpx_manager_semaphore(m, 2, &s));
    CHECK_EQ(mpx_proxy_acquire(s, MPX_FOREVER), 1);
    CHECK_EQ(mpx_proxy_acquire(s, MPX_NOWAIT), 1);
    CHECK_EQ(mpx_proxy_acquire(s, MPX_NOWAIT), 0);
    CHECK_EQ(mpx_proxy_acquire(s, 20), 0);
    CHECK_OK(mpx_proxy_release(s));
    CHECK_OK(mpx_proxy_release(s));
    CHECK_OK(mpx_proxy_release(s)); /* a Semaphore may go over its start */
    CHECK_OK(mpx_manager_bounded_semaphore(m, 1, &b));
    CHECK_EQ(mpx_proxy_acquire(b, MPX_NOWAIT), 1);
    CHECK_OK(mpx_proxy_release(b));
    CHECK_ERR(mpx_proxy_release(b), MPX_EINVAL); /* ValueError */
    mpx_proxy *bad;
    CHECK_ERR(mpx_manager_semaphore(m, -1, &bad), MPX_EINVAL);
    mpx_proxy_destroy(s);
    mpx_proxy_destroy(b);
    mpx_manager_destroy(m);
}

/* ---- Condition and Event ------------------------------------------------------------------ */

static int cond_waiter(const mpx_args *a)
{
    mpx_proxy *c = mpx_args_object(a, 0), *ready = mpx_args_object(a, 1);
    if (mpx_proxy_acquire(c, MPX_FOREVER) != 1)
        return 1;
    if (mpx_proxy_event_set(ready))
        return 2;
    int rc = mpx_proxy_condition_wait(c, 30000);
    mpx_proxy_release(c);
    return rc == 1 ? 30 : 3;
}

MPX_TEST_T(mgr_sync_condition_across_processes, 60)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *lock, *c, *ready;
    CHECK_OK(mpx_manager_lock(m, &lock));
    CHECK_OK(mpx_manager_condition(m, lock, &c)); /* Condition(lock) */
    CHECK_STREQ(mpx_proxy_type_name(c), "ConditionProxy");
    CHECK_OK(mpx_manager_event(m, &ready));
    /* wait without holding the lock: RuntimeError */
    CHECK_ERR(mpx_proxy_condition_wait(c, 10), MPX_ESTATE);
    CHECK_EQ(mpx_proxy_acquire(c, MPX_FOREVER), 1);
    CHECK_EQ(mpx_proxy_condition_wait(c, 20), 0); /* timed out, lock back */
    CHECK_EQ(mpx_proxy_acquire(lock, MPX_NOWAIT), 0); /* the same lock, held */
    CHECK_OK(mpx_proxy_release(c));
    mpx_process *p = start_child(cond_waiter, c, ready);
    CHECK_EQ(mpx_proxy_event_wait(ready, 30000), 1);
    CHECK_EQ(mpx_proxy_acquire(c, MPX_FOREVER), 1); /* the waiter released it */
    CHECK_OK(mpx_proxy_condition_notify(c, 1));
    CHECK_OK(mpx_proxy_release(c));
    CHECK_EQ(child_code(p), 30);
    /* notify_all with none waiting is fine; without the lock it is not */
    CHECK_EQ(mpx_proxy_acquire(c, MPX_FOREVER), 1);
    CHECK_OK(mpx_proxy_condition_notify_all(c));
    CHECK_OK(mpx_proxy_release(c));
    CHECK_ERR(mpx_proxy_condition_notify(c, 1), MPX_ESTATE);
    mpx_proxy_destroy(c);
    mpx_proxy_destroy(lock);
    mpx_proxy_destroy(ready);
    mpx_manager_destroy(m);
}

static int event_waiter(const mpx_args *a)
{
    return mpx_proxy_event_wait(mpx_args_object(a, 0), 30000) == 1 ? 40 : 4;
}

MPX_TEST_T(mgr_sync_event_across_processes, 60)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *e;
    CHECK_OK(mpx_manager_event(m, &e));
    CHECK_STREQ(mpx_proxy_type_name(e), "EventProxy");
    CHECK_EQ(mpx_proxy_event_is_set(e), 0);
    CHECK_EQ(mpx_proxy_event_wait(e, MPX_NOWAIT), 0);
    CHECK_EQ(mpx_proxy_event_wait(e, 20), 0);
    mpx_process *p = start_child(event_waiter, e, NULL);
    CHECK_OK(mpx_proxy_event_set(e));
    CHECK_EQ(child_code(p), 40);
    CHECK_EQ(mpx_proxy_event_is_set(e), 1);
    CHECK_OK(mpx_proxy_event_clear(e));
    CHECK_EQ(mpx_proxy_event_is_set(e), 0);
    mpx_proxy_destroy(e);
    mpx_manager_destroy(m);
}

/* ---- Barrier ------------------------------------------------------------------------------- */

static int barrier_party(const mpx_args *a)
{
    int i = mpx_proxy_barrier_wait(mpx_args_object(a, 0), 30000);
    return i >= 0 ? 50 + i : 5;
}

MPX_TEST_T(mgr_sync_barrier, 60)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *b;
    CHECK_OK(mpx_manager_barrier(m, 2, MPX_FOREVER, &b));
    CHECK_STREQ(mpx_proxy_type_name(b), "BarrierProxy");
    CHECK_EQ(mpx_proxy_barrier_parties(b), 2);
    mpx_process *p = start_child(barrier_party, b, NULL);
    int mine = mpx_proxy_barrier_wait(b, 30000);
    CHECK(mine == 0 || mine == 1);
    CHECK_EQ(child_code(p), 50 + (1 - mine));
    CHECK_EQ(mpx_proxy_barrier_n_waiting(b), 0);
    CHECK_EQ(mpx_proxy_barrier_broken(b), 0);
    /* a timeout breaks it (BrokenBarrierError), reset mends it */
    CHECK_ERR(mpx_proxy_barrier_wait(b, 20), MPX_EBROKEN);
    CHECK_EQ(mpx_proxy_barrier_broken(b), 1);
    CHECK_ERR(mpx_proxy_barrier_wait(b, 20), MPX_EBROKEN);
    CHECK_OK(mpx_proxy_barrier_reset(b));
    CHECK_EQ(mpx_proxy_barrier_broken(b), 0);
    CHECK_OK(mpx_proxy_barrier_abort(b));
    CHECK_EQ(mpx_proxy_barrier_broken(b), 1);
    mpx_proxy_destroy(b);
    mpx_manager_destroy(m);
}

/* ---- Queue ------------------------------------------------------------------------------------ */

static int producer(const mpx_args *a)
{
    mpx_proxy *q = mpx_args_object(a, 0);
    for (int i = 0; i < 100; i++) {
        mpx_obj *v = mpx_obj_build("(is)", i, "item");
        int rc = mpx_proxy_queue_put(q, v, 30000);
        mpx_obj_decref(v);
        if (rc)
            return 1;
    }
    return 60;
}

MPX_TEST_T(mgr_22_queue, 60)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *q;
    CHECK_OK(mpx_manager_queue(m, 1, &q));
    CHECK_STREQ(mpx_proxy_type_name(q), "AutoProxy[Queue]");
    mpx_obj *v = mpx_obj_str("x"), *got;
    CHECK_EQ(mpx_proxy_queue_empty(q), 1);
    CHECK_OK(mpx_proxy_queue_put(q, v, MPX_FOREVER));
    CHECK_EQ(mpx_proxy_queue_full(q), 1);
    CHECK_ERR(mpx_proxy_queue_put(q, v, MPX_NOWAIT), MPX_EFULL);
    CHECK_ERR(mpx_proxy_queue_put(q, v, 20), MPX_EFULL);
    CHECK_EQ(mpx_proxy_queue_qsize(q), 1);
    CHECK_OK(mpx_proxy_queue_get(q, &got, MPX_NOWAIT));
    CHECK_EQ(mpx_obj_equal(got, v), 1);
    mpx_obj_decref(got);
    CHECK_ERR(mpx_proxy_queue_get(q, &got, MPX_NOWAIT), MPX_EEMPTY);
    CHECK_ERR(mpx_proxy_queue_get(q, &got, 20), MPX_EEMPTY);
    mpx_obj_decref(v);
    /* a child fills it through the bound of 1, we drain it */
    mpx_process *p = start_child(producer, q, NULL);
    for (int i = 0; i < 100; i++) {
        CHECK_OK(mpx_proxy_queue_get(q, &got, 30000));
        int64_t n;
        CHECK_OK(mpx_obj_get_int(mpx_obj_item(got, 0), &n));
        CHECK_EQ(n, i);
        mpx_obj_decref(got);
    }
    CHECK_EQ(child_code(p), 60);
    /* Python's ValueError for a negative timeout is not reachable: <= 0 is
     * "do not wait" (conventions D1) */
    mpx_proxy_destroy(q);
    mpx_manager_destroy(m);
}

static int consumer_done(const mpx_args *a)
{
    mpx_proxy *q = mpx_args_object(a, 0);
    for (int i = 0; i < 3; i++) {
        mpx_obj *v;
        if (mpx_proxy_queue_get(q, &v, 30000))
            return 1;
        mpx_obj_decref(v);
        if (mpx_proxy_queue_task_done(q))
            return 2;
    }
    return 70;
}

MPX_TEST_T(mgr_16_joinable_queue, 60)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *q;
    CHECK_OK(mpx_manager_joinable_queue(m, 0, &q));
    for (int i = 0; i < 3; i++) {
        mpx_obj *v = mpx_obj_int(i);
        CHECK_OK(mpx_proxy_queue_put(q, v, MPX_FOREVER));
        mpx_obj_decref(v);
    }
    mpx_process *p = start_child(consumer_done, q, NULL);
    CHECK_OK(mpx_proxy_queue_join(q)); /* returns when all 3 are done */
    CHECK_EQ(child_code(p), 70);
    CHECK_ERR(mpx_proxy_queue_task_done(q), MPX_EINVAL);
    mpx_proxy_destroy(q);
    mpx_manager_destroy(m);
}

/* ---- GUIDE-03: one proxy, several threads ------------------------------------------------- */

static void *appender(void *arg)
{
    mpx_proxy *l = arg;
    for (int i = 0; i < 200; i++) {
        mpx_obj *v = mpx_obj_int(i);
        int rc = mpx_proxy_list_append(l, v);
        mpx_obj_decref(v);
        if (rc)
            return (void *)(intptr_t)rc;
    }
    return NULL;
}

MPX_TEST_T(mgr_guide_03_one_proxy_many_threads, 60)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *l;
    CHECK_OK(mpx_manager_list(m, NULL, &l));
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, appender, l), 0);
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        CHECK(r == NULL);
    }
    CHECK_EQ(mpx_proxy_len(l), 800);
    mpx_proxy_destroy(l);
    mpx_manager_destroy(m);
}
