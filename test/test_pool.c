/* test_pool.c - Pool and ThreadPool (POOL-01..25, ASYNC-01..06, TPOOL-01,
 * BLOG-01..05, EX-01, EX-11, EX-28, EX-38, EX-44..46) and what mpx adds:
 * crash isolation, task timeouts, lazy imap, cancellation, progress, the
 * fixed-size fast path. Task functions live in this executable so the same
 * tests run under fork, spawn and forkserver. */
#include "pool_util.h"


/* EX-01: Pool(5).map(f, [1, 2, 3]) -> [1, 4, 9] */
MPX_TEST(pool_ex01_map_squares)
{
    mpx_pool *p = mkpool(5);
    int64_t v[3] = {1, 2, 3};
    mpx_bytes *it = int_items(v, 3);
    mpx_result *r;
    CHECK_OK(mpx_pool_map(p, t_square, it, 3, NULL, &r));
    CHECK_EQ(mpx_result_count(r), 3);
    int64_t want[3] = {1, 4, 9};
    for (size_t i = 0; i < 3; i++) {
        const void *d;
        size_t l;
        CHECK_OK(mpx_result_item(r, i, &d, &l));
        CHECK_EQ(l, 8);
        CHECK_EQ(get_i64(d), want[i]);
    }
    CHECK_EQ(mpx_result_successful(r), 1);
    mpx_result_destroy(r);
    free(it);
    finish(p);
}

/* POOL-07, POOL-08, ASYNC-02..05 */
MPX_TEST(pool_07_apply_and_async_result)
{
    mpx_pool *p = mkpool(2);
    int64_t x = 20;
    mpx_result *r;
    CHECK_OK(mpx_pool_apply(p, t_square, &x, 8, NULL, &r));
    const void *d;
    size_t l;
    CHECK_OK(mpx_result_get(r, 0, &d, &l));
    CHECK_EQ(get_i64(d), 400);
    mpx_result_destroy(r);

    int64_t ms = 300;
    CHECK_OK(mpx_pool_apply_async(p, t_sleep, &ms, 8, NULL, &r));
    CHECK_EQ(mpx_result_ready(r), 0);
    CHECK_ERR(mpx_result_successful(r), MPX_ESTATE); /* ASYNC-05 */
    CHECK_ERR(mpx_result_get(r, 20, NULL, NULL), MPX_ETIMEDOUT); /* ASYNC-02 */
    CHECK_EQ(mpx_result_wait(r, 10), 0);             /* ASYNC-03 */
    CHECK_EQ(mpx_result_wait(r, MPX_FOREVER), 1);
    CHECK_EQ(mpx_result_ready(r), 1);
    CHECK_EQ(mpx_result_successful(r), 1);
    CHECK_OK(mpx_result_get(r, MPX_FOREVER, NULL, NULL));
    mpx_result_destroy(r);
    finish(p);
}

/* POOL-21: task errors from apply, map, imap (item 5 fails, others come) */
MPX_TEST(pool_21_task_errors)
{
    mpx_pool *p = mkpool(2);
    int64_t five = 5;
    mpx_result *r;
    CHECK_ERR(mpx_pool_apply(p, t_inv5, &five, 8, NULL, &r), MPX_ETASK);
    mpx_task_error e;
    CHECK_OK(mpx_result_error(r, &e));
    CHECK_EQ(e.code, MPX_ETASK);
    CHECK_EQ(e.task_rc, MPX_ETASK);
    CHECK(strstr(e.message, "ZeroDivisionError") != NULL);
    CHECK_EQ(mpx_result_successful(r), 0);
    mpx_result_destroy(r);

    int64_t v[10];
    mpx_bytes *it = range_items(v, 10);
    CHECK_ERR(mpx_pool_map(p, t_inv5, it, 10, NULL, &r), MPX_ETASK);
    CHECK_OK(mpx_result_error(r, &e));
    CHECK_EQ(e.index, 5);
    CHECK_EQ(mpx_result_failed(r), 1);
    const void *d;
    size_t l;
    CHECK_OK(mpx_result_item(r, 4, &d, &l));
    double dv;
    memcpy(&dv, d, 8);
    CHECK(dv == -1.0);
    CHECK_ERR(mpx_result_item(r, 5, &d, &l), MPX_ETASK);
    mpx_result_destroy(r);

    mpx_imap *im;
    CHECK_OK(mpx_pool_imap(p, t_inv5, it, 10, NULL, &im));
    int got = 0;
    for (int i = 0; i < 10; i++) {
        size_t idx;
        int rc = mpx_imap_next(im, MPX_FOREVER, &d, &l, &idx);
        CHECK_EQ(idx, (size_t)i);
        if (i == 5) {
            CHECK_ERR(rc, MPX_ETASK);
            CHECK_OK(mpx_imap_error(im, &e));
            CHECK_EQ(e.index, 5);
        } else {
            CHECK_OK(rc);
            got++;
        }
    }
    CHECK_ERR(mpx_imap_next(im, MPX_FOREVER, &d, &l, NULL), MPX_EEOF);
    CHECK_EQ(got, 9);
    mpx_imap_destroy(im);
    free(it);
    finish(p);
}

/* POOL-12, POOL-14: imap ordered, imap_unordered complete */
MPX_TEST(pool_12_imap_and_unordered)
{
    mpx_pool *p = mkpool(3);
    enum { N = 200 };
    int64_t v[N];
    mpx_bytes *it = range_items(v, N);
    mpx_imap *im;
    mpx_call_opts o = {.chunksize = 7};
    CHECK_OK(mpx_pool_imap(p, t_square, it, N, &o, &im));
    for (int i = 0; i < N; i++) {
        const void *d;
        size_t l, idx;
        CHECK_OK(mpx_imap_next(im, MPX_FOREVER, &d, &l, &idx));
        CHECK_EQ(idx, (size_t)i);
        CHECK_EQ(get_i64(d), (int64_t)i * i);
    }
    CHECK_ERR(mpx_imap_next(im, 0, NULL, NULL, NULL), MPX_EEOF);
    mpx_imap_destroy(im);

    CHECK_OK(mpx_pool_imap_unordered(p, t_square, it, N, NULL, &im));
    char seen[N] = {0};
    for (int i = 0; i < N; i++) {
        const void *d;
        size_t l, idx;
        CHECK_OK(mpx_imap_next(im, MPX_FOREVER, &d, &l, &idx));
        CHECK(idx < N && !seen[idx]);
        seen[idx] = 1;
        CHECK_EQ(get_i64(d), (int64_t)idx * (int64_t)idx);
    }
    CHECK_ERR(mpx_imap_next(im, 100, NULL, NULL, NULL), MPX_EEOF);
    mpx_imap_destroy(im);
    free(it);
    finish(p);
}

/* map t_crashy over the n items 0, 1, ...: the 10 multiples of 97 die of
 * SIGSEGV and the 9 of 101 abort (with the worker's pid and backtrace when
 * details), the others give 3i + 1. */
static void crashy_map(mpx_pool *p, mpx_bytes *it, int n, const mpx_call_opts *o, bool details)
{
    mpx_result *r;
    int rc = mpx_pool_map(p, t_crashy, it, (size_t)n, o, &r);
    CHECK_ERR(rc, MPX_EWORKER);
    size_t bad = 0;
    for (int i = 0; i < n; i++) {
        const void *d;
        size_t l;
        int irc = mpx_result_item(r, (size_t)i, &d, &l);
        if (i > 0 && (i % 97 == 0 || i % 101 == 0)) {
            CHECK_ERR(irc, MPX_EWORKER);
            mpx_task_error e;
            CHECK_OK(mpx_result_item_error(r, (size_t)i, &e));
            CHECK_EQ(e.index, (size_t)i);
            if (details)
                CHECK(e.pid > 0);
            CHECK_EQ(e.signal, i % 97 == 0 ? SIGSEGV : SIGABRT);
            if (details)
                CHECK(e.backtrace != NULL && strstr(e.backtrace, "backtrace") != NULL);
            bad++;
        } else {
            CHECK_OK(irc);
            CHECK_EQ(get_i64(d), (int64_t)i * 3 + 1);
        }
    }
    CHECK_EQ(bad, mpx_result_failed(r));
    CHECK_EQ(bad, 10 + 9);
    mpx_result_destroy(r);
}

/* Beyond Python: 1,000 items, every 97th segfaults, every 101st aborts */
MPX_TEST_T(pool_crash_isolation_1000, 60)
{
    mpx_pool *p = mkpool(2);
    enum { N = 1000 };
    static int64_t v[N];
    mpx_bytes *it = range_items(v, N);
    size_t chunks[2] = {1, 0};
    for (int round = 0; round < 2; round++) {
        mpx_call_opts o = {.chunksize = chunks[round]};
        crashy_map(p, it, N, &o, true);
    }
    CHECK(mpx_pool_replaced(p) >= 38);
    free(it);
    finish(p);
}

/* Beyond Python: a warm pool packs small chunks of fast tasks into one
 * slot (docs/pool.md, "Performance notes"); results, per-item errors and
 * crash isolation stay those of chunksize 1 / 3. */
MPX_TEST_T(pool_packed_small_chunks_crash_isolation, 60)
{
    mpx_pool *p = mkpool(2);
    enum { N = 1000, W = 20000 };
    static int64_t v[W];
    mpx_bytes *it = range_items(v, W);
    size_t chunks[2] = {1, 3};
    for (int round = 0; round < 2; round++) {
        mpx_result *r;
        mpx_call_opts o = {.chunksize = chunks[round]};
        /* warm-up: the workers measure their (short) slots */
        CHECK_OK(mpx_pool_map(p, t_square, it, W, &o, &r));
        CHECK_EQ(mpx_result_failed(r), 0);
        for (int i = 0; i < W; i += 997) {
            const void *d;
            size_t l;
            CHECK_OK(mpx_result_item(r, (size_t)i, &d, &l));
            CHECK_EQ(get_i64(d), (int64_t)i * i);
        }
        mpx_result_destroy(r);
        crashy_map(p, it, N, &o, false);
    }
    free(it);
    finish(p);
}

/* POOL-17, POOL-19: misuse errors */
MPX_TEST(pool_17_19_misuse)
{
    mpx_pool *p = mkpool(1);
    CHECK_ERR(mpx_pool_join(p), MPX_ESTATE); /* join before close */
    CHECK_OK(mpx_pool_close(p));
    int64_t x = 3;
    mpx_result *r = NULL;
    CHECK_ERR(mpx_pool_apply_async(p, t_square, &x, 8, NULL, &r), MPX_ESTATE);
    CHECK_ERR(mpx_pool_map(p, t_square, NULL, 0, NULL, &r), MPX_ESTATE);
    CHECK_OK(mpx_pool_join(p));
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
    CHECK_ERR(mpx_pool_create(&p, -1, NULL), MPX_EINVAL);
    mpx_pool_opts bad = {.maxtasksperchild = -2};
    CHECK_ERR(mpx_pool_create(&p, 2, &bad), MPX_EINVAL);
    CHECK_ERR(mpx_pool_create(NULL, 2, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_result_get(NULL, 0, NULL, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_pool_close(NULL), MPX_EINVAL);
    mpx_pool_destroy(NULL);
    mpx_result_destroy(NULL);
    mpx_imap_destroy(NULL);
}

/* POOL-02: default processes = usable CPUs; POOL-23 introspection */
MPX_TEST(pool_02_default_processes_and_pids)
{
    mpx_pool *p;
    CHECK_OK(mpx_pool_create(&p, MPX_POOL_DEFAULT, NULL));
    CHECK_EQ(mpx_pool_processes(p), mpx_cpu_count_usable());
    pid_t pids[64];
    int n = 0;
    for (int i = 0; i < 200 && n != mpx_pool_processes(p); i++) {
        n = mpx_pool_worker_pids(p, pids, 64);
        sleep_ms(5);
    }
    CHECK_EQ(n, mpx_pool_processes(p));
    CHECK_EQ(mpx_pool_outstanding(p), 0);
    finish(p);
}

/* EX-11: getpid in a worker differs from ours; several workers are used */
MPX_TEST(pool_ex11_getpid_in_workers)
{
    mpx_pool *p = mkpool(2);
    mpx_result *r;
    CHECK_OK(mpx_pool_apply(p, t_getpid, NULL, 0, NULL, &r));
    const void *d;
    CHECK_OK(mpx_result_get(r, 0, &d, NULL));
    CHECK(get_i64(d) != getpid());
    mpx_result_destroy(r);
    finish(p);
}

/* POOL-08, POOL-09, POOL-11: callbacks in completion order in one thread
 * (EX-38: A == [56, 0, 1, 8, ..., 729]) */
static int64_t cb_vals[32];
static int cb_n;
static pthread_t cb_thread;
static int cb_threads_differ;
static void cb_append(mpx_result *r, void *u)
{
    (void)u;
    if (cb_n == 0)
        cb_thread = pthread_self();
    else if (!pthread_equal(cb_thread, pthread_self()))
        cb_threads_differ = 1;
    size_t n = mpx_result_count(r);
    for (size_t i = 0; i < n; i++) {
        const void *d;
        size_t l;
        if (mpx_result_item(r, i, &d, &l) == 0 && l == 8)
            cb_vals[cb_n++] = get_i64(d);
    }
}
static int t_mul(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    int64_t a = get_i64(in), b = get_i64((const char *)in + 8), c = a * b;
    return mpx_task_out_set(out, &c, 8);
}
static int t_pow3(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    int64_t x = get_i64(in), y = x * x * x;
    return mpx_task_out_set(out, &y, 8);
}
static int err_cb_calls;
static mpx_task_error err_cb_seen;
static void cb_err(mpx_result *r, void *u)
{
    (void)u;
    err_cb_calls++;
    mpx_result_error(r, &err_cb_seen);
}
MPX_TEST(pool_08_callbacks)
{
    mpx_pool *p = mkpool(2);
    int64_t ab[2] = {7, 8};
    mpx_call_opts o = {.callback = cb_append, .error_callback = cb_err};
    mpx_result *r;
    CHECK_OK(mpx_pool_apply_async(p, t_mul, ab, 16, &o, &r));
    CHECK_EQ(mpx_result_wait(r, MPX_FOREVER), 1);
    CHECK_EQ(cb_n, 1); /* the callback ran before the result became ready */
    mpx_result_destroy(r);
    int64_t v[10];
    mpx_bytes *it = range_items(v, 10);
    CHECK_OK(mpx_pool_map_async(p, t_pow3, it, 10, &o, &r));
    CHECK_EQ(mpx_result_wait(r, MPX_FOREVER), 1);
    mpx_result_destroy(r);
    CHECK_EQ(cb_n, 11);
    int64_t five = 5;
    CHECK_OK(mpx_pool_apply_async(p, t_inv5, &five, 8, &o, &r));
    finish(p);
    int64_t want[11] = {56, 0, 1, 8, 27, 64, 125, 216, 343, 512, 729};
    CHECK_EQ(cb_n, 11);
    for (int i = 0; i < 11; i++)
        CHECK_EQ(cb_vals[i], want[i]);
    CHECK_EQ(cb_threads_differ, 0);
    CHECK(!pthread_equal(cb_thread, pthread_self()));
    CHECK_EQ(err_cb_calls, 1);
    CHECK_EQ(err_cb_seen.code, MPX_ETASK);
    mpx_result_destroy(r);
    free(it);
}

/* Beyond Python: per-task timeout (pool-wide and per call) */
MPX_TEST_T(pool_task_timeout, 60)
{
    mpx_pool *p;
    /* Robust under load: the tasks that must time out sleep far longer
     * (60 s) than any scheduling delay, those that must not are far
     * shorter than the limit (2 s); no assertion on elapsed time. */
    mpx_pool_opts po = {.task_timeout = 2000};
    CHECK_OK(mpx_pool_create(&p, 2, &po));
    int64_t v[4] = {10, 60000, 10, 20};
    mpx_bytes *it = int_items(v, 4);
    mpx_result *r;
    mpx_call_opts o = {.chunksize = 1};
    CHECK_ERR(mpx_pool_map(p, t_sleep, it, 4, &o, &r), MPX_ETIMEDOUT);
    CHECK_EQ(mpx_result_failed(r), 1);
    mpx_task_error e;
    CHECK_OK(mpx_result_error(r, &e));
    CHECK_EQ(e.index, 1);
    CHECK_EQ(e.code, MPX_ETIMEDOUT);
    CHECK_OK(mpx_result_item(r, 3, NULL, NULL));
    mpx_result_destroy(r);
    /* per call: no timeout overrides the pool's */
    int64_t ms = 2500;
    mpx_call_opts none = {.timeout = MPX_FOREVER};
    CHECK_OK(mpx_pool_apply(p, t_sleep, &ms, 8, &none, &r));
    mpx_result_destroy(r);
    /* per call: shorter */
    mpx_call_opts shorter = {.timeout = 50};
    ms = 60000;
    CHECK_ERR(mpx_pool_apply(p, t_sleep, &ms, 8, &shorter, &r), MPX_ETIMEDOUT);
    CHECK_EQ(mpx_result_ready(r), 1);
    mpx_result_destroy(r);
    for (int i = 0; i < 3000 && mpx_pool_replaced(p) < 2; i++)
        sleep_ms(10);
    CHECK(mpx_pool_replaced(p) >= 2);
    /* the pool still works */
    int64_t x = 9;
    CHECK_OK(mpx_pool_apply(p, t_square, &x, 8, NULL, &r));
    mpx_result_destroy(r);
    free(it);
    finish(p);
}

/* POOL-13, ASYNC-06: next with a timeout, retried */
MPX_TEST(pool_13_imap_next_timeout)
{
    mpx_pool *p = mkpool(1);
    int64_t v[2] = {300, 0};
    mpx_bytes *it = int_items(v, 2);
    mpx_imap *im;
    CHECK_OK(mpx_pool_imap(p, t_sleep, it, 2, NULL, &im));
    int timeouts = 0, got = 0;
    for (;;) {
        int rc = mpx_imap_next(im, 20, NULL, NULL, NULL);
        if (rc == MPX_ETIMEDOUT) {
            timeouts++;
            continue;
        }
        if (rc == MPX_EEOF)
            break;
        CHECK_OK(rc);
        got++;
    }
    CHECK(timeouts >= 3);
    CHECK_EQ(got, 2);
    mpx_imap_destroy(im);
    free(it);
    finish(p);
}

/* Beyond Python: imap over an endless generator with bounded look-ahead */
MPX_TEST(pool_imap_lazy_endless)
{
    mpx_pool *p = mkpool(2);
    gen_state g = {0, 0};
    mpx_imap *im;
    mpx_call_opts o = {.lookahead = 50};
    CHECK_OK(mpx_pool_imap_gen(p, t_square, gen_count, &g, &o, &im));
    for (int64_t i = 0; i < 1000; i++) {
        const void *d;
        size_t idx;
        CHECK_OK(mpx_imap_next(im, MPX_FOREVER, &d, NULL, &idx));
        CHECK_EQ(idx, (size_t)i);
        CHECK_EQ(get_i64(d), i * i);
        /* the generator never runs far ahead of the consumer */
        CHECK(g.next <= i + 1 + 50 + 1);
    }
    sleep_ms(50);
    CHECK(g.next <= 1000 + 50 + 1);
    mpx_imap_destroy(im);
    /* unordered too */
    gen_state g2 = {0, 0};
    CHECK_OK(mpx_pool_imap_unordered_gen(p, t_square, gen_count, &g2, &o, &im));
    for (int i = 0; i < 500; i++)
        CHECK_OK(mpx_imap_next(im, MPX_FOREVER, NULL, NULL, NULL));
    CHECK(g2.next <= 500 + 50 + 1);
    mpx_imap_destroy(im);
    finish(p);
}

/* a finite generator ends the iterator */
static int gen_five(void *st, mpx_bytes *item)
{
    gen_state *g = st;
    if (g->next >= 5)
        return 0;
    g->buf = atomic_fetch_add(&g->next, 1);
    *item = (mpx_bytes){&g->buf, 8};
    return 1;
}
MPX_TEST(pool_imap_gen_finite)
{
    mpx_pool *p = mkpool(2);
    gen_state g = {0, 0};
    mpx_imap *im;
    CHECK_OK(mpx_pool_imap_gen(p, t_square, gen_five, &g, NULL, &im));
    int64_t sum = 0;
    const void *d;
    int rc;
    while ((rc = mpx_imap_next(im, MPX_FOREVER, &d, NULL, NULL)) == 0)
        sum += get_i64(d);
    CHECK_ERR(rc, MPX_EEOF);
    CHECK_EQ(sum, 0 + 1 + 4 + 9 + 16);
    mpx_imap_destroy(im);
    finish(p);
}

/* POOL-04 + pain point 23: maxtasksperchild recycles workers and strands
 * nothing */
MPX_TEST(pool_04_maxtasksperchild)
{
    mpx_pool *p;
    mpx_pool_opts po = {.maxtasksperchild = 3};
    CHECK_OK(mpx_pool_create(&p, 2, &po));
    enum { N = 60 };
    int64_t v[N];
    mpx_bytes *it = range_items(v, N);
    mpx_result *r;
    mpx_call_opts o = {.chunksize = 1};
    CHECK_OK(mpx_pool_map(p, t_getpid, it, N, &o, &r));
    /* no pid ran more than 3 tasks */
    for (int i = 0; i < N; i++) {
        const void *d;
        CHECK_OK(mpx_result_item(r, (size_t)i, &d, NULL));
        int64_t pid = get_i64(d);
        int count = 0;
        for (int k = 0; k < N; k++) {
            const void *d2;
            mpx_result_item(r, (size_t)k, &d2, NULL);
            if (get_i64(d2) == pid)
                count++;
        }
        CHECK(count <= 3);
    }
    CHECK(mpx_pool_replaced(p) >= N / 3 - 2);
    mpx_result_destroy(r);
    free(it);
    finish(p);
}

/* POOL-03: initializer with args runs in each worker */
static int64_t init_value;
static int t_init(const mpx_args *a)
{
    init_value = mpx_args_int(a, 0) + (int64_t)strlen(mpx_args_str(a, 1));
    return 0;
}
static int t_read_init(const void *in, size_t len, mpx_task_out *out)
{
    (void)in;
    (void)len;
    return mpx_task_out_set(out, &init_value, 8);
}
MPX_TEST(pool_03_initializer)
{
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_int(a, 40));
    CHECK_OK(mpx_args_add_str(a, "ab"));
    mpx_pool *p;
    mpx_pool_opts po = {.initializer = t_init, .initargs = a};
    CHECK_OK(mpx_pool_create(&p, 2, &po));
    mpx_args_destroy(a);
    int64_t v[8] = {0};
    mpx_bytes *it = int_items(v, 8);
    mpx_result *r;
    mpx_call_opts o = {.chunksize = 1};
    CHECK_OK(mpx_pool_map(p, t_read_init, it, 8, &o, &r));
    for (int i = 0; i < 8; i++) {
        const void *d;
        CHECK_OK(mpx_result_item(r, (size_t)i, &d, NULL));
        CHECK_EQ(get_i64(d), 42);
    }
    CHECK_EQ(init_value, 0); /* not in the parent */
    mpx_result_destroy(r);
    free(it);
    finish(p);
}

/* an initializer that fails: the pool breaks instead of respawning forever */
MPX_TEST(pool_03_initializer_failure_breaks_pool)
{
    mpx_pool *p;
    mpx_pool_opts po = {.initializer = t_init_fail};
    CHECK_OK(mpx_pool_create(&p, 1, &po));
    int64_t x = 2;
    mpx_result *r = NULL;
    int rc = mpx_pool_apply(p, t_square, &x, 8, NULL, &r);
    CHECK(rc == MPX_EBROKEN);
    mpx_result_destroy(r);
    CHECK_OK(mpx_pool_terminate(p));
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
}

/* POOL-15, POOL-16, BLOG-05, EX-46: starmap with bound arguments */
static int t_star(const mpx_args *a, mpx_task_out *out)
{
    /* (scale, x, y, suffix) -> scale * (x + y), as text with suffix */
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%lld%s",
                     (long long)(mpx_args_int(a, 0) * (mpx_args_int(a, 1) + mpx_args_int(a, 2))),
                     mpx_args_str(a, 3));
    return mpx_task_out_set(out, buf, (size_t)n);
}
MPX_TEST(pool_15_starmap_partial)
{
    mpx_pool *p = mkpool(2);
    mpx_args *items[3], *before, *after;
    for (int i = 0; i < 3; i++) {
        CHECK_OK(mpx_args_create(&items[i]));
        mpx_args_add_int(items[i], i);
        mpx_args_add_int(items[i], 10 * i);
    }
    CHECK_OK(mpx_args_create(&before));
    mpx_args_add_int(before, 2);
    CHECK_OK(mpx_args_create(&after));
    mpx_args_add_str(after, "!");
    mpx_call_opts o = {.bound_before = before, .bound_after = after};
    mpx_result *r;
    CHECK_OK(mpx_pool_starmap(p, t_star, (const mpx_args *const *)items, 3, &o, &r));
    const char *want[3] = {"0!", "22!", "44!"};
    for (int i = 0; i < 3; i++) {
        const void *d;
        size_t l;
        CHECK_OK(mpx_result_item(r, (size_t)i, &d, &l));
        CHECK_EQ(l, strlen(want[i]));
        CHECK(memcmp(d, want[i], l) == 0);
    }
    mpx_result_destroy(r);
    CHECK_OK(mpx_pool_starmap_async(p, t_star, (const mpx_args *const *)items, 3, &o, &r));
    CHECK_OK(mpx_result_get(r, MPX_FOREVER, NULL, NULL));
    mpx_result_destroy(r);
    CHECK_OK(mpx_pool_apply_star(p, t_star, items[2], &o, &r));
    const void *d;
    size_t l;
    CHECK_OK(mpx_result_get(r, 0, &d, &l));
    CHECK(l == 3 && memcmp(d, "44!", 3) == 0);
    mpx_result_destroy(r);
    /* fds cannot travel in task arguments */
    mpx_args *fda;
    CHECK_OK(mpx_args_create(&fda));
    CHECK_OK(mpx_args_add_fd(fda, 0));
    CHECK_ERR(mpx_pool_apply_star_async(p, t_star, fda, NULL, &r), MPX_ENOTSUP);
    mpx_args_destroy(fda);
    for (int i = 0; i < 3; i++)
        mpx_args_destroy(items[i]);
    mpx_args_destroy(before);
    mpx_args_destroy(after);
    finish(p);
}

/* Messages larger than a slot (spill) in both directions */
MPX_TEST(pool_large_messages)
{
    mpx_pool *p = mkpool(2);
    size_t sizes[4] = {100, 40000, 300000, 2 * 1024 * 1024};
    unsigned char *bufs[4];
    mpx_bytes it[4];
    for (int i = 0; i < 4; i++) {
        bufs[i] = malloc(sizes[i]);
        for (size_t k = 0; k < sizes[i]; k++)
            bufs[i][k] = (unsigned char)(k * 7 + (size_t)i);
        it[i] = (mpx_bytes){bufs[i], sizes[i]};
    }
    for (size_t cs = 1; cs <= 4; cs += 3) {
        mpx_result *r;
        mpx_call_opts o = {.chunksize = cs};
        CHECK_OK(mpx_pool_map(p, t_echo, it, 4, &o, &r));
        for (int i = 0; i < 4; i++) {
            const void *d;
            size_t l;
            CHECK_OK(mpx_result_item(r, (size_t)i, &d, &l));
            CHECK_EQ(l, sizes[i]);
            CHECK(memcmp(d, bufs[i], l) == 0);
        }
        mpx_result_destroy(r);
    }
    for (int i = 0; i < 4; i++)
        free(bufs[i]);
    finish(p);
}

/* POOL-18, pain point 18: terminate is bounded even with stuck tasks */
static int t_stuck(const void *in, size_t len, mpx_task_out *out)
{
    (void)in;
    (void)len;
    (void)out;
    for (;;)
        pause();
    return 0;
}
MPX_TEST(pool_18_terminate_bounded)
{
    mpx_pool *p = mkpool(2);
    mpx_result *rs[20];
    for (int i = 0; i < 20; i++)
        CHECK_OK(mpx_pool_apply_async(p, t_stuck, NULL, 0, NULL, &rs[i]));
    sleep_ms(50);
    CHECK_OK(mpx_pool_terminate(p)); /* t_stuck never returns: a wait would hang */
    CHECK_OK(mpx_pool_join(p));
    for (int i = 0; i < 20; i++) {
        CHECK_EQ(mpx_result_ready(rs[i]), 1);
        int rc = mpx_result_get(rs[i], 0, NULL, NULL);
        CHECK(rc == MPX_ECANCELED);
        mpx_result_destroy(rs[i]);
    }
    pid_t pids[4];
    CHECK_ERR(mpx_pool_worker_pids(p, pids, 4), 0);
    mpx_pool_destroy(p);
}

/* POOL-24: destroying a pool with pending work stops the workers */
MPX_TEST(pool_24_destroy_with_pending)
{
    mpx_pool *p = mkpool(2);
    /* destroy must not wait for them: processes are killed; threads
     * cannot be (a ThreadPool, as Python's, lets running tasks end) */
    int64_t ms = strcmp(mpx_test_start_method(), "thread") ? 60000 : 100;
    mpx_result *r;
    for (int i = 0; i < 30; i++) {
        CHECK_OK(mpx_pool_apply_async(p, t_sleep, &ms, 8, NULL, &r));
        mpx_result_destroy(r);
    }
    pid_t pids[4];
    int n = mpx_pool_worker_pids(p, pids, 4);
    mpx_pool_destroy(p);
    for (int i = 0; i < n; i++)
        CHECK(kill(pids[i], 0) < 0);
}

/* POOL-17 + BLOG-02: close lets queued work finish, then join */
MPX_TEST(pool_17_close_finishes_work)
{
    mpx_pool *p = mkpool(2);
    int64_t ms = 100;
    mpx_result *r;
    CHECK_OK(mpx_pool_apply_async(p, t_sleep, &ms, 8, NULL, &r));
    pid_t pids[4];
    int n = mpx_pool_worker_pids(p, pids, 4);
    CHECK_OK(mpx_pool_close(p));
    CHECK_OK(mpx_pool_join(p));
    CHECK_OK(mpx_result_get(r, 0, NULL, NULL));
    for (int i = 0; i < n; i++)
        CHECK(kill(pids[i], 0) < 0);
    mpx_result_destroy(r);
    mpx_pool_destroy(p);
}

/* Beyond Python: cancellation of pending tasks */
static void cancel_progress(size_t done, size_t total, void *udata)
{
    (void)total;
    __atomic_store_n((size_t *)udata, done, __ATOMIC_RELEASE);
}

MPX_TEST(pool_cancel_pending)
{
    mpx_pool *p = mkpool(1);
    int64_t v[40];
    for (int i = 0; i < 40; i++)
        v[i] = 20;
    mpx_bytes *it = int_items(v, 40);
    mpx_result *r;
    /* cancel once item 0 is done (seen by the progress callback: no
     * assumption on how long a 20 ms task takes under load) */
    size_t done = 0;
    mpx_call_opts o = {.chunksize = 1, .progress = cancel_progress, .progress_udata = &done};
    CHECK_OK(mpx_pool_map_async(p, t_sleep, it, 40, &o, &r));
    for (int i = 0; i < 30000 && !__atomic_load_n(&done, __ATOMIC_ACQUIRE); i++)
        sleep_ms(1);
    CHECK(__atomic_load_n(&done, __ATOMIC_ACQUIRE) >= 1);
    int n = mpx_result_cancel(r);
    CHECK(n > 10);
    CHECK_EQ(mpx_result_wait(r, 5000), 1);
    CHECK(mpx_result_failed(r) >= 10);
    CHECK_ERR(mpx_result_get(r, 0, NULL, NULL), MPX_ECANCELED);
    CHECK_OK(mpx_result_item(r, 0, NULL, NULL));
    mpx_result_destroy(r);
    free(it);
    finish(p);
}

/* Beyond Python: cancel while the handler harvests other jobs' slots (the
 * thread sanitizer caught cancel reading slot state that harvest was
 * writing under another job's lock). Many small jobs in flight, cancelled
 * one by one as they run: each ends with its result or MPX_ECANCELED. */
MPX_TEST_T(pool_cancel_while_harvesting, 60)
{
    mpx_pool *p = mkpool(2);
    enum { JOBS = 64 };
    int64_t v[JOBS];
    size_t cancelled = 0, finished = 0;
    for (int round = 0; round < 30; round++) {
        mpx_result *r[JOBS];
        for (int k = 0; k < JOBS; k++) {
            v[k] = round * JOBS + k;
            CHECK_OK(mpx_pool_apply_async(p, t_square, &v[k], 8, NULL, &r[k]));
        }
        for (int k = JOBS - 1; k >= 0; k -= 2)
            CHECK(mpx_result_cancel(r[k]) >= 0);
        for (int k = 0; k < JOBS; k++) {
            CHECK_EQ(mpx_result_wait(r[k], 10000), 1);
            const void *d;
            size_t len;
            int rc = mpx_result_item(r[k], 0, &d, &len);
            if (rc == 0) {
                CHECK_EQ(len, 8);
                CHECK_EQ(get_i64(d), v[k] * v[k]);
                finished++;
            } else {
                CHECK_ERR(rc, MPX_ECANCELED);
                CHECK(k % 2 == 1); /* only the cancelled ones */
                cancelled++;
            }
            mpx_result_destroy(r[k]);
        }
    }
    CHECK(finished >= 30 * JOBS / 2);
    CHECK_EQ(cancelled + finished, (size_t)30 * JOBS);
    finish(p);
}

/* Beyond Python: progress callback */
static size_t prog_last_done, prog_total, prog_calls;
static void on_progress(size_t done, size_t total, void *u)
{
    (void)u;
    CHECK(done >= prog_last_done);
    prog_last_done = done;
    prog_total = total;
    prog_calls++;
}
MPX_TEST(pool_progress_callback)
{
    mpx_pool *p = mkpool(2);
    enum { N = 100 };
    int64_t v[N];
    for (int i = 0; i < N; i++)
        v[i] = 1;
    mpx_bytes *it = int_items(v, N);
    mpx_result *r;
    mpx_call_opts o = {.chunksize = 5, .progress = on_progress, .progress_bar = 1};
    CHECK_OK(mpx_pool_map(p, t_sleep, it, N, &o, &r));
    finish(p);
    CHECK(prog_calls >= 1);
    CHECK_EQ(prog_last_done, N);
    CHECK_EQ(prog_total, N);
    mpx_result_destroy(r);
    free(it);
}

/* TPOOL-01: ThreadPool runs the same API in threads */
static int t_tid(const void *in, size_t len, mpx_task_out *out)
{
    (void)in;
    (void)len;
    int64_t pid = getpid();
    return mpx_task_out_set(out, &pid, 8);
}
MPX_TEST(tpool_01_thread_pool)
{
    mpx_pool *p;
    CHECK_OK(mpx_thread_pool_create(&p, 3, NULL, NULL));
    int64_t v[50];
    mpx_bytes *it = range_items(v, 50);
    mpx_result *r;
    CHECK_OK(mpx_pool_map(p, t_square, it, 50, NULL, &r));
    for (int i = 0; i < 50; i++) {
        const void *d;
        CHECK_OK(mpx_result_item(r, (size_t)i, &d, NULL));
        CHECK_EQ(get_i64(d), (int64_t)i * i);
    }
    mpx_result_destroy(r);
    CHECK_OK(mpx_pool_apply(p, t_tid, NULL, 0, NULL, &r));
    const void *d;
    CHECK_OK(mpx_result_get(r, 0, &d, NULL));
    CHECK_EQ(get_i64(d), getpid()); /* same process */
    mpx_result_destroy(r);
    CHECK_OK(mpx_pool_apply(p, t_inv5, &v[5], 8, NULL, &r) == MPX_ETASK ? 0 : -1);
    mpx_result_destroy(r);
    mpx_imap *im;
    CHECK_OK(mpx_pool_imap(p, t_square, it, 50, NULL, &im));
    for (int i = 0; i < 50; i++) {
        CHECK_OK(mpx_imap_next(im, MPX_FOREVER, &d, NULL, NULL));
        CHECK_EQ(get_i64(d), (int64_t)i * i);
    }
    mpx_imap_destroy(im);
    mpx_pool_opts bad = {.threads = 1, .task_timeout = 10};
    mpx_pool *q;
    CHECK_ERR(mpx_pool_create(&q, 2, &bad), MPX_ENOTSUP);
    free(it);
    finish(p);
}

/* Fixed-size fast path */
static int t_elem(const void *in, void *out, const void *shared)
{
    int32_t x;
    memcpy(&x, in, 4);
    double k = shared ? *(const double *)shared : 1.0;
    double y = k * x + 0.5;
    memcpy(out, &y, 8);
    return x == 777 ? MPX_EINVAL : 0;
}
MPX_TEST(pool_fixed_fast_path)
{
    mpx_pool *p = mkpool(2);
    enum { N = 100000 };
    int32_t *in = malloc(N * 4);
    double *out = malloc(N * 8);
    int *st = malloc(N * sizeof(int));
    for (int i = 0; i < N; i++)
        in[i] = i;
    double k = 2.0;
    mpx_call_opts o = {.shared = &k, .shared_len = sizeof k};
    CHECK_ERR(mpx_pool_map_fixed(p, t_elem, in, 4, out, 8, N, &o, st), MPX_EINVAL);
    for (int i = 0; i < N; i++) {
        CHECK(out[i] == 2.0 * i + 0.5);
        CHECK_EQ(st[i], i == 777 ? MPX_EINVAL : 0);
    }
    in[777] = 1;
    CHECK_OK(mpx_pool_map_fixed(p, t_elem, in, 4, out, 8, N, NULL, NULL));
    CHECK(out[777] == 1.5);
    free(in);
    free(out);
    free(st);
    finish(p);
}

/* fast path survives a crashing element */
static int t_elem_crash(const void *in, void *out, const void *shared)
{
    (void)shared;
    int32_t x;
    memcpy(&x, in, 4);
    if (x == 5000)
        raise(SIGSEGV);
    int64_t y = (int64_t)x * 2;
    memcpy(out, &y, 8);
    return 0;
}
MPX_TEST(pool_fixed_crash)
{
    mpx_pool *p = mkpool(2);
    enum { N = 20000 };
    int32_t *in = malloc(N * 4);
    int64_t *out = malloc(N * 8);
    int *st = malloc(N * sizeof(int));
    for (int i = 0; i < N; i++)
        in[i] = i;
    mpx_call_opts o = {.chunksize = 64};
    CHECK_ERR(mpx_pool_map_fixed(p, t_elem_crash, in, 4, out, 8, N, &o, st), MPX_EWORKER);
    for (int i = 0; i < N; i++) {
        if (i == 5000)
            CHECK_ERR(st[i], MPX_EWORKER);
        else {
            CHECK_EQ(st[i], 0);
            CHECK_EQ(out[i], 2 * (int64_t)i);
        }
    }
    free(in);
    free(out);
    free(st);
    finish(p);
}

/* BLOG-03, EX-44: map_async returns at once, map blocks */
MPX_TEST(pool_blog03_map_async_returns_first)
{
    mpx_pool *p = mkpool(2);
    int64_t v[4] = {100, 100, 100, 100};
    mpx_bytes *it = int_items(v, 4);
    mpx_result *r;
    int64_t t0 = mpx_test_now_ms();
    CHECK_OK(mpx_pool_map_async(p, t_sleep, it, 4, NULL, &r));
    CHECK_EQ(mpx_result_ready(r), 0); /* returned before the 200 ms of work */
    CHECK_OK(mpx_result_get(r, MPX_FOREVER, NULL, NULL));
    CHECK(mpx_test_now_ms() - t0 >= 190);
    mpx_result_destroy(r);
    free(it);
    finish(p);
}

/* empty map is ready at once (Python returns []) */
MPX_TEST(pool_10_empty_map)
{
    mpx_pool *p = mkpool(1);
    mpx_result *r;
    CHECK_OK(mpx_pool_map(p, t_square, NULL, 0, NULL, &r));
    CHECK_EQ(mpx_result_count(r), 0);
    CHECK_EQ(mpx_result_ready(r), 1);
    mpx_result_destroy(r);
    finish(p);
}

/* many items with chunksize 1: everything arrives, in order */
MPX_TEST(pool_10_map_many_chunk1)
{
    mpx_pool *p = mkpool(2);
    enum { N = 200000 };
    int64_t *v = range_alloc(N);
    mpx_result *r;
    mpx_call_opts o = {.chunksize = 1};
    CHECK_OK(mpx_pool_map_array(p, t_square, v, 8, N, &o, &r));
    for (int i = 0; i < N; i += 997) {
        const void *d;
        CHECK_OK(mpx_result_item(r, (size_t)i, &d, NULL));
        CHECK_EQ(get_i64(d), (int64_t)i * i);
    }
    mpx_result_destroy(r);
    free(v);
    finish(p);
}

/* worker killed from outside with SIGKILL while idle and while busy */
MPX_TEST(pool_worker_sigkill_replaced)
{
    mpx_pool *p = mkpool(2);
    pid_t pids[2];
    int n = 0;
    for (int i = 0; i < 200 && n < 2; i++) {
        n = mpx_pool_worker_pids(p, pids, 2);
        sleep_ms(5);
    }
    CHECK_EQ(n, 2);
    int64_t ms = 2000;
    mpx_result *r;
    CHECK_OK(mpx_pool_apply_async(p, t_sleep, &ms, 8, NULL, &r));
    sleep_ms(100);
    kill(pids[0], SIGKILL);
    kill(pids[1], SIGKILL);
    int rc = mpx_result_get(r, 5000, NULL, NULL);
    CHECK_ERR(rc, MPX_EWORKER);
    mpx_task_error e;
    CHECK_OK(mpx_result_error(r, &e));
    CHECK_EQ(e.signal, SIGKILL);
    mpx_result_destroy(r);
    int64_t x = 4;
    CHECK_OK(mpx_pool_apply(p, t_square, &x, 8, NULL, &r));
    mpx_result_destroy(r);
    finish(p);
}

/* Lost wake-ups (baselines note 3): no spinning at all, many small rounds
 * of apply/map so every hand-off goes through the doorbells. */
MPX_TEST_T(pool_no_spin_wakeup_stress, 60)
{
    for (int threads = 0; threads < 2; threads++) {
        mpx_pool *p;
        mpx_pool_opts po = {.spin = -1, .threads = threads};
        CHECK_OK(mpx_pool_create(&p, 2, &po));
        int64_t v[16];
        mpx_bytes *it = range_items(v, 16);
        int64_t t0 = mpx_test_now_ms();
        int rounds = 0;
        while (mpx_test_now_ms() - t0 < 1500) {
            mpx_result *r;
            mpx_call_opts o = {.chunksize = 1 + (size_t)(rounds % 3)};
            CHECK_OK(mpx_pool_map(p, t_square, it, (size_t)(1 + rounds % 16), &o, &r));
            mpx_result_destroy(r);
            int64_t x = rounds;
            CHECK_OK(mpx_pool_apply(p, t_square, &x, 8, NULL, &r));
            const void *d;
            CHECK_OK(mpx_result_get(r, 0, &d, NULL));
            CHECK_EQ(get_i64(d), x * x);
            mpx_result_destroy(r);
            rounds++;
        }
        CHECK(rounds > 20);
        free(it);
        finish(p);
    }
}

/* TPOOL-01: the fast path and a failing initializer on a thread pool */
static int t_init_thread_fail(const mpx_args *a)
{
    (void)a;
    return MPX_EINVAL;
}
MPX_TEST(tpool_01_fixed_and_init_failure)
{
    mpx_pool *p;
    CHECK_OK(mpx_thread_pool_create(&p, 2, NULL, NULL));
    enum { N = 5000 };
    int32_t *in = malloc(N * 4);
    double *out = malloc(N * 8);
    for (int i = 0; i < N; i++)
        in[i] = i + 1000;
    CHECK_OK(mpx_pool_map_fixed(p, t_elem, in, 4, out, 8, N, NULL, NULL));
    for (int i = 0; i < N; i++)
        CHECK(out[i] == in[i] + 0.5);
    free(in);
    free(out);
    finish(p);
    CHECK_OK(mpx_thread_pool_create(&p, 1, t_init_thread_fail, NULL));
    int64_t x = 2;
    mpx_result *r = NULL;
    CHECK_ERR(mpx_pool_apply(p, t_square, &x, 8, NULL, &r), MPX_EBROKEN);
    mpx_result_destroy(r);
    CHECK_OK(mpx_pool_terminate(p));
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
}

/* POOL-06: a fork child cannot use its parent's pool */
static int t_child_uses_pool(const mpx_args *a)
{
    mpx_pool *p = (mpx_pool *)(uintptr_t)mpx_args_int(a, 0);
    int64_t x = 1;
    mpx_result *r = NULL;
    if (mpx_pool_apply_async(p, t_square, &x, 8, NULL, &r) != MPX_ESTATE)
        return 3;
    if (mpx_pool_close(p) != MPX_ESTATE)
        return 4;
    mpx_pool_destroy(p);
    return 0;
}
MPX_TEST(pool_06_only_creator)
{
    if (strcmp(mpx_test_start_method(), "fork") != 0)
        MPX_SKIP("passes a pointer: fork only");
    mpx_pool *p = mkpool(1);
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_int(a, (int64_t)(uintptr_t)p));
    mpx_process *c;
    CHECK_OK(mpx_process_create(&c, t_child_uses_pool, a, NULL));
    mpx_args_destroy(a);
    CHECK_OK(mpx_process_start(c));
    CHECK_EQ(mpx_process_join(c, MPX_FOREVER), 1);
    int code = -1;
    CHECK_EQ(mpx_process_exitcode(c, &code), 1);
    CHECK_EQ(code, 0);
    mpx_process_destroy(c);
    int64_t x = 3;
    mpx_result *r;
    CHECK_OK(mpx_pool_apply(p, t_square, &x, 8, NULL, &r));
    mpx_result_destroy(r);
    finish(p);
}

/* a chunk whose outputs overflow the slot's output area: the worker hands
 * the rest back, nothing is lost or duplicated */
static int t_grow(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    int64_t x = get_i64(in);
    size_t n = 100 + (size_t)(x % 7) * 50;
    unsigned char *b = mpx_task_out_buf(out, n);
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(x + (int64_t)i);
    return 0;
}
MPX_TEST(pool_chunk_output_overflow)
{
    mpx_pool *p = mkpool(2);
    enum { N = 3000 };
    int64_t *v = range_alloc(N);
    mpx_result *r;
    mpx_call_opts o = {.chunksize = 700};
    CHECK_OK(mpx_pool_map_array(p, t_grow, v, 8, N, &o, &r));
    for (int i = 0; i < N; i++) {
        const void *d;
        size_t l;
        CHECK_OK(mpx_result_item(r, (size_t)i, &d, &l));
        CHECK_EQ(l, 100 + (size_t)(i % 7) * 50);
        CHECK_EQ(((const unsigned char *)d)[l - 1], (unsigned char)(i + (int)l - 1));
    }
    mpx_result_destroy(r);
    free(v);
    finish(p);
}

/* POOL-09: callbacks run in completion order, one at a time, in the
 * handler thread */
static int order_seen[3];
static _Atomic int order_n;
static _Atomic int in_cb;
static int cb_overlap;
static void cb_order(mpx_result *r, void *u)
{
    (void)r;
    if (atomic_fetch_add(&in_cb, 1) != 0)
        cb_overlap = 1;
    sleep_ms(5);
    order_seen[atomic_fetch_add(&order_n, 1)] = (int)(intptr_t)u;
    atomic_fetch_sub(&in_cb, 1);
}
MPX_TEST(pool_09_callbacks_completion_order)
{
    mpx_pool *p = mkpool(3);
    int64_t ms[3] = {600, 50, 300};
    mpx_result *r[3];
    for (int i = 0; i < 3; i++) {
        mpx_call_opts o = {.callback = cb_order, .udata = (void *)(intptr_t)i};
        CHECK_OK(mpx_pool_apply_async(p, t_sleep, &ms[i], 8, &o, &r[i]));
    }
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(mpx_result_wait(r[i], MPX_FOREVER), 1);
        mpx_result_destroy(r[i]);
    }
    CHECK_EQ(atomic_load(&order_n), 3);
    CHECK_EQ(order_seen[0], 1);
    CHECK_EQ(order_seen[1], 2);
    CHECK_EQ(order_seen[2], 0);
    CHECK_EQ(cb_overlap, 0);
    finish(p);
}
