/*
 * test/harness.h - the mpx test harness.
 *
 *   MPX_TEST(name) { ... }              a test, 30 s limit
 *   MPX_TEST_T(name, seconds) { ... }   a test with its own limit
 *
 * Each test runs in its own process (forked by the runner, test/runner.c)
 * in its own process group, with a time limit; a hang fails one test.
 * Checks print file:line and end the test at the first failure.
 * MPX_SKIP("why") ends the test as skipped.
 *
 * Name tests after the seed items they cover where possible
 * (proc_07_join_timeout ...).
 */
#ifndef MPX_TEST_HARNESS_H
#define MPX_TEST_HARNESS_H

#include <mpx.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct mpx_test_case {
    const char *name;
    const char *file;
    int line;
    void (*fn)(void);
    int timeout_s;
    struct mpx_test_case *next;
    int once; /* MPX_TEST_ONCE: the start method does not matter */
} mpx_test_case;

void mpx_test_register(mpx_test_case *tc);
__attribute__((noreturn)) void mpx_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
__attribute__((noreturn)) void mpx_test_skip(const char *why);
/* The start method the suite runs under ("fork", "spawn", "forkserver"). */
const char *mpx_test_start_method(void);
/* A unique scratch path for this test (under $TMPDIR), no file created. */
const char *mpx_test_tmp_path(const char *suffix);

#define MPX_TEST_DEF_(tname, secs, once)                                                \
    static void tname##_body(void);                                                     \
    static mpx_test_case tname##_case = {#tname, __FILE__, __LINE__, tname##_body, secs,\
                                         NULL, once};                                   \
    __attribute__((constructor)) static void tname##_reg(void)                          \
    {                                                                                   \
        mpx_test_register(&tname##_case);                                               \
    }                                                                                   \
    static void tname##_body(void)

#define MPX_TEST_T(tname, secs) MPX_TEST_DEF_(tname, secs, 0)
/* A test whose behaviour does not depend on the default start method (no
 * process started, or only with an explicit context): test/run-tests
 * --start all runs it under the first method only (runner --skip-once). */
#define MPX_TEST_ONCE_T(tname, secs) MPX_TEST_DEF_(tname, secs, 1)
#define MPX_TEST_ONCE(tname) MPX_TEST_DEF_(tname, 30, 1)
#define MPX_TEST(tname) MPX_TEST_T(tname, 30)

#define MPX_SKIP(why) mpx_test_skip(why)

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond))                                                       \
            mpx_test_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond); \
    } while (0)

#define CHECK_EQ(a, b)                                                                     \
    do {                                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                                \
        if (a_ != b_)                                                                      \
            mpx_test_fail(__FILE__, __LINE__, "CHECK_EQ(%s, %s) failed: %lld != %lld", #a, \
                          #b, a_, b_);                                                     \
    } while (0)

#define CHECK_NE(a, b)                                                                     \
    do {                                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                                \
        if (a_ == b_)                                                                      \
            mpx_test_fail(__FILE__, __LINE__, "CHECK_NE(%s, %s) failed: both %lld", #a, #b, \
                          a_);                                                             \
    } while (0)

/* An mpx call that must succeed (return 0). */
#define CHECK_OK(expr)                                                                      \
    do {                                                                                    \
        int rc_ = (expr);                                                                   \
        if (rc_ != 0)                                                                       \
            mpx_test_fail(__FILE__, __LINE__, "%s returned %d %s (%s)", #expr, rc_,         \
                          mpx_err_name(rc_), mpx_strerror(rc_));                            \
    } while (0)

/* An mpx call that must fail with a given code. */
#define CHECK_ERR(expr, code)                                                              \
    do {                                                                                   \
        int rc_ = (expr), want_ = (code);                                                  \
        if (rc_ != want_)                                                                  \
            mpx_test_fail(__FILE__, __LINE__, "%s returned %d %s, expected %d %s", #expr,  \
                          rc_, mpx_err_name(rc_), want_, mpx_err_name(want_));             \
    } while (0)

#define CHECK_STREQ(a, b)                                                                  \
    do {                                                                                   \
        const char *a_ = (a), *b_ = (b);                                                   \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                             \
            mpx_test_fail(__FILE__, __LINE__, "CHECK_STREQ(%s, %s) failed: \"%s\" != \"%s\"", \
                          #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                  \
    } while (0)

#define CHECK_MEMEQ(a, b, n)                                                               \
    do {                                                                                   \
        if (memcmp((a), (b), (n)) != 0)                                                    \
            mpx_test_fail(__FILE__, __LINE__, "CHECK_MEMEQ(%s, %s, %s) failed", #a, #b, #n); \
    } while (0)

#define FAIL(...) mpx_test_fail(__FILE__, __LINE__, __VA_ARGS__)

/* True when built with a sanitizer or run under valgrind (crash signals
 * are intercepted there; timing is much slower). */
bool mpx_test_sanitized(void);

/* Milliseconds on CLOCK_MONOTONIC, for tests that check a wait happened. */
int64_t mpx_test_now_ms(void);

/* ---- Helpers shared by the test files ------------------------------------
 * Static inline so that each test file takes only what it uses. A failed
 * check inside one reports this header's line and the test's name. */

/* Sleep ms milliseconds, resuming after signals. */
static inline void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

/* Create and start a process running fn(a) with default options; a stays
 * the caller's to destroy. */
static inline mpx_process *start_args(mpx_target_fn fn, mpx_args *a)
{
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, fn, a, NULL));
    CHECK_OK(mpx_process_start(p));
    return p;
}

/* Join p (no time limit) and return its exit code; p stays the caller's. */
static inline int join_code(mpx_process *p)
{
    int code = 12345;
    CHECK_EQ(mpx_process_join(p, MPX_FOREVER), 1);
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    return code;
}

/* Start fn(o1, o2, n), or fn(o1, n) when o2 is NULL. */
static inline mpx_process *start_objs_int(mpx_target_fn fn, void *o1, void *o2, int64_t n)
{
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, o1));
    if (o2)
        CHECK_OK(mpx_args_add_object(a, o2));
    CHECK_OK(mpx_args_add_int(a, n));
    mpx_process *p = start_args(fn, a);
    mpx_args_destroy(a);
    return p;
}

/* join_code, then destroy p. */
static inline int join_destroy(mpx_process *p)
{
    int code = join_code(p);
    mpx_process_destroy(p);
    return code;
}

/* Check a describe() string (which is freed) against want. */
static inline void check_describe(char *s, const char *want)
{
    CHECK(s != NULL);
    if (strcmp(s, want) != 0)
        FAIL("describe: \"%s\" != \"%s\"", s, want);
    mpx_free(s);
}

/* Receive one message on c and check it is the bytes of want. */
static inline void recv_str(mpx_connection *c, const char *want)
{
    void *m;
    size_t n;
    CHECK_OK(mpx_connection_recv_bytes(c, &m, &n));
    CHECK_EQ(n, strlen(want));
    CHECK_MEMEQ(m, want, n);
    mpx_free(m);
}

#endif /* MPX_TEST_HARNESS_H */
