/* test_pool_edges.c - Pool corner cases: a pool created in a thread that
 * exits, random worker kills, a worker that exits in a task, imap
 * cancellation, objects as initargs, threads submitting at once, describe,
 * the progress bar on a terminal, and the regression tests of #14 (races
 * found splitting pool.c) and #18 (the apply_async and map fast paths). */
#include "pool_util.h"

/* Workers belong to the pool, not to the thread that created it: a
 * short-lived creating thread must not take them down (PDEATHSIG is
 * per thread). */
static void *make_pool_thread(void *arg)
{
    mpx_pool **out = arg;
    if (mpx_pool_create(out, 2, NULL) != 0)
        *out = NULL;
    return NULL;
}

MPX_TEST(pool_created_in_a_thread_that_exits)
{
    mpx_pool *p = NULL;
    pthread_t t;
    CHECK_OK(-pthread_create(&t, NULL, make_pool_thread, &p));
    CHECK_OK(-pthread_join(t, NULL));
    CHECK(p != NULL);
    sleep_ms(100);
    int64_t v[20];
    mpx_bytes *it = range_items(v, 20);
    mpx_result *r;
    CHECK_OK(mpx_pool_map(p, t_square, it, 20, NULL, &r));
    CHECK_EQ(mpx_pool_replaced(p), 0);
    mpx_result_destroy(r);
    free(it);
    finish(p);
}

/* Faults are tested, not assumed: workers are SIGKILLed at random while a
 * chunked map runs. Every item ends either correct or failed with
 * MPX_EWORKER, at most one item per kill fails, nothing hangs. */
static int t_slow_square(const void *in, size_t len, mpx_task_out *out)
{
    int64_t x = get_i64(in);
    if (x % 50 == 0)
        sleep_ms(1);
    return t_square(in, len, out);
}
MPX_TEST_T(pool_random_worker_kills, 90)
{
    mpx_pool *p = mkpool(2);
    enum { N = 20000 };
    int64_t *v = range_alloc(N);
    mpx_result *r;
    mpx_call_opts o = {.chunksize = 7};
    mpx_bytes *it = int_items(v, N);
    CHECK_OK(mpx_pool_map_async(p, t_slow_square, it, N, &o, &r));
    int kills = 0;
    unsigned seed = 12345;
    while (!mpx_result_ready(r) && kills < 25) {
        sleep_ms(5 + (int)(rand_r(&seed) % 20));
        pid_t pids[2];
        int n = mpx_pool_worker_pids(p, pids, 2);
        if (n > 0 && kill(pids[rand_r(&seed) % (unsigned)n], SIGKILL) == 0)
            kills++;
    }
    CHECK_EQ(mpx_result_wait(r, 60000), 1);
    size_t failed = 0;
    for (int i = 0; i < N; i++) {
        const void *d;
        int rc = mpx_result_item(r, (size_t)i, &d, NULL);
        if (rc == 0)
            CHECK_EQ(get_i64(d), (int64_t)i * i);
        else {
            CHECK_ERR(rc, MPX_EWORKER);
            failed++;
        }
    }
    CHECK(failed <= (size_t)kills);
    CHECK_EQ(failed, mpx_result_failed(r));
    mpx_result_destroy(r);
    free(it);
    free(v);
    finish(p);
}

/* a task that ends its worker with exit(): only that item fails, with the
 * exit code; the worker is replaced */
static int t_exit3(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    (void)out;
    if (get_i64(in) == 3)
        _exit(3);
    return 0;
}
MPX_TEST(pool_worker_exit_in_task)
{
    mpx_pool *p = mkpool(2);
    int64_t v[6] = {0, 1, 2, 3, 4, 5};
    mpx_bytes *it = int_items(v, 6);
    mpx_result *r;
    mpx_call_opts o = {.chunksize = 2};
    CHECK_ERR(mpx_pool_map(p, t_exit3, it, 6, &o, &r), MPX_EWORKER);
    mpx_task_error e;
    CHECK_OK(mpx_result_error(r, &e));
    CHECK_EQ(e.index, 3);
    CHECK_EQ(e.signal, 0);
    CHECK_EQ(e.exitcode, 3);
    CHECK(strstr(e.message, "exited with code 3") != NULL);
    CHECK_EQ(mpx_result_failed(r), 1);
    mpx_result_destroy(r);
    free(it);
    finish(p);
}

/* POOL-14: with one worker, imap_unordered yields in input order */
MPX_TEST(pool_14_unordered_one_worker_in_order)
{
    mpx_pool *p = mkpool(1);
    enum { N = 300 };
    int64_t v[N];
    mpx_bytes *it = range_items(v, N);
    mpx_imap *im;
    mpx_call_opts o = {.chunksize = 3};
    CHECK_OK(mpx_pool_imap_unordered(p, t_square, it, N, &o, &im));
    for (int i = 0; i < N; i++) {
        size_t idx;
        CHECK_OK(mpx_imap_next(im, MPX_FOREVER, NULL, NULL, &idx));
        CHECK_EQ(idx, (size_t)i);
    }
    CHECK_ERR(mpx_imap_next(im, MPX_FOREVER, NULL, NULL, NULL), MPX_EEOF);
    mpx_imap_destroy(im);
    free(it);
    finish(p);
}

/* cancelling an imap over an endless source: the input stops, the items
 * already in flight still come, then the end */
MPX_TEST(pool_imap_cancel_endless)
{
    mpx_pool *p = mkpool(2);
    gen_state g = {0, 0};
    mpx_imap *im;
    mpx_call_opts o = {.lookahead = 40};
    CHECK_OK(mpx_pool_imap_gen(p, t_square, gen_count, &g, &o, &im));
    for (int i = 0; i < 10; i++)
        CHECK_OK(mpx_imap_next(im, MPX_FOREVER, NULL, NULL, NULL));
    CHECK(mpx_imap_cancel(im) >= 0);
    int64_t fed = atomic_load(&g.next);
    int more = 0, rc;
    while ((rc = mpx_imap_next(im, 5000, NULL, NULL, NULL)) == 0 || rc == MPX_ECANCELED)
        more++;
    CHECK_ERR(rc, MPX_EEOF);
    CHECK(more <= 40);
    CHECK(atomic_load(&g.next) <= fed + 1);
    mpx_imap_destroy(im);
    finish(p);
}

/* POOL-03 with objects: a Queue passed to the workers through initargs
 * (the way Python shares a queue with pool workers), under every start
 * method */
static mpx_queue *worker_q;
static int t_init_queue(const mpx_args *a)
{
    worker_q = mpx_args_object(a, 0);
    return worker_q ? 0 : MPX_EINVAL;
}
static int t_put_in_queue(const void *in, size_t len, mpx_task_out *out)
{
    (void)out;
    return mpx_queue_put(worker_q, in, len, MPX_FOREVER);
}
MPX_TEST(pool_03_initargs_queue_object)
{
    mpx_queue *q;
    CHECK_OK(mpx_queue_create(&q, 0, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, q));
    mpx_pool *p;
    mpx_pool_opts po = {.initializer = t_init_queue, .initargs = a};
    CHECK_OK(mpx_pool_create(&p, 2, &po));
    mpx_args_destroy(a);
    int64_t v[20];
    mpx_bytes *it = range_items(v, 20);
    mpx_result *r;
    CHECK_OK(mpx_pool_map(p, t_put_in_queue, it, 20, NULL, &r));
    mpx_result_destroy(r);
    int64_t sum = 0;
    for (int i = 0; i < 20; i++) {
        void *d;
        size_t l;
        CHECK_OK(mpx_queue_get(q, &d, &l, 5000));
        CHECK_EQ(l, 8);
        sum += get_i64(d);
        mpx_free(d);
    }
    CHECK_EQ(sum, 190);
    free(it);
    finish(p);
    mpx_queue_destroy(q);
}

/* many threads submit to one pool at once */
static mpx_pool *shared_pool;
static void *submitter(void *arg)
{
    int64_t base = (int64_t)(intptr_t)arg * 1000;
    for (int k = 0; k < 100; k++) {
        int64_t x = base + k;
        mpx_result *r;
        if (mpx_pool_apply(shared_pool, t_square, &x, 8, NULL, &r) != 0)
            return (void *)1;
        const void *d;
        if (mpx_result_get(r, 0, &d, NULL) != 0 || get_i64(d) != x * x)
            return (void *)2;
        mpx_result_destroy(r);
        int64_t v[5] = {x, x + 1, x + 2, x + 3, x + 4};
        if (mpx_pool_map_array(shared_pool, t_square, v, 8, 5, NULL, &r) != 0)
            return (void *)3;
        for (int i = 0; i < 5; i++) {
            if (mpx_result_item(r, (size_t)i, &d, NULL) != 0 || get_i64(d) != v[i] * v[i])
                return (void *)4;
        }
        mpx_result_destroy(r);
    }
    return NULL;
}
MPX_TEST(pool_threads_submit_concurrently)
{
    shared_pool = mkpool(2);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK_OK(-pthread_create(&t[i], NULL, submitter, (void *)(intptr_t)i));
    for (int i = 0; i < 4; i++) {
        void *ret;
        CHECK_OK(-pthread_join(t[i], &ret));
        CHECK(ret == NULL);
    }
    CHECK_EQ(mpx_pool_outstanding(shared_pool), 0);
    finish(shared_pool);
}

/* repr of a pool (Python prints it in the pool test program) */
MPX_TEST(pool_describe)
{
    mpx_pool *p = mkpool(3);
    char *d = mpx_pool_describe(p);
    CHECK_STREQ(d, "<Pool state=RUN pool_size=3 processes>");
    mpx_free(d);
    CHECK_OK(mpx_pool_close(p));
    d = mpx_pool_describe(p);
    CHECK_STREQ(d, "<Pool state=CLOSE pool_size=3 processes>");
    mpx_free(d);
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
    CHECK(mpx_pool_describe(NULL) == NULL);
}

/* the progress bar is drawn on stderr when it is a terminal */
MPX_TEST(pool_progress_bar_on_a_terminal)
{
    int master, slave;
    if (openpty(&master, &slave, NULL, NULL, NULL) < 0)
        MPX_SKIP("no pty");
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    CHECK(saved >= 0);
    dup2(slave, STDERR_FILENO);
    close(slave);
    mpx_pool *p = mkpool(2);
    int64_t v[40];
    for (int i = 0; i < 40; i++)
        v[i] = 1;
    mpx_bytes *it = int_items(v, 40);
    mpx_result *r;
    mpx_call_opts o = {.chunksize = 1, .progress_bar = 1};
    int rc = mpx_pool_map(p, t_sleep, it, 40, &o, &r);
    dup2(saved, STDERR_FILENO);
    close(saved);
    CHECK_OK(rc);
    char buf[8192];
    size_t got = 0;
    struct pollfd pf = {.fd = master, .events = POLLIN};
    while (got < sizeof buf - 1 && poll(&pf, 1, 200) == 1) {
        ssize_t n = read(master, buf + got, sizeof buf - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = 0;
    close(master);
    CHECK(strstr(buf, "100%") != NULL);
    CHECK(strstr(buf, "40/40") != NULL);
    CHECK(strchr(buf, '#') != NULL);
    mpx_result_destroy(r);
    free(it);
    finish(p);
}

/* #14: a pool breaks (its workers' initializer keeps failing) while another
 * thread keeps submitting. The handler marks the pool broken, which every
 * submission reads under p->mu: the write took no lock (a data race that
 * the TSan run reports). Each submission here is an empty map, ready at
 * once, so the loop can run flat out without piling up jobs. */
static void broken_while_submitting(int threads)
{
    mpx_pool *p;
    mpx_pool_opts po = {.initializer = t_init_fail, .threads = threads};
    CHECK_OK(mpx_pool_create(&p, 1, &po));
    int rc;
    do {
        mpx_result *r = NULL;
        rc = mpx_pool_map_async(p, t_square, NULL, 0, NULL, &r);
        CHECK(rc == 0 || rc == MPX_EBROKEN);
        if (rc == 0) {
            CHECK_EQ(mpx_result_ready(r), 1);
            mpx_result_destroy(r);
        }
    } while (rc == 0);
    int64_t x = 2;
    mpx_result *r = NULL;
    CHECK_ERR(mpx_pool_apply_async(p, t_square, &x, 8, NULL, &r), MPX_EBROKEN);
    CHECK_OK(mpx_pool_terminate(p));
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
}
MPX_TEST_T(issue14_pool_broken_while_submitting, 120)
{
    broken_while_submitting(0);
}
MPX_TEST_T(issue14_tpool_broken_while_submitting, 120)
{
    broken_while_submitting(1);
}

/* #14: cancelling an imap while the handler draws its progress bar. The bar
 * read the job's counters after dropping the job's lock, while a cancel
 * writes them under it (a data race that the TSan run reports); it now
 * draws the counters read under the lock, as the progress callback gets.
 * The first progress callback (which runs just before the bar is drawn)
 * waits until the test has cancelled; relaxed atomics, so that the wait
 * orders nothing for ThreadSanitizer. */
static atomic_int bar_reports, bar_cancelled;
static void count_report(size_t done, size_t total, void *u)
{
    (void)done;
    (void)total;
    (void)u;
    atomic_fetch_add_explicit(&bar_reports, 1, memory_order_relaxed);
    while (!atomic_load_explicit(&bar_cancelled, memory_order_relaxed))
        sleep_ms(1);
}
MPX_TEST_T(issue14_pool_progress_bar_cancel_while_drawing, 120)
{
    int master, slave;
    if (openpty(&master, &slave, NULL, NULL, NULL) < 0)
        MPX_SKIP("no pty");
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    CHECK(saved >= 0);
    dup2(slave, STDERR_FILENO);
    close(slave);
    mpx_pool *p = mkpool(1);
    enum { N = 8 };
    int64_t v[N];
    for (int i = 0; i < N; i++)
        v[i] = 100; /* ms each: the bar is drawn after the first one */
    mpx_bytes *items = int_items(v, N);
    mpx_call_opts o = {.chunksize = 1, .progress = count_report, .progress_bar = 1};
    mpx_imap *it;
    CHECK_OK(mpx_pool_imap(p, t_sleep, items, N, &o, &it));
    while (atomic_load_explicit(&bar_reports, memory_order_relaxed) == 0)
        sleep_ms(1);
    CHECK(mpx_imap_cancel(it) >= 0);
    atomic_store_explicit(&bar_cancelled, 1, memory_order_relaxed);
    int rc, k = 0;
    while ((rc = mpx_imap_next(it, MPX_FOREVER, NULL, NULL, NULL)) != MPX_EEOF && k <= N) {
        CHECK(rc == 0 || rc == MPX_ECANCELED);
        k++;
    }
    CHECK_EQ(rc, MPX_EEOF);
    mpx_imap_destroy(it);
    finish(p); /* the handler has drawn its last bar */
    dup2(saved, STDERR_FILENO);
    close(saved);
    char buf[8192];
    struct pollfd pf = {.fd = master, .events = POLLIN};
    while (poll(&pf, 1, 200) == 1 && read(master, buf, sizeof buf) > 0)
        ;
    close(master);
    free(items);
}

/* #18: an apply_async job holds a small input inline, sized to the input
 * (up to 64 bytes), a larger one on the heap, a huge one spilled: every
 * size around those edges reaches the task intact, on process and thread
 * pools, with the callbacks and options an apply job keeps (callback,
 * error_callback, udata, a per-call timeout). */
static int t_echo_check(const void *in, size_t len, mpx_task_out *out)
{
    const unsigned char *b = in;
    for (size_t i = 0; i < len; i++)
        if (b[i] != (unsigned char)(len * 31 + i * 7))
            return mpx_task_fail(out, "byte %zu of %zu is wrong", i, len);
    return mpx_task_out_set(out, in, len);
}

static _Atomic int sz_ok, sz_err;
static void cb_sz_ok(mpx_result *r, void *udata)
{
    (void)r;
    CHECK(udata == (void *)&sz_ok);
    atomic_fetch_add(&sz_ok, 1);
}
static void cb_sz_err(mpx_result *r, void *udata)
{
    (void)r;
    CHECK(udata == (void *)&sz_ok);
    atomic_fetch_add(&sz_err, 1);
}

MPX_TEST_T(issue18_pool_apply_async_input_sizes, 120)
{
    static const size_t sizes[] = {0,  1,  7,   8,   9,    15,    16,    17,     63,
                                   64, 65, 100, 255, 4096, 40000, 70000, 200000};
    enum { NS = sizeof sizes / sizeof sizes[0] };
    for (int threads = 0; threads < 2; threads++) {
        mpx_pool *p;
        mpx_pool_opts po = {.threads = threads};
        CHECK_OK(mpx_pool_create(&p, 2, &po));
        atomic_store(&sz_ok, 0);
        atomic_store(&sz_err, 0);
        mpx_result *r[NS + 1];
        unsigned char *in[NS];
        for (int k = 0; k < NS; k++) {
            size_t len = sizes[k];
            in[k] = malloc(len ? len : 1);
            for (size_t i = 0; i < len; i++)
                in[k][i] = (unsigned char)(len * 31 + i * 7);
            mpx_call_opts o = {.callback = cb_sz_ok, .error_callback = cb_sz_err, .udata = &sz_ok};
            if (!threads)
                o.timeout = 60000; /* a per-call timeout the job keeps */
            CHECK_OK(mpx_pool_apply_async(p, t_echo_check, in[k], len, &o, &r[k]));
            memset(in[k], 0xee, len); /* the job holds its own copy */
        }
        /* one failing task: its error callback, with the same udata */
        int64_t five = 5;
        mpx_call_opts oe = {.callback = cb_sz_ok, .error_callback = cb_sz_err, .udata = &sz_ok};
        CHECK_OK(mpx_pool_apply_async(p, t_inv5, &five, 8, &oe, &r[NS]));
        for (int k = 0; k < NS; k++) {
            const void *d;
            size_t l;
            CHECK_OK(mpx_result_get(r[k], MPX_FOREVER, &d, &l));
            CHECK_EQ(l, sizes[k]);
            const unsigned char *b = d;
            for (size_t i = 0; i < l; i++)
                CHECK_EQ(b[i], (unsigned char)(l * 31 + i * 7));
            CHECK_EQ(mpx_result_successful(r[k]), 1);
            mpx_result_destroy(r[k]);
            free(in[k]);
        }
        CHECK_ERR(mpx_result_get(r[NS], MPX_FOREVER, NULL, NULL), MPX_ETASK);
        mpx_task_error e;
        CHECK_OK(mpx_result_error(r[NS], &e));
        CHECK(strstr(e.message, "ZeroDivisionError") != NULL);
        mpx_result_destroy(r[NS]);
        CHECK_EQ(atomic_load(&sz_ok), NS); /* callbacks ran before ready */
        CHECK_EQ(atomic_load(&sz_err), 1);
        finish(p);
    }
}

/* #18: a result window of 2 MiB or more (131,072 items and up) is its own
 * mapping (huge pages where the system gives them): every item's result,
 * inline (8 bytes) or on the heap (16 bytes), is stored and freed, on
 * process and thread pools, for map and map_async with a callback. */
static _Atomic int big_cb;
static void cb_big(mpx_result *r, void *udata)
{
    (void)udata;
    CHECK_EQ(mpx_result_count(r), 140000);
    atomic_fetch_add(&big_cb, 1);
}

MPX_TEST_T(issue18_pool_map_big_window, 180)
{
    enum { N = 140000 };
    int64_t *v = range_alloc(N);
    unsigned char *wide = malloc((size_t)N * 16);
    mpx_bytes *items = calloc(N, sizeof *items);
    for (size_t i = 0; i < N; i++) {
        memcpy(wide + i * 16, &v[i], 8);
        memcpy(wide + i * 16 + 8, &v[i], 8);
        items[i] = (mpx_bytes){wide + i * 16, 16};
    }
    for (int threads = 0; threads < 2; threads++) {
        mpx_pool *p;
        mpx_pool_opts po = {.threads = threads};
        CHECK_OK(mpx_pool_create(&p, 2, &po));
        mpx_result *r;
        CHECK_OK(mpx_pool_map_array(p, t_square, v, 8, N, NULL, &r));
        CHECK_EQ(mpx_result_count(r), N);
        for (size_t i = 0; i < N; i++) {
            const void *d;
            size_t l;
            CHECK_OK(mpx_result_item(r, i, &d, &l));
            CHECK_EQ(l, 8);
            CHECK_EQ(get_i64(d), (int64_t)(i * i));
        }
        mpx_result_destroy(r);
        atomic_store(&big_cb, 0);
        mpx_call_opts o = {.callback = cb_big};
        CHECK_OK(mpx_pool_map_async(p, t_echo, items, N, &o, &r));
        CHECK_OK(mpx_result_get(r, MPX_FOREVER, NULL, NULL));
        CHECK_EQ(atomic_load(&big_cb), 1);
        for (size_t i = 0; i < N; i += 997) {
            const void *d;
            size_t l;
            CHECK_OK(mpx_result_item(r, i, &d, &l));
            CHECK_EQ(l, 16);
            CHECK(memcmp(d, wide + i * 16, 16) == 0);
        }
        mpx_result_destroy(r);
        /* a big map dropped unread while it runs: cancelled, freed */
        CHECK_OK(mpx_pool_map_async(p, t_echo, items, N, NULL, &r));
        mpx_result_destroy(r);
        finish(p);
    }
    free(items);
    free(wide);
    free(v);
}
