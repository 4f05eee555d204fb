/*
 * test/mpi/test_mpi.c - the MPI backend (libmpx_mpi, issue #19): the pool
 * suite's map/imap/apply/error tests on a pool of the "mpi" context, with
 * every result compared to a process pool's (fork) doing the same; what
 * the backend refuses; rank start-up and shut-down. test/mpi/run runs
 * each test in its own `mpirun --oversubscribe -n 4` job with a time
 * limit (`mpx_mpi_test --list` says how: "mpirun", "singleton" without
 * mpirun, "dies" when mpirun must exit non-zero).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mpi_tasks.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static int64_t get_i64(const void *p)
{
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0)
        ;
}

/* ---- tasks (the same binary runs in every rank) ---- */

static int t_square(const void *in, size_t len, mpx_task_out *out)
{
    if (len != 8)
        return mpx_task_fail(out, "bad length %zu", len);
    int64_t x = get_i64(in);
    x *= x;
    return mpx_task_out_set(out, &x, 8);
}

static int t_inv5(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    int64_t x = get_i64(in);
    if (x == 5)
        return mpx_task_fail(out, "ZeroDivisionError: float division by zero");
    if (x == 7)
        return -EDOM; /* a failure without a message */
    double d = 1.0 / ((double)x - 5.0);
    return mpx_task_out_set(out, &d, sizeof d);
}

static int t_sleep(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    (void)out;
    sleep_ms((int)get_i64(in));
    return 0;
}

/* reversed bytes, then the length: outputs as large as inputs */
static int t_reverse(const void *in, size_t len, mpx_task_out *out)
{
    unsigned char *o = mpx_task_out_buf(out, len + 8);
    if (!o)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++)
        o[i] = ((const unsigned char *)in)[len - 1 - i];
    uint64_t l = len;
    memcpy(o + len, &l, 8);
    return 0;
}

/* n bytes of output for an input n (output spills) */
static int t_grow(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    int64_t n = get_i64(in);
    unsigned char *o = mpx_task_out_buf(out, (size_t)n);
    if (!o && n)
        return -ENOMEM;
    for (int64_t i = 0; i < n; i++)
        o[i] = (unsigned char)(i * 7 + n);
    return 0;
}

static int t_star(const mpx_args *a, mpx_task_out *out)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%lld|%s|%g|%zu", (long long)mpx_args_int(a, 0),
                     mpx_args_str(a, 1), mpx_args_double(a, 2), mpx_args_count(a));
    return mpx_task_out_set(out, buf, (size_t)n);
}

static int64_t init_value = -1;
static char init_name[64];

static int i_init(const mpx_args *a)
{
    if (mpx_args_count(a) != 2)
        return MPX_EINVAL;
    init_value = mpx_args_int(a, 0);
    snprintf(init_name, sizeof init_name, "%s", mpx_args_str(a, 1));
    return 0;
}

static int i_fail(const mpx_args *a)
{
    (void)a;
    return -EPERM;
}

static int t_init_value(const void *in, size_t len, mpx_task_out *out)
{
    (void)in;
    (void)len;
    char buf[96];
    int n = snprintf(buf, sizeof buf, "%lld:%s", (long long)init_value, init_name);
    return mpx_task_out_set(out, buf, (size_t)n);
}

static int t_kill_self(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    if (get_i64(in) == 13)
        kill(getpid(), SIGKILL);
    return mpx_task_out_set(out, in, 8);
}

static int t_segv(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    if (get_i64(in) == 3)
        raise(SIGSEGV);
    return mpx_task_out_set(out, in, 8);
}

static int e_square(const void *in, void *out, const void *ctx)
{
    (void)ctx;
    int64_t x = get_i64(in) * get_i64(in);
    memcpy(out, &x, 8);
    return 0;
}

static int t_rank(const void *in, size_t len, mpx_task_out *out)
{
    (void)in;
    (void)len;
    int r = -1;
    mpx_mpi_world(&r, NULL);
    int64_t v = r;
    return mpx_task_out_set(out, &v, 8);
}

/* ---- helpers ---- */

static mpx_pool *mpi_pool(int n, const mpx_pool_opts *extra)
{
    mpx_pool_opts o = {0};
    if (extra)
        o = *extra;
    CHECK_OK(mpx_get_context(&o.ctx, "mpi"));
    mpx_pool *p = NULL;
    int rc = mpx_pool_create(&p, n ? n : MPX_POOL_DEFAULT, &o);
    if (rc)
        fprintf(stderr, "mpx_pool_create: %s\n", mpx_strerror(rc));
    CHECK_OK(rc);
    return p;
}

static mpx_pool *proc_pool(const mpx_pool_opts *extra)
{
    mpx_pool_opts o = {0};
    if (extra)
        o = *extra;
    CHECK_OK(mpx_get_context(&o.ctx, "fork"));
    mpx_pool *p = NULL;
    CHECK_OK(mpx_pool_create(&p, 2, &o));
    return p;
}

static void finish(mpx_pool *p)
{
    CHECK_OK(mpx_pool_close(p));
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
}

/* Every item of a and b: same outcome, same bytes, same error details. */
static void same_results(mpx_result *a, mpx_result *b)
{
    CHECK_EQ(mpx_result_count(a), mpx_result_count(b));
    CHECK_EQ(mpx_result_failed(a), mpx_result_failed(b));
    CHECK_EQ(mpx_result_successful(a), mpx_result_successful(b));
    for (size_t i = 0; i < mpx_result_count(a); i++) {
        const void *da = NULL, *db = NULL;
        size_t la = 0, lb = 0;
        int ra = mpx_result_item(a, i, &da, &la), rb = mpx_result_item(b, i, &db, &lb);
        CHECK_EQ(ra, rb);
        if (ra == 0) {
            CHECK_EQ(la, lb);
            CHECK(la == 0 || memcmp(da, db, la) == 0);
            continue;
        }
        mpx_task_error ea, eb;
        CHECK_OK(mpx_result_item_error(a, i, &ea));
        CHECK_OK(mpx_result_item_error(b, i, &eb));
        CHECK_EQ(ea.code, eb.code);
        CHECK_EQ(ea.task_rc, eb.task_rc);
        CHECK_EQ(ea.index, eb.index);
        CHECK(strcmp(ea.message, eb.message) == 0);
    }
    mpx_task_error ea, eb;
    int ra = mpx_result_error(a, &ea), rb = mpx_result_error(b, &eb);
    CHECK_EQ(ra, rb);
    if (ra == 0)
        CHECK_EQ(ea.index, eb.index);
}

static mpx_bytes *range_items(int64_t *vals, size_t n)
{
    mpx_bytes *it = calloc(n, sizeof *it);
    CHECK(it != NULL);
    for (size_t i = 0; i < n; i++) {
        vals[i] = (int64_t)i;
        it[i] = (mpx_bytes){&vals[i], 8};
    }
    return it;
}

/* ---- tests ---- */

/* EX-01 / POOL-10/11: map over 1,000 items with several chunksizes, as a
 * process pool does; map_array; mpx_pool_processes and describe */
static void test_map_same_as_process_pool(void)
{
    mpx_pool *m = mpi_pool(0, NULL), *p = proc_pool(NULL);
    CHECK_EQ(mpx_pool_processes(m), 3);
    char *d = mpx_pool_describe(m);
    CHECK(d && strcmp(d, "<Pool state=RUN pool_size=3 processes>") == 0);
    mpx_free(d);
    enum { N = 1000 };
    static int64_t v[N];
    mpx_bytes *it = range_items(v, N);
    size_t chunks[] = {1, 7, 0, 1000, 5000};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        mpx_call_opts o = {.chunksize = chunks[c]};
        mpx_result *a, *b;
        CHECK_OK(mpx_pool_map(m, t_square, it, N, &o, &a));
        CHECK_OK(mpx_pool_map(p, t_square, it, N, &o, &b));
        same_results(a, b);
        const void *x;
        size_t l;
        CHECK_OK(mpx_result_item(a, 999, &x, &l));
        CHECK_EQ(get_i64(x), 999 * 999);
        mpx_result_destroy(a);
        mpx_result_destroy(b);
        CHECK_OK(mpx_pool_map_array(m, t_square, v, 8, N, &o, &a));
        CHECK_OK(mpx_pool_map_array(p, t_square, v, 8, N, &o, &b));
        same_results(a, b);
        mpx_result_destroy(a);
        mpx_result_destroy(b);
    }
    /* POOL-10: an empty map */
    mpx_result *a;
    CHECK_OK(mpx_pool_map(m, t_square, it, 0, NULL, &a));
    CHECK_EQ(mpx_result_count(a), 0);
    mpx_result_destroy(a);
    free(it);
    finish(m);
    finish(p);
}

/* Inputs and outputs of every size, up to 300 KiB (both spill out of a
 * slot on rank 0 and travel inline over MPI) */
static void test_bytes_of_every_size(void)
{
    mpx_pool *m = mpi_pool(0, NULL), *p = proc_pool(NULL);
    size_t sizes[] = {0, 1, 7, 8, 9, 100, 4095, 4096, 33000, 70000, 300000, 3, 0, 65536};
    enum { N = sizeof sizes / sizeof sizes[0] };
    mpx_bytes it[N];
    unsigned char *bufs[N];
    int64_t grow[N];
    mpx_bytes git[N];
    for (size_t i = 0; i < N; i++) {
        bufs[i] = malloc(sizes[i] + 1);
        CHECK(bufs[i] != NULL);
        for (size_t k = 0; k < sizes[i]; k++)
            bufs[i][k] = (unsigned char)(k * 31 + i);
        it[i] = (mpx_bytes){bufs[i], sizes[i]};
        grow[i] = (int64_t)sizes[i];
        git[i] = (mpx_bytes){&grow[i], 8};
    }
    size_t chunks[] = {1, 3, 0};
    for (size_t c = 0; c < 3; c++) {
        mpx_call_opts o = {.chunksize = chunks[c]};
        mpx_result *a, *b;
        CHECK_OK(mpx_pool_map(m, t_reverse, it, N, &o, &a));
        CHECK_OK(mpx_pool_map(p, t_reverse, it, N, &o, &b));
        same_results(a, b);
        const void *d;
        size_t l;
        CHECK_OK(mpx_result_item(a, 10, &d, &l));
        CHECK_EQ(l, 300008);
        CHECK_EQ(((const unsigned char *)d)[0], bufs[10][299999]);
        mpx_result_destroy(a);
        mpx_result_destroy(b);
        CHECK_OK(mpx_pool_map(m, t_grow, git, N, &o, &a));
        CHECK_OK(mpx_pool_map(p, t_grow, git, N, &o, &b));
        same_results(a, b);
        mpx_result_destroy(a);
        mpx_result_destroy(b);
    }
    for (size_t i = 0; i < N; i++)
        free(bufs[i]);
    finish(m);
    finish(p);
}

static int cb_ok, cb_err;
static void on_ok(mpx_result *r, void *u)
{
    (void)r;
    (void)u;
    __atomic_add_fetch(&cb_ok, 1, __ATOMIC_SEQ_CST);
}
static void on_err(mpx_result *r, void *u)
{
    (void)r;
    (void)u;
    __atomic_add_fetch(&cb_err, 1, __ATOMIC_SEQ_CST);
}

/* POOL-07/08, ASYNC-02..05, POOL-09: apply, apply_async, callbacks */
static void test_apply_and_async(void)
{
    mpx_pool *m = mpi_pool(2, NULL);
    int64_t x = 20;
    mpx_result *r;
    CHECK_OK(mpx_pool_apply(m, t_square, &x, 8, NULL, &r));
    const void *d;
    size_t l;
    CHECK_OK(mpx_result_get(r, 0, &d, &l));
    CHECK_EQ(l, 8);
    CHECK_EQ(get_i64(d), 400);
    mpx_result_destroy(r);

    int64_t ms = 400;
    CHECK_OK(mpx_pool_apply_async(m, t_sleep, &ms, 8, NULL, &r));
    CHECK_EQ(mpx_result_ready(r), 0);
    CHECK_EQ(mpx_result_successful(r), MPX_ESTATE);
    CHECK_EQ(mpx_result_get(r, 20, NULL, NULL), MPX_ETIMEDOUT);
    CHECK_EQ(mpx_result_wait(r, 10), 0);
    CHECK_EQ(mpx_result_wait(r, MPX_FOREVER), 1);
    CHECK_EQ(mpx_result_ready(r), 1);
    CHECK_EQ(mpx_result_successful(r), 1);
    mpx_result_destroy(r);

    /* callbacks: success and error, once each per result */
    enum { K = 50 };
    mpx_result *rs[K];
    int64_t v[K];
    for (int i = 0; i < K; i++) {
        v[i] = i;
        mpx_call_opts o = {.callback = on_ok, .error_callback = on_err};
        CHECK_OK(mpx_pool_apply_async(m, t_inv5, &v[i], 8, &o, &rs[i]));
    }
    for (int i = 0; i < K; i++) {
        int rc = mpx_result_get(rs[i], MPX_FOREVER, &d, &l);
        CHECK_EQ(rc, i == 5 ? MPX_ETASK : i == 7 ? MPX_ETASK : 0);
        mpx_result_destroy(rs[i]);
    }
    CHECK_EQ(__atomic_load_n(&cb_ok, __ATOMIC_SEQ_CST), K - 2);
    CHECK_EQ(__atomic_load_n(&cb_err, __ATOMIC_SEQ_CST), 2);
    finish(m);
}

/* POOL-21: task errors from apply, map, imap, with the same details as the
 * process pool gives */
static void test_task_errors(void)
{
    mpx_pool *m = mpi_pool(0, NULL), *p = proc_pool(NULL);
    int64_t five = 5;
    mpx_result *r, *q;
    CHECK_EQ(mpx_pool_apply(m, t_inv5, &five, 8, NULL, &r), MPX_ETASK);
    CHECK_EQ(mpx_pool_apply(p, t_inv5, &five, 8, NULL, &q), MPX_ETASK);
    same_results(r, q);
    mpx_task_error e;
    CHECK_OK(mpx_result_error(r, &e));
    CHECK_EQ(e.code, MPX_ETASK);
    CHECK_EQ(e.task_rc, MPX_ETASK);
    CHECK(strstr(e.message, "ZeroDivisionError") != NULL);
    mpx_result_destroy(r);
    mpx_result_destroy(q);

    enum { N = 30 };
    int64_t v[N];
    mpx_bytes *it = range_items(v, N);
    for (size_t cs = 1; cs <= 4; cs += 3) {
        mpx_call_opts o = {.chunksize = cs};
        CHECK_EQ(mpx_pool_map(m, t_inv5, it, N, &o, &r), MPX_ETASK);
        CHECK_EQ(mpx_pool_map(p, t_inv5, it, N, &o, &q), MPX_ETASK);
        same_results(r, q);
        CHECK_EQ(mpx_result_failed(r), 2);
        CHECK_OK(mpx_result_error(r, &e));
        CHECK_EQ(e.index, 5);
        CHECK_OK(mpx_result_item_error(r, 7, &e));
        CHECK_EQ(e.task_rc, -EDOM);
        mpx_result_destroy(r);
        mpx_result_destroy(q);
    }
    /* imap: each item's own error at its position, the others continue */
    mpx_imap *im;
    CHECK_OK(mpx_pool_imap(m, t_inv5, it, 10, NULL, &im));
    for (int i = 0; i < 10; i++) {
        const void *d;
        size_t l, idx;
        int rc = mpx_imap_next(im, MPX_FOREVER, &d, &l, &idx);
        CHECK_EQ(idx, (size_t)i);
        if (i == 5 || i == 7) {
            CHECK_EQ(rc, MPX_ETASK);
            CHECK_OK(mpx_imap_error(im, &e));
            CHECK_EQ(e.index, (size_t)i);
        } else {
            CHECK_OK(rc);
            double dv;
            memcpy(&dv, d, 8);
            CHECK(dv == 1.0 / ((double)i - 5.0));
        }
    }
    CHECK_EQ(mpx_imap_next(im, MPX_FOREVER, NULL, NULL, NULL), MPX_EEOF);
    mpx_imap_destroy(im);
    free(it);
    finish(m);
    finish(p);
}

static int gen_count(void *state, mpx_bytes *item)
{
    int64_t *s = state;
    s[1] = s[0]++;
    *item = (mpx_bytes){&s[1], 8};
    return 1; /* endless */
}

/* POOL-12/14: imap in order, imap_unordered complete, an endless lazy
 * input read with bounded look-ahead */
static void test_imap_ordered_unordered(void)
{
    mpx_pool *m = mpi_pool(0, NULL);
    enum { N = 500 };
    static int64_t v[N];
    mpx_bytes *it = range_items(v, N);
    mpx_imap *im;
    mpx_call_opts o = {.chunksize = 7};
    CHECK_OK(mpx_pool_imap(m, t_square, it, N, &o, &im));
    for (int i = 0; i < N; i++) {
        const void *d;
        size_t l, idx;
        CHECK_OK(mpx_imap_next(im, MPX_FOREVER, &d, &l, &idx));
        CHECK_EQ(idx, (size_t)i);
        CHECK_EQ(get_i64(d), (int64_t)i * i);
    }
    CHECK_EQ(mpx_imap_next(im, 0, NULL, NULL, NULL), MPX_EEOF);
    mpx_imap_destroy(im);

    CHECK_OK(mpx_pool_imap_unordered(m, t_square, it, N, NULL, &im));
    static char seen[N];
    for (int i = 0; i < N; i++) {
        const void *d;
        size_t l, idx;
        CHECK_OK(mpx_imap_next(im, MPX_FOREVER, &d, &l, &idx));
        CHECK(idx < N && !seen[idx]);
        seen[idx] = 1;
        CHECK_EQ(get_i64(d), (int64_t)idx * (int64_t)idx);
    }
    CHECK_EQ(mpx_imap_next(im, 100, NULL, NULL, NULL), MPX_EEOF);
    mpx_imap_destroy(im);

    int64_t st[2] = {0, 0};
    mpx_call_opts lo = {.lookahead = 64};
    CHECK_OK(mpx_pool_imap_gen(m, t_square, gen_count, st, &lo, &im));
    for (int i = 0; i < 1000; i++) {
        const void *d;
        size_t l, idx;
        CHECK_OK(mpx_imap_next(im, MPX_FOREVER, &d, &l, &idx));
        CHECK_EQ(idx, (size_t)i);
        CHECK_EQ(get_i64(d), (int64_t)i * i);
    }
    mpx_imap_destroy(im);
    CHECK(st[0] <= 1000 + 64 + 1);
    free(it);
    finish(m);
}

/* POOL-15/16: starmap with partial application, as the process pool */
static void test_starmap_partial(void)
{
    mpx_pool *m = mpi_pool(0, NULL), *p = proc_pool(NULL);
    enum { N = 40 };
    mpx_args *items[N];
    for (int i = 0; i < N; i++) {
        CHECK_OK(mpx_args_create(&items[i]));
        CHECK_OK(mpx_args_add_str(items[i], i % 2 ? "odd" : "even"));
    }
    mpx_args *before, *after;
    CHECK_OK(mpx_args_create(&before));
    CHECK_OK(mpx_args_add_int(before, 42));
    CHECK_OK(mpx_args_create(&after));
    CHECK_OK(mpx_args_add_double(after, 2.5));
    mpx_call_opts o = {.bound_before = before, .bound_after = after, .chunksize = 3};
    mpx_result *a, *b;
    CHECK_OK(mpx_pool_starmap(m, t_star, (const mpx_args *const *)items, N, &o, &a));
    CHECK_OK(mpx_pool_starmap(p, t_star, (const mpx_args *const *)items, N, &o, &b));
    same_results(a, b);
    const void *d;
    size_t l;
    CHECK_OK(mpx_result_item(a, 3, &d, &l));
    CHECK(l == strlen("42|odd|2.5|3") && memcmp(d, "42|odd|2.5|3", l) == 0);
    mpx_result_destroy(a);
    mpx_result_destroy(b);
    CHECK_OK(mpx_pool_apply_star(m, t_star, items[0], &o, &a));
    CHECK_OK(mpx_result_get(a, MPX_FOREVER, &d, &l));
    CHECK(l == strlen("42|even|2.5|3") && memcmp(d, "42|even|2.5|3", l) == 0);
    mpx_result_destroy(a);
    for (int i = 0; i < N; i++)
        mpx_args_destroy(items[i]);
    mpx_args_destroy(before);
    mpx_args_destroy(after);
    finish(m);
    finish(p);
}

/* POOL-03: the initializer runs in every worker rank with the initargs;
 * a failing initializer breaks the pool (MPX_EBROKEN) */
static void test_initializer(void)
{
    mpx_args *ia;
    CHECK_OK(mpx_args_create(&ia));
    CHECK_OK(mpx_args_add_int(ia, 1234));
    CHECK_OK(mpx_args_add_str(ia, "from rank 0"));
    mpx_pool_opts o = {.initializer = i_init, .initargs = ia};
    mpx_pool *m = mpi_pool(0, &o);
    enum { N = 30 };
    int64_t v[N];
    mpx_bytes *it = range_items(v, N);
    mpx_call_opts co = {.chunksize = 1};
    mpx_result *r;
    CHECK_OK(mpx_pool_map(m, t_init_value, it, N, &co, &r));
    for (int i = 0; i < N; i++) {
        const void *d;
        size_t l;
        CHECK_OK(mpx_result_item(r, (size_t)i, &d, &l));
        CHECK(l == strlen("1234:from rank 0") && memcmp(d, "1234:from rank 0", l) == 0);
    }
    mpx_result_destroy(r);
    /* every rank served some */
    mpx_result *rr;
    static int64_t w[300];
    mpx_bytes *wit = range_items(w, 300);
    CHECK_OK(mpx_pool_map(m, t_rank, wit, 300, &co, &rr));
    for (int i = 0; i < 300; i++) {
        const void *d;
        size_t l;
        CHECK_OK(mpx_result_item(rr, (size_t)i, &d, &l));
        CHECK(get_i64(d) >= 1 && get_i64(d) <= 3);
    }
    mpx_result_destroy(rr);
    free(wit);
    finish(m);
    mpx_args_destroy(ia);

    /* a failing initializer: the pool is broken, submissions fail */
    mpx_pool_opts f = {.initializer = i_fail};
    mpx_pool *b = mpi_pool(0, &f);
    int rc = mpx_pool_map(b, t_square, it, N, NULL, &r);
    CHECK_EQ(rc, MPX_EBROKEN);
    mpx_result_destroy(r);
    mpx_pool_terminate(b);
    mpx_pool_join(b);
    mpx_pool_destroy(b);
    free(it);

    /* the ranks are free again */
    m = mpi_pool(0, NULL);
    int64_t x = 9;
    CHECK_OK(mpx_pool_apply(m, t_square, &x, 8, NULL, &r));
    mpx_result_destroy(r);
    finish(m);
}

/* What this backend refuses, with a clear error, and leaves usable */
static void test_refusals(void)
{
    mpx_context *ctx;
    CHECK_OK(mpx_get_context(&ctx, "mpi"));
    CHECK(strcmp(mpx_context_start_method(ctx), "mpi") == 0);
    mpx_pool *p = NULL;
    CHECK_EQ(mpx_pool_create(&p, MPX_POOL_DEFAULT, &(mpx_pool_opts){.ctx = ctx, .task_timeout = 100}),
             MPX_ENOTSUP);
    CHECK_EQ(mpx_pool_create(&p, MPX_POOL_DEFAULT, &(mpx_pool_opts){.ctx = ctx, .maxtasksperchild = 3}),
             MPX_ENOTSUP);
    CHECK_EQ(mpx_pool_create(&p, 4, &(mpx_pool_opts){.ctx = ctx}), MPX_EINVAL);
    CHECK_EQ(mpx_pool_create(&p, 0, &(mpx_pool_opts){.ctx = ctx}), MPX_EINVAL); /* Pool(0) */
    CHECK_EQ(mpx_pool_create(&p, MPX_POOL_DEFAULT, &(mpx_pool_opts){.ctx = ctx, .threads = 1}),
             MPX_EINVAL);
    mpx_args *ia;
    CHECK_OK(mpx_args_create(&ia));
    CHECK_OK(mpx_args_add_fd(ia, 1));
    CHECK_EQ(mpx_pool_create(&p, MPX_POOL_DEFAULT, &(mpx_pool_opts){.ctx = ctx, .initargs = ia}),
             MPX_ENOTSUP);
    mpx_args_destroy(ia);
    /* not a process start method */
    mpx_process *pr;
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_process_create(&pr, NULL, a, &(mpx_process_opts){.ctx = ctx}));
    CHECK_EQ(mpx_process_start(pr), MPX_ENOTSUP);
    mpx_process_destroy(pr);
    mpx_args_destroy(a);
    CHECK_EQ(mpx_set_start_method("mpi", 1), MPX_EINVAL);

    /* one pool holds two ranks: a second gets the third, a third pool none */
    mpx_pool *m = mpi_pool(2, NULL);
    mpx_pool *m2 = mpi_pool(1, NULL);
    CHECK_EQ(mpx_pool_create(&p, 1, &(mpx_pool_opts){.ctx = ctx}), -EAGAIN);
    int64_t in[4] = {1, 2, 3, 4}, out[4];
    int st[4];
    CHECK_EQ(mpx_pool_map_fixed(m, e_square, in, 8, out, 8, 4, NULL, st), MPX_ENOTSUP);
    mpx_result *r;
    int64_t x = 3;
    CHECK_OK(mpx_pool_apply(m2, t_square, &x, 8, NULL, &r));
    mpx_result_destroy(r);
    finish(m2);
    finish(m);
}

/* close lets queued work finish; terminate cancels what was not shipped;
 * destroy without close; several pools one after another */
static void test_close_terminate_destroy(void)
{
    for (int round = 0; round < 3; round++) {
        mpx_pool *m = mpi_pool(0, NULL);
        enum { N = 60 };
        int64_t ms[N];
        mpx_bytes it[N];
        for (int i = 0; i < N; i++) {
            ms[i] = 20;
            it[i] = (mpx_bytes){&ms[i], 8};
        }
        mpx_result *r;
        mpx_call_opts o = {.chunksize = 1};
        CHECK_OK(mpx_pool_map_async(m, t_sleep, it, N, &o, &r));
        if (round == 0) {
            CHECK_OK(mpx_pool_close(m));
            CHECK_OK(mpx_pool_join(m));
            CHECK_OK(mpx_result_get(r, 0, NULL, NULL));
            mpx_pool_destroy(m);
        } else if (round == 1) {
            sleep_ms(50);
            CHECK_OK(mpx_pool_terminate(m));
            CHECK_OK(mpx_pool_join(m));
            CHECK_EQ(mpx_result_wait(r, MPX_FOREVER), 1);
            CHECK(mpx_result_failed(r) > 0); /* the rest was cancelled */
            mpx_task_error e;
            CHECK_OK(mpx_result_error(r, &e));
            CHECK_EQ(e.code, MPX_ECANCELED);
            mpx_pool_destroy(m);
        } else {
            mpx_pool_destroy(m); /* terminates, joins */
            CHECK_EQ(mpx_result_wait(r, MPX_FOREVER), 1);
        }
        mpx_result_destroy(r);
    }
    CHECK_EQ(mpx_pool_outstanding(NULL), 0);
}

/* rank 0 returns from main with a pool still open: the exit handler stops
 * the dispatcher and the worker ranks, mpirun exits 0 */
static void test_exit_with_pool_open(void)
{
    mpx_pool *m = mpi_pool(0, NULL);
    int64_t x = 4;
    mpx_result *r;
    CHECK_OK(mpx_pool_apply(m, t_square, &x, 8, NULL, &r));
    mpx_result_destroy(r);
    mpx_result *r2;
    int64_t ms = 50;
    CHECK_OK(mpx_pool_apply_async(m, t_sleep, &ms, 8, NULL, &r2));
    exit(0);
}

/* a worker rank SIGKILLed by its task: MPI ends the job, mpirun exits
 * non-zero (test/mpi/run checks it does so in time) */
static void test_worker_killed(void)
{
    mpx_pool *m = mpi_pool(0, NULL);
    enum { N = 40 };
    int64_t v[N];
    mpx_bytes *it = range_items(v, N);
    mpx_result *r;
    mpx_call_opts o = {.chunksize = 1};
    mpx_pool_map(m, t_kill_self, it, N, &o, &r);
    fprintf(stderr, "the map returned although a worker rank was killed\n");
    sleep_ms(60000);
    exit(0);
}

static int t_pid(const void *in, size_t len, mpx_task_out *out)
{
    (void)in;
    (void)len;
    int64_t pid = getpid();
    return mpx_task_out_set(out, &pid, 8);
}

/* a worker rank SIGKILLed from outside while the pool waits for work: the
 * job ends with a non-zero exit too (rank 0 must not hang) */
static void test_worker_killed_from_outside(void)
{
    mpx_pool *m = mpi_pool(0, NULL);
    int64_t v = 0;
    mpx_result *r;
    CHECK_OK(mpx_pool_apply(m, t_pid, &v, 8, NULL, &r));
    const void *d;
    size_t l;
    CHECK_OK(mpx_result_get(r, 0, &d, &l));
    pid_t pid = (pid_t)get_i64(d);
    CHECK(pid > 0 && pid != getpid());
    mpx_result_destroy(r);
    CHECK_OK(kill(pid, SIGKILL));
    enum { N = 40 };
    int64_t vals[N];
    mpx_bytes *it = range_items(vals, N);
    mpx_call_opts o = {.chunksize = 1};
    mpx_pool_map(m, t_square, it, N, &o, &r); /* one rank is gone */
    sleep_ms(60000);
    exit(0);
}

/* a task that segfaults: the rank says so on stderr, the job ends */
static void test_worker_segfault(void)
{
    mpx_pool *m = mpi_pool(0, NULL);
    enum { N = 10 };
    int64_t v[N];
    mpx_bytes *it = range_items(v, N);
    mpx_result *r;
    mpx_pool_map(m, t_segv, it, N, NULL, &r);
    sleep_ms(60000);
    exit(0);
}

/* Without mpirun: the pool starts its workers with MPI_Comm_spawn */
static void test_singleton_spawn(void)
{
    int rank = -1, size = 0;
    mpx_pool *m = mpi_pool(2, NULL), *p = proc_pool(NULL);
    CHECK_OK(mpx_mpi_world(&rank, &size));
    CHECK_EQ(rank, 0);
    CHECK_EQ(size, 1);
    enum { N = 300 };
    static int64_t v[N];
    mpx_bytes *it = range_items(v, N);
    mpx_call_opts o = {.chunksize = 4};
    mpx_result *a, *b;
    CHECK_EQ(mpx_pool_map(m, t_inv5, it, N, &o, &a), MPX_ETASK);
    CHECK_EQ(mpx_pool_map(p, t_inv5, it, N, &o, &b), MPX_ETASK);
    same_results(a, b);
    mpx_result_destroy(a);
    mpx_result_destroy(b);
    free(it);
    finish(m);
    finish(p);
    /* a second pool spawns its own */
    m = mpi_pool(1, NULL);
    int64_t x = 11;
    CHECK_OK(mpx_pool_apply(m, t_square, &x, 8, NULL, &a));
    const void *d;
    size_t l;
    CHECK_OK(mpx_result_get(a, 0, &d, &l));
    CHECK_EQ(get_i64(d), 121);
    mpx_result_destroy(a);
    finish(m);
}

/* MPX_MPI_AUTO=0: nothing happens before main; main calls mpx_mpi_init,
 * from which the worker ranks never return */
static void test_explicit_init(void)
{
    int rank = -1, size = 0;
    CHECK_OK(mpx_mpi_world(&rank, &size));
    CHECK_EQ(rank, 0);
    CHECK_EQ(size, 4);
    mpx_pool *m = mpi_pool(0, NULL);
    enum { N = 200 };
    static int64_t v[N];
    mpx_bytes *it = range_items(v, N);
    mpx_result *r;
    CHECK_OK(mpx_pool_map(m, t_square, it, N, NULL, &r));
    const void *d;
    size_t l;
    CHECK_OK(mpx_result_item(r, N - 1, &d, &l));
    CHECK_EQ(get_i64(d), (N - 1) * (N - 1));
    mpx_result_destroy(r);
    free(it);
    finish(m);
    CHECK_OK(mpx_mpi_finalize());
    CHECK_EQ(mpx_mpi_world(&rank, &size), MPX_ESTATE);
}

static const struct {
    const char *name, *how;
    void (*fn)(void);
} TESTS[] = {
    {"mpi_map_same_as_process_pool", "mpirun", test_map_same_as_process_pool},
    {"mpi_bytes_of_every_size", "mpirun", test_bytes_of_every_size},
    {"mpi_apply_and_async", "mpirun", test_apply_and_async},
    {"mpi_task_errors", "mpirun", test_task_errors},
    {"mpi_imap_ordered_unordered", "mpirun", test_imap_ordered_unordered},
    {"mpi_starmap_partial", "mpirun", test_starmap_partial},
    {"mpi_initializer", "mpirun", test_initializer},
    {"mpi_refusals", "mpirun", test_refusals},
    {"mpi_close_terminate_destroy", "mpirun", test_close_terminate_destroy},
    {"mpi_exit_with_pool_open", "mpirun", test_exit_with_pool_open},
    {"mpi_worker_killed", "dies", test_worker_killed},
    {"mpi_worker_killed_from_outside", "dies", test_worker_killed_from_outside},
    {"mpi_worker_segfault", "dies", test_worker_segfault},
    {"mpi_singleton_spawn", "singleton", test_singleton_spawn},
    {"mpi_explicit_init", "noauto", test_explicit_init},
};

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--list")) {
        for (size_t i = 0; i < sizeof TESTS / sizeof TESTS[0]; i++)
            printf("%s %s\n", TESTS[i].name, TESTS[i].how);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: mpx_mpi_test --list | TEST (under mpirun -n 4: test/mpi/run)\n");
        return 2;
    }
    const char *aut = getenv("MPX_MPI_AUTO");
    if (aut && !strcmp(aut, "0"))
        CHECK_OK(mpx_mpi_init()); /* worker ranks serve here and exit */
    for (size_t i = 0; i < sizeof TESTS / sizeof TESTS[0]; i++)
        if (!strcmp(argv[1], TESTS[i].name)) {
            TESTS[i].fn();
            return 0;
        }
    fprintf(stderr, "unknown test %s\n", argv[1]);
    return 2;
}
