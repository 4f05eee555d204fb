/* test_pool.c - Pool and ThreadPool (POOL-01..25, ASYNC-01..06, TPOOL-01,
 * BLOG-01..05, EX-01, EX-11, EX-28, EX-38, EX-44..46) and what mpx adds:
 * crash isolation, task timeouts, lazy imap, cancellation, progress, the
 * fixed-size fast path. Task functions live in this executable so the same
 * tests run under fork, spawn and forkserver. */
#include "harness.h"

#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

static int64_t get_i64(const void *p)
{
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* f(x) = x * x on 8-byte integers */
static int t_square(const void *in, size_t len, mpx_task_out *out)
{
    if (len != 8)
        return mpx_task_fail(out, "bad length %zu", len);
    int64_t x = get_i64(in);
    x *= x;
    return mpx_task_out_set(out, &x, 8);
}

/* 1 / (x - 5): fails on 5 (the seed's ZeroDivisionError) */
static int t_inv5(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    int64_t x = get_i64(in);
    if (x == 5)
        return mpx_task_fail(out, "ZeroDivisionError: float division by zero");
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

__attribute__((unused)) static int t_getpid(const void *in, size_t len, mpx_task_out *out)
{
    (void)in;
    (void)len;
    int64_t pid = getpid();
    return mpx_task_out_set(out, &pid, 8);
}

/* crash on every 97th item (SIGSEGV) and every 101st (abort) */
static int t_crashy(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    int64_t x = get_i64(in);
    if (x > 0 && x % 97 == 0)
        raise(SIGSEGV);
    if (x > 0 && x % 101 == 0)
        abort();
    x = x * 3 + 1;
    return mpx_task_out_set(out, &x, 8);
}

__attribute__((unused)) static int t_echo(const void *in, size_t len, mpx_task_out *out)
{
    return mpx_task_out_set(out, in, len);
}

static mpx_bytes *int_items(int64_t *vals, size_t n)
{
    mpx_bytes *it = calloc(n, sizeof *it);
    for (size_t i = 0; i < n; i++)
        it[i] = (mpx_bytes){&vals[i], 8};
    return it;
}

static mpx_pool *mkpool(int n)
{
    mpx_pool *p;
    mpx_pool_opts o = {.processes = n};
    CHECK_OK(mpx_pool_create(&p, &o));
    return p;
}

static void finish(mpx_pool *p)
{
    CHECK_OK(mpx_pool_close(p));
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
}

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
    CHECK_ERR(mpx_result_wait(r, 10), MPX_ETIMEDOUT);             /* ASYNC-03 */
    CHECK_OK(mpx_result_wait(r, MPX_FOREVER));
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
    for (int i = 0; i < 10; i++)
        v[i] = i;
    mpx_bytes *it = int_items(v, 10);
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
    for (int i = 0; i < N; i++)
        v[i] = i;
    mpx_bytes *it = int_items(v, N);
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

/* Beyond Python: 1,000 items, every 97th segfaults, every 101st aborts */
MPX_TEST_T(pool_crash_isolation_1000, 60)
{
    mpx_pool *p = mkpool(2);
    enum { N = 1000 };
    static int64_t v[N];
    for (int i = 0; i < N; i++)
        v[i] = i;
    mpx_bytes *it = int_items(v, N);
    size_t chunks[2] = {1, 0};
    for (int round = 0; round < 2; round++) {
        mpx_result *r;
        mpx_call_opts o = {.chunksize = chunks[round]};
        int rc = mpx_pool_map(p, t_crashy, it, N, &o, &r);
        CHECK_ERR(rc, MPX_EWORKER);
        size_t bad = 0;
        for (int i = 0; i < N; i++) {
            const void *d;
            size_t l;
            int irc = mpx_result_item(r, (size_t)i, &d, &l);
            if (i > 0 && (i % 97 == 0 || i % 101 == 0)) {
                CHECK_ERR(irc, MPX_EWORKER);
                mpx_task_error e;
                CHECK_OK(mpx_result_item_error(r, (size_t)i, &e));
                CHECK_EQ(e.index, (size_t)i);
                CHECK(e.pid > 0);
                CHECK_EQ(e.signal, i % 97 == 0 ? SIGSEGV : SIGABRT);
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
    CHECK(mpx_pool_replaced(p) >= 38);
    free(it);
    finish(p);
}
