/* pool_util.h - task functions and helpers shared by the pool test files
 * (test_pool.c, test_pool_edges.c). */
#ifndef MPX_TEST_POOL_UTIL_H
#define MPX_TEST_POOL_UTIL_H

#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>


static inline int64_t get_i64(const void *p)
{
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* f(x) = x * x on 8-byte integers */
static inline int t_square(const void *in, size_t len, mpx_task_out *out)
{
    if (len != 8)
        return mpx_task_fail(out, "bad length %zu", len);
    int64_t x = get_i64(in);
    x *= x;
    return mpx_task_out_set(out, &x, 8);
}

/* 1 / (x - 5): fails on 5 (the seed's ZeroDivisionError) */
static inline int t_inv5(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    int64_t x = get_i64(in);
    if (x == 5)
        return mpx_task_fail(out, "ZeroDivisionError: float division by zero");
    double d = 1.0 / ((double)x - 5.0);
    return mpx_task_out_set(out, &d, sizeof d);
}

static inline int t_sleep(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    (void)out;
    sleep_ms((int)get_i64(in));
    return 0;
}

static inline int t_getpid(const void *in, size_t len, mpx_task_out *out)
{
    (void)in;
    (void)len;
    int64_t pid = getpid();
    return mpx_task_out_set(out, &pid, 8);
}

/* crash on every 97th item (SIGSEGV) and every 101st (abort) */
static inline int t_crashy(const void *in, size_t len, mpx_task_out *out)
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

static inline int t_echo(const void *in, size_t len, mpx_task_out *out)
{
    return mpx_task_out_set(out, in, len);
}

static inline mpx_bytes *int_items(int64_t *vals, size_t n)
{
    mpx_bytes *it = calloc(n, sizeof *it);
    for (size_t i = 0; i < n; i++)
        it[i] = (mpx_bytes){&vals[i], 8};
    return it;
}

/* vals[i] = i for each i, as items. */
static inline mpx_bytes *range_items(int64_t *vals, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vals[i] = (int64_t)i;
    return int_items(vals, n);
}

/* A malloc'd array 0, 1, ..., n - 1. */
static inline int64_t *range_alloc(size_t n)
{
    int64_t *v = malloc(n * 8);
    CHECK(v != NULL);
    for (size_t i = 0; i < n; i++)
        v[i] = (int64_t)i;
    return v;
}

static inline mpx_pool *mkpool(int n)
{
    mpx_pool *p;
    CHECK_OK(mpx_pool_create(&p, n, NULL));
    return p;
}

static inline void finish(mpx_pool *p)
{
    CHECK_OK(mpx_pool_close(p));
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
}

/* Beyond Python: imap over an endless generator (test_pool.c, test_pool_edges.c) */
typedef struct gen_state {
    _Atomic int64_t next; /* read by the test thread, written by the handler */
    int64_t buf;
} gen_state;
static inline int gen_count(void *st, mpx_bytes *item)
{
    gen_state *g = st;
    g->buf = atomic_fetch_add(&g->next, 1);
    *item = (mpx_bytes){&g->buf, 8};
    return 1;
}

/* a worker initializer that fails (the pool breaks) */
static inline int t_init_fail(const mpx_args *a)
{
    (void)a;
    return MPX_EINVAL;
}

#endif
