/*
 * mp_pool.c - the seed's "Using Pool" test program (EX-38), ported to mpx.
 *
 *   mp_pool [processes | threads]
 *
 * Same sections and output as the Python program, with the same values:
 * TASKS is the list [(mul, (i, 7)) ..., (plus, (i, 8)) ...] whose
 * functions travel by name (as pickle sends them) and are found among the
 * functions registered under that name; apply_async, imap, imap_unordered
 * and map of calculate/calculatestar over it; the pow3 and noop timing
 * comparisons (assert A == B == C on the value lists); error handling
 * with f, whose ZeroDivisionError comes back as an exception value
 * (except ZeroDivisionError: mpx_obj_instance_of); get and next with
 * timeouts; callbacks that append to a list value (callback=A.append,
 * A.extend); close; terminate; destroy ("garbage collection"). mul and
 * plus sleep 0.05*random() instead of 0.5*random().
 */
#include <mpx.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHECK(x)                                                                         \
    do {                                                                                 \
        if (!(x)) {                                                                      \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #x);    \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

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

static mpx_obj *mul(mpx_obj *args, mpx_obj *kwargs, mpx_obj **error)
{
    (void)kwargs;
    long long a, b;
    if (mpx_obj_parse(args, "(LL)", &a, &b))
        return mpx_task_raise(error, "TypeError", "mul() takes 2 int arguments");
    sleep_s(0.05 * rand() / RAND_MAX);
    return mpx_obj_int(a * b);
}

static mpx_obj *plus(mpx_obj *args, mpx_obj *kwargs, mpx_obj **error)
{
    (void)kwargs;
    long long a, b;
    if (mpx_obj_parse(args, "(LL)", &a, &b))
        return mpx_task_raise(error, "TypeError", "plus() takes 2 int arguments");
    sleep_s(0.05 * rand() / RAND_MAX);
    return mpx_obj_int(a + b);
}

/* found by name in every process, as Python finds __main__.mul */
MPX_REGISTER_FUNCTION(mul);
MPX_REGISTER_FUNCTION(plus);

/* calculate(func, args): '%s says that %s%s = %s' % (name, func.__name__, args, result) */
static mpx_obj *calculate(mpx_obj *args, mpx_obj *kwargs, mpx_obj **error)
{
    (void)kwargs;
    mpx_obj *func, *fargs, *result;
    const char *name;
    mpx_fn fn;
    if (mpx_obj_parse(args, "(OO)", &func, &fargs) || mpx_obj_class_name(func, NULL, &name) ||
        mpx_lookup_function(name, &fn))
        return mpx_task_raise(error, "TypeError", "calculate() takes a function and its arguments");
    srand((unsigned)getpid() ^ (unsigned)mpx_obj_len(args) ^ (unsigned)rand());
    if (!(result = ((mpx_obj_star_fn)fn)(fargs, NULL, error)))
        return NULL;
    char *a = mpx_obj_repr(fargs), *r = mpx_obj_text(result);
    mpx_obj *s = mpx_obj_str_printf("%s says that %s%s = %s",
                                    mpx_process_name(mpx_current_process()), name, a, r);
    mpx_free(a);
    mpx_free(r);
    mpx_obj_decref(result);
    return s;
}

/* calculatestar(args): calculate(*args) */
static mpx_obj *calculatestar(mpx_obj *args, mpx_obj **error)
{
    return calculate(args, NULL, error);
}

/* f(x): 1.0 / (x - 5.0) */
static mpx_obj *f(mpx_obj *x, mpx_obj **error)
{
    double v;
    if (mpx_obj_get_float(x, &v))
        return mpx_task_raise(error, "TypeError", "unsupported operand type(s) for -");
    if (v - 5.0 == 0.0)
        return mpx_task_raise(error, "ZeroDivisionError", "float division by zero");
    return mpx_obj_float(1.0 / (v - 5.0));
}

/* pow3(x): x**3 */
static mpx_obj *pow3(mpx_obj *x, mpx_obj **error)
{
    long long v;
    if (mpx_obj_parse(x, "L", &v))
        return mpx_task_raise(error, "TypeError", "pow3() takes an int");
    return mpx_obj_int(v * v * v);
}

/* noop(x): pass */
static mpx_obj *noop(mpx_obj *x, mpx_obj **error)
{
    (void)x;
    (void)error;
    return mpx_obj_none();
}

/* time.sleep(seconds) */
static mpx_obj *time_sleep(mpx_obj *args, mpx_obj *kwargs, mpx_obj **error)
{
    (void)kwargs;
    double s;
    if (mpx_obj_parse(args, "(d)", &s))
        return mpx_task_raise(error, "TypeError", "sleep() takes a number");
    sleep_s(s);
    return mpx_obj_none();
}

/* map(fn, xs) in this process */
static mpx_obj *local_map(mpx_obj_fn fn, const mpx_obj *xs)
{
    mpx_obj *out = mpx_obj_list();
    size_t pos = 0;
    mpx_obj *x, *e = NULL;
    while (mpx_obj_next(xs, &pos, &x) == 1)
        CHECK(mpx_obj_list_append_new(out, fn(x, &e)) == 0);
    return out;
}

/* list(it): every result (an error stops it, as list() raises) */
static int list_of(mpx_obj_imap *it, mpx_obj **out)
{
    mpx_obj *l = mpx_obj_list(), *v;
    int rc;
    while ((rc = mpx_obj_imap_next(it, MPX_FOREVER, &v, NULL)) == 0)
        CHECK(mpx_obj_list_append_new(l, v) == 0);
    mpx_obj_imap_destroy(it);
    if (rc == MPX_EEOF) {
        *out = l;
        return 0;
    }
    mpx_obj_decref(l);
    *out = rc == MPX_ETASK || rc == MPX_EWORKER ? v : NULL; /* the exception */
    return rc;
}

static mpx_obj *range(long n)
{
    mpx_obj *l = mpx_obj_list();
    for (long i = 0; i < n; i++)
        CHECK(mpx_obj_list_append_new(l, mpx_obj_int(i)) == 0);
    return l;
}

static bool is_zde(int rc, const mpx_obj *e)
{
    return rc == MPX_ETASK && mpx_obj_instance_of(e, "builtins", "ZeroDivisionError") == 1;
}

/* callback=A.append, callback=A.extend */
static void append_cb(mpx_obj *v, void *A)
{
    mpx_obj_list_append(A, v);
}

static void extend_cb(mpx_obj *v, void *A)
{
    mpx_obj_list_extend(A, v);
}

static void print_str(const char *prefix, const mpx_obj *v)
{
    char *s = mpx_obj_text(v);
    printf("%s%s", prefix, s ? s : "?");
    mpx_free(s);
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

    /* Tests: TASKS = [(mul, (i, 7)) for i in range(10)] + [(plus, (i, 8)) for i in range(10)] */
    mpx_obj *TASKS = mpx_obj_list();
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 10; i++)
            CHECK(mpx_obj_list_append_new(
                      TASKS, mpx_obj_build("(N(ii))", mpx_obj_class("__main__", k ? "plus" : "mul"),
                                           i, k ? 8 : 7)) == 0);

    mpx_obj_result *results[20];
    for (int i = 0; i < 20; i++)
        CHECK(mpx_pool_apply_star_obj_async(pool, calculate, mpx_obj_item(TASKS, i), NULL, NULL,
                                            &results[i]) == 0);
    mpx_obj_imap *imap_it, *imap_unordered_it, *it;
    CHECK(mpx_pool_imap_obj(pool, calculatestar, TASKS, NULL, &imap_it) == 0);
    CHECK(mpx_pool_imap_unordered_obj(pool, calculatestar, TASKS, NULL, &imap_unordered_it) == 0);

    mpx_obj *x, *r;
    printf("Ordered results using pool.apply_async():\n");
    for (int i = 0; i < 20; i++) {
        CHECK(mpx_obj_result_get(results[i], MPX_FOREVER, &r) == 0);
        print_str("\t", r);
        printf("\n");
        mpx_obj_decref(r);
        mpx_obj_result_destroy(results[i]);
    }
    printf("\n");

    printf("Ordered results using pool.imap():\n");
    while (mpx_obj_imap_next(imap_it, MPX_FOREVER, &x, NULL) == 0) {
        print_str("\t", x);
        printf("\n");
        mpx_obj_decref(x);
    }
    printf("\n");
    mpx_obj_imap_destroy(imap_it);

    printf("Unordered results using pool.imap_unordered():\n");
    while (mpx_obj_imap_next(imap_unordered_it, MPX_FOREVER, &x, NULL) == 0) {
        print_str("\t", x);
        printf("\n");
        mpx_obj_decref(x);
    }
    printf("\n");
    mpx_obj_imap_destroy(imap_unordered_it);

    printf("Ordered results using pool.map() --- will block till complete:\n");
    CHECK(mpx_pool_map_obj(pool, calculatestar, TASKS, NULL, &r) == 0);
    for (int64_t i = 0; i < mpx_obj_len(r); i++) {
        print_str("\t", mpx_obj_item(r, i));
        printf("\n");
    }
    printf("\n");
    mpx_obj_decref(r);

    /* Simple benchmarks */
    long N = 100000;
    mpx_obj *xs = range(N), *A, *B, *C;
    printf("def pow3(x): return x**3\n");
    double t = now();
    A = local_map(pow3, xs);
    printf("\tmap(pow3, xrange(%ld)):\n\t\t%f seconds\n", N, now() - t);

    t = now();
    CHECK(mpx_pool_map_obj(pool, pow3, xs, NULL, &B) == 0);
    printf("\tpool.map(pow3, xrange(%ld)):\n\t\t%f seconds\n", N, now() - t);

    t = now();
    mpx_obj_call_opts co = {.chunksize = (size_t)N / 8};
    CHECK(mpx_pool_imap_obj(pool, pow3, xs, &co, &it) == 0);
    CHECK(list_of(it, &C) == 0);
    printf("\tlist(pool.imap(pow3, xrange(%ld), chunksize=%ld)):\n\t\t%f seconds\n", N, N / 8,
           now() - t);
    CHECK(mpx_obj_equal(A, B) == 1 && mpx_obj_equal(B, C) == 1); /* A == B == C */
    printf("\n");
    mpx_obj_decref(A);
    mpx_obj_decref(B);
    mpx_obj_decref(C);

    long LEN = 1000000;
    mpx_obj *L = mpx_obj_list();
    for (long i = 0; i < LEN; i++)
        CHECK(mpx_obj_list_append(L, mpx_obj_none()) == 0);
    printf("def noop(x): pass\n");
    printf("L = [None] * %ld\n", LEN);

    t = now();
    A = local_map(noop, L);
    printf("\tmap(noop, L):\n\t\t%f seconds\n", now() - t);

    t = now();
    CHECK(mpx_pool_map_obj(pool, noop, L, NULL, &B) == 0);
    printf("\tpool.map(noop, L):\n\t\t%f seconds\n", now() - t);

    t = now();
    co.chunksize = (size_t)LEN / 8;
    CHECK(mpx_pool_imap_obj(pool, noop, L, &co, &it) == 0);
    CHECK(list_of(it, &C) == 0);
    printf("\tlist(pool.imap(noop, L, chunksize=%ld)):\n\t\t%f seconds\n", LEN / 8, now() - t);
    CHECK(mpx_obj_equal(A, B) == 1 && mpx_obj_equal(B, C) == 1);
    printf("\n");
    mpx_obj_decref(A);
    mpx_obj_decref(B);
    mpx_obj_decref(C);
    mpx_obj_decref(L);

    /* Test error handling */
    printf("Testing error handling:\n");
    mpx_obj *five = mpx_obj_int(5), *e;
    int rc = mpx_pool_apply_obj(pool, f, five, NULL, &e);
    CHECK(is_zde(rc, e)); /* else: AssertionError('expected ZeroDivisionError') */
    printf("\tGot ZeroDivisionError as expected from pool.apply()\n");
    mpx_obj_decref(e);

    mpx_obj *ten = range(10);
    rc = mpx_pool_map_obj(pool, f, ten, NULL, &e);
    CHECK(is_zde(rc, e));
    printf("\tGot ZeroDivisionError as expected from pool.map()\n");
    mpx_obj_decref(e);

    CHECK(mpx_pool_imap_obj(pool, f, ten, NULL, &it) == 0);
    rc = list_of(it, &e);
    CHECK(is_zde(rc, e));
    printf("\tGot ZeroDivisionError as expected from list(pool.imap())\n");
    mpx_obj_decref(e);

    CHECK(mpx_pool_imap_obj(pool, f, ten, NULL, &it) == 0);
    int i;
    for (i = 0; i < 10; i++) {
        rc = mpx_obj_imap_next(it, MPX_FOREVER, &x, NULL);
        if (rc == MPX_EEOF)
            break;
        CHECK(i == 5 ? is_zde(rc, x) : rc == 0); /* expected ZeroDivisionError at 5 only */
        mpx_obj_decref(x);
    }
    CHECK(i == 10 && mpx_obj_imap_next(it, 0, &x, NULL) == MPX_EEOF);
    mpx_obj_imap_destroy(it);
    printf("\tGot ZeroDivisionError as expected from IMapIterator.next()\n");
    printf("\n");

    /* Testing timeouts */
    printf("Testing ApplyResult.get() with timeout:");
    mpx_obj_result *res;
    CHECK(mpx_pool_apply_star_obj_async(pool, calculate, mpx_obj_item(TASKS, 0), NULL, NULL, &res) ==
          0);
    for (;;) {
        fflush(stdout);
        rc = mpx_obj_result_get(res, 20, &r);
        if (rc == 0) {
            print_str("\n\t", r);
            mpx_obj_decref(r);
            break;
        }
        CHECK(rc == MPX_ETIMEDOUT);
        printf(".");
    }
    mpx_obj_result_destroy(res);
    printf("\n\n");

    printf("Testing IMapIterator.next() with timeout:");
    CHECK(mpx_pool_imap_obj(pool, calculatestar, TASKS, NULL, &it) == 0);
    for (;;) {
        fflush(stdout);
        rc = mpx_obj_imap_next(it, 20, &x, NULL);
        if (rc == MPX_EEOF)
            break;
        if (rc == MPX_ETIMEDOUT) {
            printf(".");
        } else {
            CHECK(rc == 0);
            print_str("\n\t", x);
            mpx_obj_decref(x);
        }
    }
    mpx_obj_imap_destroy(it);
    printf("\n\n");

    /* Testing callback */
    printf("Testing callback:\n");
    A = mpx_obj_list();
    B = mpx_obj_build("[iiiiiiiiiii]", 56, 0, 1, 8, 27, 64, 125, 216, 343, 512, 729);
    mpx_obj *seven_eight = mpx_obj_build("(ii)", 7, 8);
    mpx_obj_call_opts app = {.callback = append_cb, .udata = A};
    mpx_obj_call_opts ext = {.callback = extend_cb, .udata = A};
    CHECK(mpx_pool_apply_star_obj_async(pool, mul, seven_eight, NULL, &app, &res) == 0);
    mpx_obj_result_wait(res, MPX_FOREVER);
    mpx_obj_result_destroy(res);
    CHECK(mpx_pool_map_obj_async(pool, pow3, ten, &ext, &res) == 0);
    mpx_obj_result_wait(res, MPX_FOREVER);
    mpx_obj_result_destroy(res);
    if (mpx_obj_equal(A, B) == 1) {
        printf("\tcallbacks succeeded\n\n");
    } else {
        char *a = mpx_obj_repr(A), *b = mpx_obj_repr(B);
        printf("\t*** callbacks failed\n\t\t%s != %s\n\n", a, b);
        mpx_free(a);
        mpx_free(b);
    }
    mpx_obj_decref(A);
    mpx_obj_decref(B);
    mpx_obj_decref(seven_eight);

    /* Check there are no outstanding tasks */
    CHECK(mpx_pool_outstanding(pool) == 0);

    /* Check close() methods */
    printf("Testing close():\n");
    pid_t pids[8];
    int np = mpx_pool_worker_pids(pool, pids, 8);
    CHECK(threads || np == PROCESSES);
    mpx_obj *half = mpx_obj_build("[d]", 0.5), *delta = mpx_obj_build("[d]", 0.1);
    CHECK(mpx_pool_apply_star_obj_async(pool, time_sleep, half, NULL, NULL, &res) == 0);
    CHECK(mpx_pool_close(pool) == 0);
    CHECK(mpx_pool_join(pool) == 0);
    CHECK(mpx_obj_result_get(res, 0, &r) == 0 && mpx_obj_typeof(r) == MPX_OBJ_NONE);
    mpx_obj_decref(r);
    mpx_obj_result_destroy(res);
    CHECK(all_dead(pids, np));
    mpx_pool_destroy(pool);
    printf("\tclose() succeeded\n\n");

    /* Check terminate() method */
    printf("Testing terminate():\n");
    pool = new_pool(2, threads);
    mpx_obj *two = mpx_obj_int(2);
    CHECK(mpx_pool_apply_obj(pool, pow3, two, NULL, &r) == 0); /* ignore = pool.apply(pow3, [2]) */
    mpx_obj_decref(r);
    np = mpx_pool_worker_pids(pool, pids, 8);
    mpx_obj_result *many[100];
    for (i = 0; i < 100; i++)
        CHECK(mpx_pool_apply_star_obj_async(pool, time_sleep, delta, NULL, NULL, &many[i]) == 0);
    CHECK(mpx_pool_terminate(pool) == 0);
    CHECK(mpx_pool_join(pool) == 0);
    CHECK(all_dead(pids, np));
    for (i = 0; i < 100; i++)
        mpx_obj_result_destroy(many[i]);
    mpx_pool_destroy(pool);
    printf("\tterminate() succeeded\n\n");

    /* Check garbage collection (destroy) */
    printf("Testing garbage collection:\n");
    pool = new_pool(2, threads);
    CHECK(mpx_pool_apply_obj(pool, pow3, two, NULL, &r) == 0);
    mpx_obj_decref(r);
    np = mpx_pool_worker_pids(pool, pids, 8);
    for (i = 0; i < 100; i++)
        CHECK(mpx_pool_apply_star_obj_async(pool, time_sleep, delta, NULL, NULL, &many[i]) == 0);
    mpx_pool_destroy(pool); /* results = pool = None */
    for (i = 0; i < 100; i++)
        mpx_obj_result_destroy(many[i]);
    sleep_s(0.1 * 2);
    CHECK(all_dead(pids, np));
    printf("\tgarbage collection succeeded\n\n");

    mpx_obj_decref(two);
    mpx_obj_decref(half);
    mpx_obj_decref(delta);
    mpx_obj_decref(five);
    mpx_obj_decref(ten);
    mpx_obj_decref(xs);
    mpx_obj_decref(TASKS);
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
