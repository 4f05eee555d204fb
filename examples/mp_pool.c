/*
 * mp_pool.c - the seed's "Using Pool" test program (EX-38), ported to mpx.
 *
 *   mp_pool [processes | threads]
 *
 * Same sections and output shape as the Python program: apply_async, imap,
 * imap_unordered and map over the mul/plus TASKS; the pow3 and noop timing
 * comparisons (smaller N so it runs in seconds); error handling with the
 * task that fails on item 5; get and next with timeouts; callbacks;
 * close; terminate; destroy ("garbage collection").
 */
#include <mpx.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&t, NULL);
}

/* ---- functions used by the test code ---- */

enum { OP_MUL = 0, OP_PLUS = 1 };
typedef struct task {
    int32_t op;
    int32_t pad;
    int64_t a, b;
} task;

static int64_t mul(int64_t a, int64_t b)
{
    sleep_s(0.05 * rand() / RAND_MAX);
    return a * b;
}

static int64_t plus(int64_t a, int64_t b)
{
    sleep_s(0.05 * rand() / RAND_MAX);
    return a + b;
}

/* calculate(func, args) / calculatestar(args): a sentence naming the worker */
static int calculatestar(const void *in, size_t len, mpx_task_out *out)
{
    task t;
    if (len != sizeof t)
        return mpx_task_fail(out, "bad task");
    memcpy(&t, in, sizeof t);
    srand((unsigned)getpid() ^ (unsigned)(t.a * 31 + t.op));
    int64_t r = t.op == OP_MUL ? mul(t.a, t.b) : plus(t.a, t.b);
    char buf[160];
    int n = snprintf(buf, sizeof buf, "%s says that %s(%lld, %lld) = %lld",
                     mpx_process_name(mpx_current_process()), t.op == OP_MUL ? "mul" : "plus",
                     (long long)t.a, (long long)t.b, (long long)r);
    return mpx_task_out_set(out, buf, (size_t)n);
}

static int64_t i64(const void *p)
{
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* f(x) = 1.0 / (x - 5.0): "ZeroDivisionError" on 5 */
static int f(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    int64_t x = i64(in);
    if (x == 5)
        return mpx_task_fail(out, "ZeroDivisionError: float division by zero");
    double d = 1.0 / ((double)x - 5.0);
    return mpx_task_out_set(out, &d, sizeof d);
}

static int pow3(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    int64_t x = i64(in), y = x * x * x;
    return mpx_task_out_set(out, &y, 8);
}

static int noop(const void *in, size_t len, mpx_task_out *out)
{
    (void)in;
    (void)len;
    (void)out;
    return 0;
}

static int sleep_task(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    (void)out;
    double s;
    memcpy(&s, in, sizeof s);
    sleep_s(s);
    return 0;
}

static int mul_task(const void *in, size_t len, mpx_task_out *out)
{
    (void)len;
    int64_t r = mul(i64(in), i64((const char *)in + 8));
    return mpx_task_out_set(out, &r, 8);
}

#define CHECK(x)                                                              \
    do {                                                                      \
        if (!(x)) {                                                           \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #x); \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

static int64_t cb_a[32];
static int cb_n;

static void append_cb(mpx_result *r, void *u)
{
    (void)u;
    for (size_t i = 0; i < mpx_result_count(r); i++) {
        const void *d;
        size_t l;
        if (mpx_result_item(r, i, &d, &l) == 0 && l == 8)
            cb_a[cb_n++] = i64(d);
    }
}

static mpx_pool *new_pool(int n, int threads)
{
    mpx_pool *p;
    mpx_pool_opts o = {.threads = threads};
    CHECK(mpx_pool_create(&p, n, &o) == 0);
    return p;
}

static bool all_dead(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++)
        if (kill(pids[i], 0) == 0)
            return false;
    return true;
}

static void test(int threads)
{
    printf("cpu_count() = %d\n\n", mpx_cpu_count());

    /* Create pool */
    int PROCESSES = 4;
    printf("Creating pool with %d processes\n\n", PROCESSES);
    mpx_pool *pool = new_pool(PROCESSES, threads);
    char *repr = mpx_pool_describe(pool);
    printf("pool = %s\n\n", repr);
    mpx_free(repr);

    /* Tests */
    task TASKS[20];
    mpx_bytes items[20];
    for (int i = 0; i < 10; i++) {
        TASKS[i] = (task){OP_MUL, 0, i, 7};
        TASKS[10 + i] = (task){OP_PLUS, 0, i, 8};
    }
    for (int i = 0; i < 20; i++)
        items[i] = (mpx_bytes){&TASKS[i], sizeof(task)};

    mpx_result *results[20];
    for (int i = 0; i < 20; i++)
        CHECK(mpx_pool_apply_async(pool, calculatestar, &TASKS[i], sizeof(task), NULL,
                                   &results[i]) == 0);
    mpx_imap *imap_it, *imap_unordered_it;
    CHECK(mpx_pool_imap(pool, calculatestar, items, 20, NULL, &imap_it) == 0);
    CHECK(mpx_pool_imap_unordered(pool, calculatestar, items, 20, NULL, &imap_unordered_it) == 0);

    const void *d;
    size_t l;
    printf("Ordered results using pool.apply_async():\n");
    for (int i = 0; i < 20; i++) {
        CHECK(mpx_result_get(results[i], MPX_FOREVER, &d, &l) == 0);
        printf("\t%.*s\n", (int)l, (const char *)d);
        mpx_result_destroy(results[i]);
    }
    printf("\n");

    printf("Ordered results using pool.imap():\n");
    while (mpx_imap_next(imap_it, MPX_FOREVER, &d, &l, NULL) == 0)
        printf("\t%.*s\n", (int)l, (const char *)d);
    printf("\n");
    mpx_imap_destroy(imap_it);

    printf("Unordered results using pool.imap_unordered():\n");
    while (mpx_imap_next(imap_unordered_it, MPX_FOREVER, &d, &l, NULL) == 0)
        printf("\t%.*s\n", (int)l, (const char *)d);
    printf("\n");
    mpx_imap_destroy(imap_unordered_it);

    printf("Ordered results using pool.map() --- will block till complete:\n");
    mpx_result *r;
    CHECK(mpx_pool_map(pool, calculatestar, items, 20, NULL, &r) == 0);
    for (size_t i = 0; i < mpx_result_count(r); i++) {
        CHECK(mpx_result_item(r, i, &d, &l) == 0);
        printf("\t%.*s\n", (int)l, (const char *)d);
    }
    printf("\n");
    mpx_result_destroy(r);

    /* Simple benchmarks */
    enum { N = 100000 };
    int64_t *xs = malloc(N * sizeof *xs), *A = malloc(N * sizeof *A);
    for (int i = 0; i < N; i++)
        xs[i] = i;
    printf("def pow3(x): return x**3\n");
    double t = now();
    for (int i = 0; i < N; i++) {
        mpx_task_out *none = NULL;
        (void)none;
        A[i] = xs[i] * xs[i] * xs[i];
    }
    printf("\tmap(pow3, xrange(%d)):\n\t\t%f seconds\n", N, now() - t);

    t = now();
    CHECK(mpx_pool_map_array(pool, pow3, xs, 8, N, NULL, &r) == 0);
    printf("\tpool.map(pow3, xrange(%d)):\n\t\t%f seconds\n", N, now() - t);
    for (int i = 0; i < N; i++) {
        CHECK(mpx_result_item(r, (size_t)i, &d, &l) == 0);
        CHECK(i64(d) == A[i]); /* A == B */
    }
    mpx_result_destroy(r);

    mpx_bytes *xitems = malloc(N * sizeof *xitems);
    for (int i = 0; i < N; i++)
        xitems[i] = (mpx_bytes){&xs[i], 8};
    t = now();
    mpx_call_opts co = {.chunksize = N / 8};
    CHECK(mpx_pool_imap(pool, pow3, xitems, N, &co, &imap_it) == 0);
    int k = 0;
    while (mpx_imap_next(imap_it, MPX_FOREVER, &d, &l, NULL) == 0)
        CHECK(i64(d) == A[k++]); /* A == C */
    CHECK(k == N);
    mpx_imap_destroy(imap_it);
    printf("\tlist(pool.imap(pow3, xrange(%d), chunksize=%d)):\n\t\t%f seconds\n", N, N / 8,
           now() - t);
    printf("\n");
    free(xitems);

    enum { L = 1000000 };
    printf("def noop(x): pass\n");
    printf("L = [None] * %d\n", L);
    unsigned char *none = calloc(L, 1);
    t = now();
    for (int i = 0; i < L; i++)
        __asm__ __volatile__("" ::"r"(none[i]));
    printf("\tmap(noop, L):\n\t\t%f seconds\n", now() - t);
    t = now();
    CHECK(mpx_pool_map_array(pool, noop, none, 0, L, NULL, &r) == 0);
    CHECK(mpx_result_count(r) == L);
    printf("\tpool.map(noop, L):\n\t\t%f seconds\n", now() - t);
    mpx_result_destroy(r);
    t = now();
    mpx_bytes *nitems = malloc(L * sizeof *nitems);
    for (int i = 0; i < L; i++)
        nitems[i] = (mpx_bytes){none, 0};
    co.chunksize = L / 8;
    CHECK(mpx_pool_imap(pool, noop, nitems, L, &co, &imap_it) == 0);
    k = 0;
    while (mpx_imap_next(imap_it, MPX_FOREVER, &d, &l, NULL) == 0)
        k++;
    CHECK(k == L);
    mpx_imap_destroy(imap_it);
    printf("\tlist(pool.imap(noop, L, chunksize=%d)):\n\t\t%f seconds\n", L / 8, now() - t);
    printf("\n");
    free(nitems);
    free(none);
    free(A);

    /* Test error handling */
    printf("Testing error handling:\n");
    int64_t five = 5;
    if (mpx_pool_apply(pool, f, &five, 8, NULL, &r) == MPX_ETASK)
        printf("\tGot ZeroDivisionError as expected from pool.apply()\n");
    else
        CHECK(!"expected ZeroDivisionError");
    mpx_result_destroy(r);

    int64_t ten[10];
    mpx_bytes titems[10];
    for (int i = 0; i < 10; i++) {
        ten[i] = i;
        titems[i] = (mpx_bytes){&ten[i], 8};
    }
    if (mpx_pool_map(pool, f, titems, 10, NULL, &r) == MPX_ETASK)
        printf("\tGot ZeroDivisionError as expected from pool.map()\n");
    else
        CHECK(!"expected ZeroDivisionError");
    mpx_result_destroy(r);

    CHECK(mpx_pool_imap(pool, f, titems, 10, NULL, &imap_it) == 0);
    int rc, err = 0;
    while ((rc = mpx_imap_next(imap_it, MPX_FOREVER, &d, &l, NULL)) != MPX_EEOF)
        if (rc == MPX_ETASK && !err)
            err = 1; /* list() would raise at the first error */
    mpx_imap_destroy(imap_it);
    CHECK(err);
    printf("\tGot ZeroDivisionError as expected from list(pool.imap())\n");

    CHECK(mpx_pool_imap(pool, f, titems, 10, NULL, &imap_it) == 0);
    int i;
    for (i = 0; i < 10; i++) {
        rc = mpx_imap_next(imap_it, MPX_FOREVER, &d, &l, NULL);
        if (rc == MPX_ETASK)
            CHECK(i == 5);
        else if (rc == MPX_EEOF)
            break;
        else
            CHECK(rc == 0 && i != 5);
    }
    CHECK(i == 10 && mpx_imap_next(imap_it, 0, NULL, NULL, NULL) == MPX_EEOF);
    mpx_imap_destroy(imap_it);
    printf("\tGot ZeroDivisionError as expected from IMapIterator.next()\n");
    printf("\n");

    /* Testing timeouts */
    printf("Testing ApplyResult.get() with timeout:");
    CHECK(mpx_pool_apply_async(pool, calculatestar, &TASKS[0], sizeof(task), NULL, &r) == 0);
    for (;;) {
        fflush(stdout);
        rc = mpx_result_get(r, 20, &d, &l);
        if (rc == 0) {
            printf("\n\t%.*s", (int)l, (const char *)d);
            break;
        }
        CHECK(rc == MPX_ETIMEDOUT);
        printf(".");
    }
    mpx_result_destroy(r);
    printf("\n\n");

    printf("Testing IMapIterator.next() with timeout:");
    CHECK(mpx_pool_imap(pool, calculatestar, items, 20, NULL, &imap_it) == 0);
    for (;;) {
        fflush(stdout);
        rc = mpx_imap_next(imap_it, 20, &d, &l, NULL);
        if (rc == MPX_EEOF)
            break;
        if (rc == MPX_ETIMEDOUT)
            printf(".");
        else
            printf("\n\t%.*s", (int)l, (const char *)d);
    }
    mpx_imap_destroy(imap_it);
    printf("\n\n");

    /* Testing callback */
    printf("Testing callback:\n");
    int64_t B[11] = {56, 0, 1, 8, 27, 64, 125, 216, 343, 512, 729};
    int64_t ab[2] = {7, 8};
    mpx_call_opts cb = {.callback = append_cb};
    CHECK(mpx_pool_apply_async(pool, mul_task, ab, 16, &cb, &r) == 0);
    mpx_result_wait(r, MPX_FOREVER);
    mpx_result_destroy(r);
    CHECK(mpx_pool_map_async(pool, pow3, titems, 10, &cb, &r) == 0);
    mpx_result_wait(r, MPX_FOREVER);
    mpx_result_destroy(r);
    if (cb_n == 11 && memcmp(cb_a, B, sizeof B) == 0)
        printf("\tcallbacks succeeded\n\n");
    else
        printf("\t*** callbacks failed\n\n");

    /* Check there are no outstanding tasks */
    CHECK(mpx_pool_outstanding(pool) == 0);

    /* Check close() methods */
    printf("Testing close():\n");
    pid_t pids[8];
    int np = mpx_pool_worker_pids(pool, pids, 8);
    CHECK(threads || np == PROCESSES);
    double half = 0.5;
    CHECK(mpx_pool_apply_async(pool, sleep_task, &half, sizeof half, NULL, &r) == 0);
    CHECK(mpx_pool_close(pool) == 0);
    CHECK(mpx_pool_join(pool) == 0);
    CHECK(mpx_result_get(r, 0, NULL, NULL) == 0);
    mpx_result_destroy(r);
    CHECK(all_dead(pids, np));
    mpx_pool_destroy(pool);
    printf("\tclose() succeeded\n\n");

    /* Check terminate() method */
    printf("Testing terminate():\n");
    pool = new_pool(2, threads);
    double DELTA = 0.1;
    int64_t two = 2;
    CHECK(mpx_pool_apply(pool, pow3, &two, 8, NULL, &r) == 0);
    mpx_result_destroy(r);
    np = mpx_pool_worker_pids(pool, pids, 8);
    mpx_result *many[100];
    for (i = 0; i < 100; i++)
        CHECK(mpx_pool_apply_async(pool, sleep_task, &DELTA, sizeof DELTA, NULL, &many[i]) == 0);
    CHECK(mpx_pool_terminate(pool) == 0);
    CHECK(mpx_pool_join(pool) == 0);
    CHECK(all_dead(pids, np));
    for (i = 0; i < 100; i++)
        mpx_result_destroy(many[i]);
    mpx_pool_destroy(pool);
    printf("\tterminate() succeeded\n\n");

    /* Check garbage collection (destroy) */
    printf("Testing garbage collection:\n");
    pool = new_pool(2, threads);
    CHECK(mpx_pool_apply(pool, pow3, &two, 8, NULL, &r) == 0);
    mpx_result_destroy(r);
    np = mpx_pool_worker_pids(pool, pids, 8);
    for (i = 0; i < 100; i++)
        CHECK(mpx_pool_apply_async(pool, sleep_task, &DELTA, sizeof DELTA, NULL, &many[i]) == 0);
    mpx_pool_destroy(pool);
    for (i = 0; i < 100; i++)
        mpx_result_destroy(many[i]);
    sleep_s(DELTA * 2);
    CHECK(all_dead(pids, np));
    printf("\tgarbage collection succeeded\n\n");
    free(xs);
}

int main(int argc, char **argv)
{
    if (argc > 2) {
        printf("Usage:\n\t%s [processes | threads]\n", argv[0]);
        return 2;
    }
    int threads = 0;
    const char *title = " Using processes ";
    if (argc == 2 && strcmp(argv[1], "threads") == 0) {
        threads = 1;
        title = " Using threads ";
    } else if (argc == 2 && strcmp(argv[1], "processes") != 0) {
        printf("Usage:\n\t%s [processes | threads]\n", argv[0]);
        return 2;
    }
    int len = (int)strlen(title), left = (79 - len) / 2, right = 79 - len - left;
    printf("%.*s%s%.*s\n", left,
           "----------------------------------------------------------------------------------",
           title, right,
           "----------------------------------------------------------------------------------");
    test(threads);
    return 0;
}
