/* test_porting.c - the porting contract (issue #13, docs/design.md
 * "Porting contract"): a literal port of a Python line gives Python's
 * result. Each test is named after the issue item it covers
 * (issue13_N_...) and, where there is one, the seed item. */
#include "harness.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- #13 items 2 and 9: durations ------------------------------------------
 * MPX_FOREVER is INT64_MAX, every duration <= 0 means "do not wait" (Python
 * treats a negative timeout as 0), so neither -1 nor a computed
 * `deadline - now` that went negative ever blocks. These tests hang (and
 * the runner's time limit fails them) if a negative duration waits. */

static __attribute__((noreturn)) int sleeper(const mpx_args *a)
{
    (void)a;
    for (;;)
        pause();
}

MPX_TEST_T(issue13_9_proc_07_join_minus_one_returns_at_once, 20)
{
    /* p.join(-1) on a running process returns at once (PROC-07) */
    mpx_process *p = start_args(sleeper, NULL);
    CHECK_EQ(mpx_process_join(p, -1), 0);
    CHECK_EQ(mpx_process_join(p, MPX_NOWAIT), 0);
    CHECK_EQ(mpx_process_join(p, 0), 0);
    CHECK_EQ(mpx_process_is_alive(p), 1);
    CHECK_OK(mpx_process_kill(p));
    CHECK_EQ(mpx_process_join(p, MPX_FOREVER), 1);
    mpx_process_destroy(p);
}

MPX_TEST_T(issue13_9_conn_08_poll_minus_one_returns_at_once, 20)
{
    /* conn.poll(-1) with nothing to read is False at once (CONN-08) */
    mpx_connection *a, *b;
    CHECK_OK(mpx_pipe(&a, &b, 1));
    CHECK_EQ(mpx_connection_poll(a, -1), 0);
    CHECK_EQ(mpx_connection_poll(a, MPX_NOWAIT), 0);
    CHECK_OK(mpx_connection_send_bytes(b, "x", 1));
    CHECK_EQ(mpx_connection_poll(a, -1), 1);
    mpx_connection_destroy(a);
    mpx_connection_destroy(b);
}

MPX_TEST_T(issue13_9_sync_04_negative_timeouts_do_not_wait, 20)
{
    /* lock.acquire(timeout=-1) on a taken lock, e.wait(-1) on a clear
     * event, sem.acquire(timeout=-1) at 0, cond.wait(-1): all return at
     * once with Python's False (SYNC-04, SYNC-11, SYNC-13, SYNC-15). */
    mpx_lock *l;
    mpx_rlock *r;
    mpx_semaphore *s;
    mpx_event *e;
    mpx_condition *c;
    CHECK_OK(mpx_lock_create(&l, NULL));
    CHECK_OK(mpx_rlock_create(&r, NULL));
    CHECK_OK(mpx_semaphore_create(&s, 0, NULL));
    CHECK_OK(mpx_event_create(&e, NULL));
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_EQ(mpx_lock_acquire(l, -1), 1);
    CHECK_EQ(mpx_lock_acquire(l, -1), 0);
    CHECK_EQ(mpx_lock_acquire(l, -1000), 0);
    CHECK_EQ(mpx_semaphore_acquire(s, -1), 0);
    CHECK_EQ(mpx_event_wait(e, -1), 0);
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    CHECK_EQ(mpx_condition_wait(c, -1), 0);
    CHECK_OK(mpx_condition_release(c));
    CHECK_OK(mpx_lock_release(l));
    mpx_lock_destroy(l);
    mpx_rlock_destroy(r);
    mpx_semaphore_destroy(s);
    mpx_event_destroy(e);
    mpx_condition_destroy(c);
}

MPX_TEST_T(issue13_2_computed_deadline_minus_one_does_not_block, 20)
{
    /* The trap of #13 item 2: a loop computing `deadline - now` that lands
     * on exactly -1 (or any negative value) must not wait forever. */
    mpx_queue *q;
    CHECK_OK(mpx_queue_create(&q, 0, NULL));
    int64_t deadline = mpx_test_now_ms() - 1;
    for (int64_t left = -1; left >= -3; left--) {
        void *m;
        size_t n;
        CHECK_ERR(mpx_queue_get(q, &m, &n, left), MPX_EEMPTY);
    }
    mpx_event *e;
    CHECK_OK(mpx_event_create(&e, NULL));
    CHECK_EQ(mpx_event_wait(e, deadline - mpx_test_now_ms()), 0);
    mpx_event_destroy(e);
    mpx_queue_destroy(q);
}

MPX_TEST_T(issue13_9_forever_is_int64_max, 10)
{
    /* MPX_FOREVER is no longer -1: it is the largest duration, and a huge
     * finite duration is as good as forever (no overflow). */
    CHECK(MPX_FOREVER == INT64_MAX);
    CHECK(MPX_NOWAIT < 0);
    mpx_event *e;
    CHECK_OK(mpx_event_create(&e, NULL));
    CHECK_OK(mpx_event_set(e));
    CHECK_EQ(mpx_event_wait(e, MPX_FOREVER), 1);
    CHECK_EQ(mpx_event_wait(e, INT64_MAX - 1), 1);
    CHECK_EQ(mpx_event_wait(e, INT64_MAX / 1000), 1);
    mpx_event_destroy(e);
}

/* ---- #13 item 3: yes/no answers are 1 / 0 / negative -------------------------
 * `if (mpx_event_wait(e, t))` reads as `if e.wait(t):`. */

MPX_TEST_T(issue13_3_sync_15_if_event_wait_is_true_when_set, 20)
{
    mpx_event *e;
    CHECK_OK(mpx_event_create(&e, NULL));
    int taken = 0;
    if (mpx_event_wait(e, 10)) /* Python: if e.wait(0.01): -> False */
        taken = 1;
    CHECK_EQ(taken, 0);
    CHECK_OK(mpx_event_set(e));
    if (mpx_event_wait(e, 100)) /* Python: if e.wait(0.1): -> True */
        taken = 1;
    CHECK_EQ(taken, 1);
    CHECK_EQ(mpx_event_is_set(e), 1);
    mpx_event_destroy(e);
}

static int is_one(void *arg)
{
    return *(volatile int *)arg == 1;
}

MPX_TEST_T(issue13_3_sync_03_acquire_and_wait_answer_true_false, 20)
{
    /* lock.acquire() -> True; lock.acquire(False) on a held lock -> False;
     * sem, rlock, condition, value/array locks and mpx_sync_acquire alike */
    mpx_lock *l;
    mpx_rlock *r;
    mpx_semaphore *s;
    mpx_condition *c;
    mpx_array *a;
    CHECK_OK(mpx_lock_create(&l, NULL));
    CHECK_OK(mpx_rlock_create(&r, NULL));
    CHECK_OK(mpx_semaphore_create(&s, 1, NULL));
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_OK(mpx_array_create(&a, "i", 4, NULL, NULL));
    if (!mpx_lock_acquire(l, MPX_FOREVER))
        FAIL("lock.acquire() should be True");
    if (mpx_lock_acquire(l, MPX_NOWAIT))
        FAIL("lock.acquire(False) on a held lock should be False");
    CHECK_EQ(mpx_sync_acquire(l, 0), 0);
    CHECK_OK(mpx_lock_release(l));
    CHECK_EQ(mpx_sync_acquire(l, 0), 1);
    CHECK_OK(mpx_sync_release(l));
    CHECK_EQ(mpx_rlock_acquire(r, 0), 1);
    CHECK_EQ(mpx_rlock_acquire(r, 0), 1); /* recursive: True again */
    CHECK_OK(mpx_rlock_release(r));
    CHECK_OK(mpx_rlock_release(r));
    CHECK_EQ(mpx_semaphore_acquire(s, 10), 1);
    CHECK_EQ(mpx_semaphore_acquire(s, 10), 0);
    CHECK_OK(mpx_semaphore_release(s));
    CHECK_EQ(mpx_array_acquire(a, 10), 1);
    CHECK_OK(mpx_array_release(a));
    CHECK_EQ(mpx_condition_acquire(c, 10), 1);
    /* cond.wait(0.01) with nobody notifying -> False; wait_for -> False,
     * then True once the predicate holds */
    volatile int flag = 0;
    CHECK_EQ(mpx_condition_wait(c, 10), 0);
    CHECK_EQ(mpx_condition_wait_for(c, is_one, (void *)&flag, 10), 0);
    flag = 1;
    CHECK_EQ(mpx_condition_wait_for(c, is_one, (void *)&flag, 10), 1);
    CHECK_OK(mpx_condition_release(c));
    mpx_lock_destroy(l);
    mpx_rlock_destroy(r);
    mpx_semaphore_destroy(s);
    mpx_condition_destroy(c);
    mpx_array_destroy(a);
}

static void *notifier(void *arg)
{
    mpx_condition *c = arg;
    while (mpx_condition_waiters(c) < 1)
        sleep_ms(1);
    if (mpx_condition_acquire(c, MPX_FOREVER) == 1) {
        mpx_condition_notify(c, 1);
        mpx_condition_release(c);
    }
    return NULL;
}

#include <pthread.h>

MPX_TEST_T(issue13_3_sync_13_condition_wait_notified_is_true, 20)
{
    mpx_condition *c;
    CHECK_OK(mpx_condition_create(&c, NULL, NULL));
    CHECK_EQ(mpx_condition_acquire(c, MPX_FOREVER), 1);
    pthread_t t;
    CHECK_OK(pthread_create(&t, NULL, notifier, c));
    CHECK_EQ(mpx_condition_wait(c, 15000), 1); /* if cond.wait(15): True */
    CHECK_OK(mpx_condition_release(c));
    CHECK_OK(pthread_join(t, NULL));
    mpx_condition_destroy(c);
}

static int quick(const mpx_args *a)
{
    (void)a;
    return 0;
}

MPX_TEST_T(issue13_3_proc_07_join_answers_whether_it_ended, 20)
{
    /* Python: p.join(0.05); if p.exitcode is None: still running. Here the
     * answer comes back: 0 while running, 1 once it has ended. */
    mpx_process *p = start_args(sleeper, NULL);
    CHECK_EQ(mpx_process_join(p, 50), 0);
    int code;
    CHECK_EQ(mpx_process_exitcode(p, &code), 0); /* None */
    CHECK_OK(mpx_process_terminate(p));
    CHECK_EQ(mpx_process_join(p, 20000), 1);
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    CHECK_EQ(code, -SIGTERM);
    mpx_process_destroy(p);
    p = start_args(quick, NULL);
    if (!mpx_process_join(p, MPX_FOREVER))
        FAIL("join(None) of a process that ends must answer 1");
    CHECK_EQ(mpx_process_is_alive(p), 0);
    mpx_process_destroy(p);
}

MPX_TEST_T(issue13_3_queue_23_join_answers_whether_all_done, 20)
{
    mpx_queue *q;
    CHECK_OK(mpx_joinable_queue_create(&q, 0, NULL));
    CHECK_EQ(mpx_queue_join(q, 0), 1); /* nothing put: done */
    CHECK_OK(mpx_queue_put(q, "x", 1, MPX_FOREVER));
    CHECK_EQ(mpx_queue_join(q, 20), 0);
    CHECK_EQ(mpx_queue_join(q, -1), 0);
    void *m;
    size_t n;
    CHECK_OK(mpx_queue_get(q, &m, &n, MPX_FOREVER));
    mpx_free(m);
    CHECK_OK(mpx_queue_task_done(q));
    CHECK_EQ(mpx_queue_join(q, MPX_FOREVER), 1);
    CHECK_EQ(mpx_queue_empty(q), 1);
    CHECK_EQ(mpx_queue_full(q), 0);
    mpx_queue_destroy(q);
}

static int t_nap(const void *in, size_t len, mpx_task_out *out)
{
    (void)in, (void)len, (void)out;
    sleep_ms(300);
    return 0;
}

MPX_TEST_T(issue13_3_async_03_result_wait_answers_ready, 30)
{
    /* r.wait(0.01); r.ready() -> False ... r.wait(); r.ready() -> True */
    mpx_pool *p;
    CHECK_OK(mpx_pool_create(&p, 1, NULL));
    mpx_result *r;
    CHECK_OK(mpx_pool_apply_async(p, t_nap, NULL, 0, NULL, &r));
    CHECK_EQ(mpx_result_wait(r, 10), 0);
    CHECK_EQ(mpx_result_wait(r, -1), 0);
    CHECK_EQ(mpx_result_ready(r), 0);
    CHECK_ERR(mpx_result_get(r, -1, NULL, NULL), MPX_ETIMEDOUT); /* Python raises */
    CHECK_EQ(mpx_result_wait(r, MPX_FOREVER), 1);
    CHECK_EQ(mpx_result_ready(r), 1);
    CHECK_EQ(mpx_result_successful(r), 1);
    mpx_result_destroy(r);
    CHECK_OK(mpx_pool_close(p));
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
}

/* ---- #13 item 1: booleans in options --------------------------------------- */

static int report_daemon(const mpx_args *a)
{
    (void)a;
    return mpx_process_daemon(mpx_current_process()) == 1 ? 7 : 8;
}

MPX_TEST_T(issue13_1_proc_10_daemon_true_is_daemonic, 20)
{
    /* Process(target=f, daemon=True) -> .daemon = 1; daemon=False -> 0 */
    int want[] = {7, 8, 7, 8};
    int flag[] = {1, 0, 42, MPX_DAEMON_INHERIT}; /* nonzero is True */
    for (int i = 0; i < 4; i++) {
        mpx_process *p;
        mpx_process_opts o = {.daemon = flag[i]};
        CHECK_OK(mpx_process_create(&p, report_daemon, NULL, &o));
        CHECK_EQ(mpx_process_daemon(p), want[i] == 7);
        CHECK_OK(mpx_process_start(p));
        CHECK_EQ(join_destroy(p), want[i]);
    }
    /* p.daemon = True after create, as mpx_process_set_daemon(p, 1) */
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, report_daemon, NULL, NULL));
    CHECK_EQ(mpx_process_daemon(p), 0);
    CHECK_OK(mpx_process_set_daemon(p, 1));
    CHECK_OK(mpx_process_start(p));
    CHECK_EQ(join_destroy(p), 7);
}

/* ---- #13 item 6: rejected values (D4) --------------------------------------- */

MPX_TEST_T(issue13_6_pool_01_pool_zero_is_einval, 30)
{
    /* Pool(0) and Pool(-1) are ValueError; Pool(None) is the CPU count;
     * maxtasksperchild=-1 is rejected too (POOL-01, POOL-02, POOL-04) */
    mpx_pool *p = NULL;
    CHECK_ERR(mpx_pool_create(&p, 0, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_pool_create(&p, -1, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_thread_pool_create(&p, 0, NULL, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_thread_pool_create(&p, -3, NULL, NULL), MPX_EINVAL);
    mpx_pool_opts o = {.maxtasksperchild = -1};
    CHECK_ERR(mpx_pool_create(&p, 1, &o), MPX_EINVAL);
    CHECK(p == NULL);
    CHECK_OK(mpx_pool_create(&p, MPX_POOL_DEFAULT, NULL));
    CHECK_EQ(mpx_pool_processes(p), mpx_cpu_count_usable());
    CHECK_OK(mpx_pool_terminate(p));
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
    CHECK_OK(mpx_thread_pool_create(&p, MPX_POOL_DEFAULT, NULL, NULL));
    CHECK_EQ(mpx_pool_processes(p), mpx_cpu_count_usable());
    mpx_pool_destroy(p);
}

/* ---- #13 item 5: names (D5) ---------------------------------------------------
 * mpx_call_opts.shared / .shared_len are the read-only bytes of the array
 * fast path; .ctx is a start-method context everywhere. */

static int scale(const void *in, void *out, const void *shared)
{
    int32_t x;
    memcpy(&x, in, 4);
    int32_t y = x * *(const int32_t *)shared;
    memcpy(out, &y, 4);
    return 0;
}

MPX_TEST_T(issue13_5_call_opts_shared_bytes, 30)
{
    mpx_context *ctx;
    CHECK_OK(mpx_get_context(&ctx, NULL));
    mpx_pool *p;
    CHECK_OK(mpx_pool_create(&p, 2, &(mpx_pool_opts){.ctx = ctx}));
    int32_t in[64], out[64], k = 3;
    for (int i = 0; i < 64; i++)
        in[i] = i;
    mpx_call_opts o = {.shared = &k, .shared_len = sizeof k};
    CHECK_OK(mpx_pool_map_fixed(p, scale, in, 4, out, 4, 64, &o, NULL));
    for (int i = 0; i < 64; i++)
        CHECK_EQ(out[i], 3 * i);
    o = (mpx_call_opts){.shared_len = 4}; /* bytes without a pointer */
    CHECK_ERR(mpx_pool_map_fixed(p, scale, in, 4, out, 4, 64, &o, NULL), MPX_EINVAL);
    mpx_pool_destroy(p);
}

/* ---- #13 item 4: typed, conversion-safe sharedctypes values ------------------- */

MPX_TEST_T(issue13_4_sct_01_value_d_3_is_3_0, 20)
{
    /* Value('d', 3) -> 3.0: an int given for "d" is converted, not
     * misread as the bytes of a double */
    mpx_value *v;
    CHECK_OK(mpx_value_create(&v, "d", 3, NULL));
    double d = 0;
    CHECK_OK(mpx_value_get(v, &d));
    CHECK(d == 3.0);
    CHECK(*(double *)mpx_value_ptr(v) == 3.0);
    int i = 0;
    CHECK_OK(mpx_value_get(v, &i)); /* an exact integer reads into an int */
    CHECK_EQ(i, 3);
    CHECK_OK(mpx_value_set(v, 2.5));
    CHECK_ERR(mpx_value_get(v, &i), MPX_EINVAL); /* 2.5 is no int */
    CHECK_OK(mpx_value_set(v, 7)); /* v.value = 7 -> 7.0 */
    CHECK(*(double *)mpx_value_ptr(v) == 7.0);
    mpx_value_destroy(v);
    /* Value(c_double, 3), Value('f', 1), Value('Q', 2**64 - 1) */
    CHECK_OK(mpx_value_create(&v, "c_double", 3L, NULL));
    CHECK(*(double *)mpx_value_ptr(v) == 3.0);
    mpx_value_destroy(v);
    CHECK_OK(mpx_value_create(&v, "f", 1, NULL));
    CHECK(*(float *)mpx_value_ptr(v) == 1.0f);
    mpx_value_destroy(v);
    CHECK_OK(mpx_value_create(&v, "Q", UINT64_MAX, NULL));
    uint64_t u = 0;
    CHECK_OK(mpx_value_get(v, &u));
    CHECK(u == UINT64_MAX);
    int64_t s;
    CHECK_ERR(mpx_value_get(v, &s), -ERANGE);
    mpx_value_destroy(v);
}

MPX_TEST_T(issue13_4_sct_01_value_i_from_float_like_python, 20)
{
    /* Value('i', 2.5) is a TypeError in Python: MPX_EINVAL, nothing made;
     * an exact 2.0 converts; out of range is -ERANGE */
    mpx_value *v = NULL;
    CHECK_ERR(mpx_value_create(&v, "i", 2.5, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_value_create(&v, "i", NAN, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_value_create(&v, "i", INFINITY, NULL), -ERANGE);
    CHECK_ERR(mpx_value_create(&v, "i", 1e10, NULL), -ERANGE);
    CHECK_ERR(mpx_value_create(&v, "b", 300, NULL), -ERANGE);
    CHECK_ERR(mpx_value_create(&v, "B", -1, NULL), -ERANGE);
    CHECK_ERR(mpx_value_create(&v, "I", 1LL << 32, NULL), -ERANGE);
    CHECK_ERR(mpx_value_create(&v, "q", UINT64_MAX, NULL), -ERANGE);
    CHECK(v == NULL);
    CHECK_OK(mpx_value_create(&v, "i", 2.0, NULL));
    CHECK_EQ(*(int *)mpx_value_ptr(v), 2);
    CHECK_ERR(mpx_value_set(v, 3.5), MPX_EINVAL);
    CHECK_ERR(mpx_value_set(v, 1LL << 40), -ERANGE);
    CHECK_EQ(*(int *)mpx_value_ptr(v), 2); /* a failed set changes nothing */
    mpx_value_destroy(v);
    /* bool takes any number's truth; a float type takes any number */
    CHECK_OK(mpx_value_create(&v, "?", 0.5, NULL));
    CHECK_EQ(*(unsigned char *)mpx_value_ptr(v), 1);
    mpx_value_destroy(v);
    CHECK_OK(mpx_value_create(&v, "f", 1e300, NULL));
    CHECK(isinf(*(float *)mpx_value_ptr(v)));
    mpx_value_destroy(v);
}

MPX_TEST_T(issue13_4_sct_05_array_elements_convert, 20)
{
    /* Array('d', [1, 2, 3]) from C ints; a[0] = 5; a[1] = 2.5 on 'i' */
    int ints[3] = {1, 2, 3};
    mpx_array *a;
    CHECK_OK(mpx_array_create(&a, "d", 3, ints, NULL));
    double *d = mpx_array_ptr(a);
    CHECK(d[0] == 1.0 && d[1] == 2.0 && d[2] == 3.0);
    CHECK_OK(mpx_array_set(a, 0, 5));
    CHECK(d[0] == 5.0);
    long out[3];
    CHECK_OK(mpx_array_read(a, 0, 3, out));
    CHECK(out[0] == 5 && out[2] == 3);
    float f[2] = {0.5f, 1.5f};
    CHECK_OK(mpx_array_write(a, 1, 2, f));
    CHECK(d[1] == 0.5 && d[2] == 1.5);
    CHECK_ERR(mpx_array_read(a, 0, 3, out), MPX_EINVAL); /* 0.5 is no long */
    mpx_array_destroy(a);

    mpx_array *b;
    CHECK_OK(mpx_array_create(&b, "b", 4, NULL, NULL));
    CHECK_ERR(mpx_array_set(b, 1, 2.5), MPX_EINVAL);
    CHECK_ERR(mpx_array_set(b, 1, 128), -ERANGE);
    CHECK_OK(mpx_array_set(b, 1, -128));
    int w[4] = {1, 2, 300, 4}; /* one value out of range: nothing written */
    CHECK_ERR(mpx_array_write(b, 0, 4, w), -ERANGE);
    signed char got[4];
    CHECK_OK(mpx_array_read(b, 0, 4, got));
    CHECK(got[0] == 0 && got[1] == -128 && got[2] == 0 && got[3] == 0);
    double dw[2] = {1.0, 1.5};
    mpx_array *c = NULL;
    CHECK_ERR(mpx_array_create(&c, "h", 2, dw, NULL), MPX_EINVAL);
    CHECK(c == NULL);
    mpx_array_destroy(b);
}

/* ---- #13 item 2: durations in options structs (D1) ---------------------------
 * One rule for every duration field: 0 is "not set" (the documented
 * default, Python's where Python has the option), MPX_FOREVER no limit, N > 0
 * milliseconds, a negative value (MPX_NOWAIT) zero time -- never "forever". */

static void *bar_party(void *arg)
{
    mpx_barrier *b = arg;
    return (void *)(intptr_t)mpx_barrier_wait(b, MPX_FOREVER);
}

MPX_TEST_T(issue13_2_sync_16_barrier_opts_timeout_one_rule, 20)
{
    /* Barrier(2, timeout=None): 0 and MPX_FOREVER wait for the other party */
    mpx_duration dflt[] = {0, MPX_FOREVER};
    for (int i = 0; i < 2; i++) {
        mpx_barrier *b;
        CHECK_OK(mpx_barrier_create(&b, 2, &(mpx_barrier_opts){.timeout = dflt[i]}));
        pthread_t t;
        CHECK_OK(pthread_create(&t, NULL, bar_party, b));
        sleep_ms(50); /* the other party is usually waiting by now; either way both pass */
        int me = mpx_barrier_wait(b, MPX_FOREVER);
        void *other;
        CHECK_OK(pthread_join(t, &other));
        CHECK(me >= 0 && (intptr_t)other >= 0 && me + (intptr_t)other == 1);
        CHECK_EQ(mpx_barrier_broken(b), 0);
        mpx_barrier_destroy(b);
    }
    /* a negative default is zero time: the first party breaks it at once
     * (this hangs until the runner's limit if it waited) */
    mpx_barrier *b;
    CHECK_OK(mpx_barrier_create(&b, 2, &(mpx_barrier_opts){.timeout = MPX_NOWAIT}));
    CHECK_ERR(mpx_barrier_wait(b, MPX_FOREVER), MPX_EBROKEN);
    CHECK_EQ(mpx_barrier_broken(b), 1);
    mpx_barrier_destroy(b);
    /* b.wait(timeout=-1) on a barrier without a default: broken at once */
    CHECK_OK(mpx_barrier_create(&b, 2, NULL));
    CHECK_ERR(mpx_barrier_wait(b, -1), MPX_EBROKEN);
    CHECK_EQ(mpx_barrier_broken(b), 1);
    mpx_barrier_destroy(b);
}

typedef struct lis_client {
    char address[256];
    mpx_duration timeout;
    int rc;
} lis_client;

static void *lis_client_main(void *arg)
{
    lis_client *j = arg;
    mpx_client_opts o = {.authkey = "key", .authkey_len = 3, .timeout = j->timeout};
    mpx_connection *c;
    int rc = mpx_client_connect(&c, j->address, &o);
    if (!rc)
        mpx_connection_destroy(c);
    __atomic_store_n(&j->rc, rc, __ATOMIC_RELEASE);
    return NULL;
}

MPX_TEST_T(issue13_2_lis_client_and_handshake_timeouts_one_rule, 60)
{
    mpx_listener *l;
    mpx_listener_opts lo = {.authkey = "key", .authkey_len = 3};
    CHECK_OK(mpx_listener_create(&l, NULL, &lo));
    /* client timeout 0 (not set: Python's None) and MPX_FOREVER: no limit,
     * the handshake completes once the listener accepts */
    mpx_duration ok[] = {0, MPX_FOREVER, 30000};
    for (int i = 0; i < 3; i++) {
        lis_client j = {.timeout = ok[i]};
        snprintf(j.address, sizeof j.address, "%s", mpx_listener_address(l));
        pthread_t t;
        CHECK_OK(pthread_create(&t, NULL, lis_client_main, &j));
        mpx_connection *c;
        CHECK_OK(mpx_listener_accept(l, &c, 30000));
        CHECK_OK(pthread_join(t, NULL));
        CHECK_OK(j.rc);
        mpx_connection_destroy(c);
    }
    /* a negative client timeout is zero time: nobody accepts, so the
     * challenge cannot have come -- MPX_ETIMEDOUT, not a wait forever */
    lis_client z = {.timeout = -1};
    snprintf(z.address, sizeof z.address, "%s", mpx_listener_address(l));
    lis_client_main(&z);
    CHECK_ERR(z.rc, MPX_ETIMEDOUT);
    mpx_listener_destroy(l);

    /* handshake_timeout negative: zero time. A handshake that cannot
     * complete without waiting (a peer that never answers the challenge)
     * is dropped at the listener's first look, not kept forever. (One that
     * completes without any wait may still be accepted, as a NOWAIT
     * acquire of a free lock succeeds, so the peer here stays silent.) */
    lo.handshake_timeout = MPX_NOWAIT;
    CHECK_OK(mpx_listener_create(&l, "127.0.0.1:0", &lo));
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)mpx_listener_port(l)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    mpx_connection *c;
    CHECK_ERR(mpx_listener_accept(l, &c, 100), MPX_ETIMEDOUT);
    /* the challenge (if it was sent), then EOF: the listener closed it */
    char buf[256];
    ssize_t r;
    do {
        struct pollfd pf = {fd, POLLIN, 0};
        CHECK(poll(&pf, 1, 30000) == 1); /* held forever: fails here */
        r = recv(fd, buf, sizeof buf, 0);
    } while (r > 0);
    CHECK_EQ(r, 0);
    close(fd);
    mpx_listener_destroy(l);
}

static int t_id(const void *in, size_t len, mpx_task_out *out)
{
    (void)in, (void)len, (void)out;
    return 0;
}

MPX_TEST_T(issue13_2_pool_task_timeouts_one_rule, 30)
{
    /* task_timeout: 0 and MPX_FOREVER none; negative MPX_EINVAL (no task
     * runs in zero time), per pool and per call */
    mpx_pool *p = NULL;
    CHECK_ERR(mpx_pool_create(&p, 1, &(mpx_pool_opts){.task_timeout = -1}), MPX_EINVAL);
    CHECK(p == NULL);
    CHECK_OK(mpx_pool_create(&p, 1, &(mpx_pool_opts){.task_timeout = MPX_FOREVER}));
    mpx_result *r = NULL;
    mpx_call_opts neg = {.timeout = MPX_NOWAIT};
    CHECK_ERR(mpx_pool_apply_async(p, t_id, NULL, 0, &neg, &r), MPX_EINVAL);
    CHECK(r == NULL);
    mpx_call_opts dflt[] = {{.timeout = 0}, {.timeout = MPX_FOREVER}};
    for (int i = 0; i < 2; i++) {
        CHECK_OK(mpx_pool_apply(p, t_id, NULL, 0, &dflt[i], &r));
        mpx_result_destroy(r);
    }
    CHECK_OK(mpx_pool_close(p));
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
}
