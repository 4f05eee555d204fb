/*
 * mp_synchronize.c - the seed's "Synchronization types like locks,
 * conditions and queues" test program (mp_synchronize.py, EX-39) ported to
 * mpx: test_value, test_queue, test_condition, test_semaphore,
 * test_join_timeout, test_event, test_sharedvalues. Sleeps are shortened so the run takes a few seconds; the
 * printed shape is the seed's.
 *
 * Usage: mp_synchronize [processes | threads]
 *
 * "threads" is the seed's `import multiprocessing.dummy as namespace`:
 * one call, mpx_set_start_method("thread", 1), makes the default context
 * the thread backend, and every Process below is then a thread of this
 * program (docs/thread-backend.md); nothing else changes. (The seed's
 * "manager" mode needs managers.)
 */
#include <mpx.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* An mpx call that must not fail: actions return 0, yes/no answers 1 or 0
 * (docs/design.md, "Porting contract"), errors are negative. */
#define TRY(expr)                                                                   \
    do {                                                                            \
        int rc_ = (expr);                                                           \
        if (rc_ < 0) {                                                              \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,           \
                    mpx_strerror(rc_));                                             \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

static void sleep_s(double s)
{
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&t, &t) < 0)
        ;
}

static double random01(void)
{
    static _Thread_local unsigned seed; /* threads mode: one per thread */
    if (!seed)
        seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    return rand_r(&seed) / ((double)RAND_MAX + 1);
}

/* str(multiprocessing.current_process()) */
static void print_current(const char *prefix, const char *suffix)
{
    char *d = mpx_process_describe(mpx_current_process());
    printf("%s%s%s\n", prefix, d ? d : "?", suffix);
    fflush(stdout);
    mpx_free(d);
}

static mpx_process *start(mpx_target_fn fn, mpx_args *a)
{
    mpx_process *p;
    fflush(stdout);
    TRY(mpx_process_create(&p, fn, a, NULL));
    TRY(mpx_process_start(p));
    return p;
}

static void join_all(mpx_process **ps, int n)
{
    for (int i = 0; i < n; i++) {
        TRY(mpx_process_join(ps[i], MPX_FOREVER));
        mpx_process_destroy(ps[i]);
    }
}

/* ---- TEST_QUEUE ---- */

/* The child puts the squares of 0..29 (as text), then "STOP". */
static int queue_func(const mpx_args *a)
{
    mpx_queue *q = mpx_args_object(a, 0);
    char msg[32];
    for (int i = 0; i < 30; i++) {
        sleep_s(0.05 * random01());
        int n = snprintf(msg, sizeof msg, "%d", i * i);
        int rc = mpx_queue_put(q, msg, (size_t)n, MPX_FOREVER);
        if (rc)
            return rc;
    }
    return mpx_queue_put(q, "STOP", 4, MPX_FOREVER);
}

static void test_queue(void)
{
    mpx_queue *q;
    TRY(mpx_queue_create(&q, 0, NULL));
    mpx_args *a;
    TRY(mpx_args_create(&a));
    TRY(mpx_args_add_object(a, q));
    mpx_process *p = start(queue_func, a);
    mpx_args_destroy(a);
    char o[64] = "";
    while (strcmp(o, "STOP") != 0) {
        size_t len = 0;
        /* get(timeout=0.3) with Empty printed as TIMEOUT; 0.03 s here to
         * match the shortened sleeps of the child */
        int rc = mpx_queue_get_into(q, o, sizeof o - 1, &len, 30);
        if (rc == MPX_EEMPTY || rc == MPX_ETIMEDOUT) {
            printf("TIMEOUT ");
            o[0] = 0;
            continue;
        }
        TRY(rc);
        o[len] = 0;
        printf("%s ", o);
        fflush(stdout);
    }
    printf("\n");
    join_all(&p, 1);
    mpx_queue_destroy(q);
}

/* ---- TEST_VALUE ---- */

static int value_func(const mpx_args *a)
{
    mpx_value *running = mpx_args_object(a, 0);
    mpx_lock *mutex = mpx_args_object(a, 1);
    sleep_s(random01() * 0.8); /* seed: random() * 4 */
    TRY(mpx_lock_acquire(mutex, MPX_FOREVER));
    print_current("\n\t\t\t", " has finished");
    int64_t v;
    TRY(mpx_value_get_i64(running, &v));
    TRY(mpx_value_set_i64(running, v - 1));
    TRY(mpx_lock_release(mutex));
    return 0;
}

static void test_value(void)
{
    enum { TASKS = 10 };
    mpx_value *running;
    mpx_lock *mutex;
    TRY(mpx_value_create(&running, "i", TASKS, NULL)); /* Value('i', TASKS) */
    TRY(mpx_lock_create(&mutex, NULL));
    mpx_args *a;
    TRY(mpx_args_create(&a));
    TRY(mpx_args_add_object(a, running));
    TRY(mpx_args_add_object(a, mutex));
    mpx_process *ps[TASKS];
    for (int i = 0; i < TASKS; i++)
        ps[i] = start(value_func, a);
    int64_t v;
    for (;;) {
        TRY(mpx_value_get_i64(running, &v));
        if (v <= 0)
            break;
        sleep_s(0.08);
        TRY(mpx_lock_acquire(mutex, MPX_FOREVER));
        TRY(mpx_value_get_i64(running, &v));
        printf("%lld ", (long long)v);
        fflush(stdout);
        TRY(mpx_lock_release(mutex));
    }
    printf("\nNo more running processes\n");
    join_all(ps, TASKS);
    mpx_args_destroy(a);
    mpx_value_destroy(running);
    mpx_lock_destroy(mutex);
}

/* ---- TEST_CONDITION ---- */

static void print_cond(const char *prefix, mpx_condition *c)
{
    char *d = mpx_condition_describe(c);
    printf("%s%s\n", prefix, d ? d : "?");
    fflush(stdout);
    mpx_free(d);
}

static int condition_func(const mpx_args *a)
{
    mpx_condition *cond = mpx_args_object(a, 0);
    TRY(mpx_condition_acquire(cond, MPX_FOREVER));
    print_cond("\t", cond);
    sleep_s(0.5); /* seed: 2 s */
    printf("\tchild is notifying\n");
    fflush(stdout);
    print_cond("\t", cond);
    TRY(mpx_condition_notify(cond, 1));
    TRY(mpx_condition_release(cond));
    return 0;
}

static void test_condition(void)
{
    mpx_condition *cond;
    TRY(mpx_condition_create(&cond, NULL, NULL));
    mpx_args *a;
    TRY(mpx_args_create(&a));
    TRY(mpx_args_add_object(a, cond));
    print_cond("", cond);
    TRY(mpx_condition_acquire(cond, MPX_FOREVER));
    print_cond("", cond);
    TRY(mpx_condition_acquire(cond, MPX_FOREVER));
    print_cond("", cond);
    mpx_process *p = start(condition_func, a);
    printf("main is waiting\n");
    fflush(stdout);
    TRY(mpx_condition_wait(cond, MPX_FOREVER));
    printf("main has woken up\n");
    print_cond("", cond);
    TRY(mpx_condition_release(cond));
    print_cond("", cond);
    TRY(mpx_condition_release(cond));
    join_all(&p, 1);
    print_cond("", cond);
    mpx_args_destroy(a);
    mpx_condition_destroy(cond);
}

/* ---- TEST_SEMAPHORE ---- */

static int semaphore_func(const mpx_args *a)
{
    mpx_semaphore *sema = mpx_args_object(a, 0);
    mpx_rlock *mutex = mpx_args_object(a, 1);
    mpx_value *running = mpx_args_object(a, 2);
    int64_t v;
    TRY(mpx_semaphore_acquire(sema, MPX_FOREVER));
    TRY(mpx_rlock_acquire(mutex, MPX_FOREVER));
    TRY(mpx_value_get_i64(running, &v));
    TRY(mpx_value_set_i64(running, v + 1));
    printf("%lld tasks are running\n", (long long)(v + 1));
    fflush(stdout);
    TRY(mpx_rlock_release(mutex));
    sleep_s(random01() * 0.4); /* seed: random() * 2 */
    TRY(mpx_rlock_acquire(mutex, MPX_FOREVER));
    TRY(mpx_value_get_i64(running, &v));
    TRY(mpx_value_set_i64(running, v - 1));
    print_current("", " has finished");
    TRY(mpx_rlock_release(mutex));
    TRY(mpx_semaphore_release(sema));
    return 0;
}

static void test_semaphore(void)
{
    mpx_semaphore *sema;
    mpx_rlock *mutex;
    mpx_value *running;
    TRY(mpx_semaphore_create(&sema, 3, NULL));
    TRY(mpx_rlock_create(&mutex, NULL));
    TRY(mpx_value_create(&running, "i", 0, NULL));
    mpx_args *a;
    TRY(mpx_args_create(&a));
    TRY(mpx_args_add_object(a, sema));
    TRY(mpx_args_add_object(a, mutex));
    TRY(mpx_args_add_object(a, running));
    mpx_process *ps[10];
    for (int i = 0; i < 10; i++)
        ps[i] = start(semaphore_func, a);
    join_all(ps, 10);
    mpx_args_destroy(a);
    mpx_semaphore_destroy(sema);
    mpx_rlock_destroy(mutex);
    mpx_value_destroy(running);
}

/* ---- TEST_JOIN_TIMEOUT ---- */

static int join_timeout_func(const mpx_args *a)
{
    (void)a;
    printf("\tchild sleeping\n");
    fflush(stdout);
    sleep_s(1.1); /* seed: 5.5 s with join(timeout=1) */
    printf("\n\tchild terminating\n");
    return 0;
}

static void test_join_timeout(void)
{
    mpx_process *p = start(join_timeout_func, NULL);
    printf("waiting for process to finish\n");
    fflush(stdout);
    for (;;) {
        int rc = mpx_process_join(p, 200); /* 1: ended, 0: still running */
        TRY(rc);
        if (rc == 1)
            break;
        printf(". ");
        fflush(stdout);
    }
    mpx_process_destroy(p);
}

/* ---- TEST_EVENT ---- */

static int event_func(const mpx_args *a)
{
    mpx_event *event = mpx_args_object(a, 0);
    print_current("\t", " is waiting");
    fflush(stdout);
    TRY(mpx_event_wait(event, MPX_FOREVER));
    print_current("\t", " has woken up");
    return 0;
}

static void test_event(void)
{
    mpx_event *event;
    TRY(mpx_event_create(&event, NULL));
    mpx_args *a;
    TRY(mpx_args_create(&a));
    TRY(mpx_args_add_object(a, event));
    mpx_process *ps[5];
    for (int i = 0; i < 5; i++)
        ps[i] = start(event_func, a);
    printf("main is sleeping\n");
    fflush(stdout);
    sleep_s(0.5); /* seed: 2 s */
    printf("main is setting event\n");
    fflush(stdout);
    TRY(mpx_event_set(event));
    join_all(ps, 5);
    mpx_args_destroy(a);
    mpx_event_destroy(event);
}

/* ---- TEST_SHAREDVALUES ---- */

static int sharedvalues_func(const mpx_args *a)
{
    /* args: 3 values, 3 arrays; expected contents are recomputed here */
    int64_t i;
    double d;
    if (mpx_value_get_i64(mpx_args_object(a, 0), &i) || i != 10)
        return 2;
    if (mpx_value_get_i64(mpx_args_object(a, 1), &i) || i != -2)
        return 2;
    if (mpx_value_get_f64(mpx_args_object(a, 2), &d) || d != 1.25)
        return 2;
    mpx_array *ai = mpx_args_object(a, 3), *ad = mpx_args_object(a, 4),
              *ah = mpx_args_object(a, 5);
    if (mpx_array_len(ai) != 100 || mpx_array_len(ad) != 100 || mpx_array_len(ah) != 1000)
        return 3;
    for (size_t k = 0; k < 100; k++) {
        if (mpx_array_get_i64(ai, k, &i) || i != (int64_t)k)
            return 3;
        if (mpx_array_get_f64(ad, k, &d) || d != 0.25 * (double)k)
            return 3;
    }
    for (size_t k = 0; k < 1000; k++)
        if (mpx_array_get_i64(ah, k, &i) || i != (int64_t)k)
            return 3;
    printf("Tests passed\n");
    fflush(stdout);
    return 0;
}

static void test_sharedvalues(void)
{
    int iv = 10;
    short hv = -2;
    double dv = 1.25;
    int ai[100];
    double ad[100];
    unsigned short ah[1000];
    for (int k = 0; k < 100; k++) {
        ai[k] = k;
        ad[k] = 0.25 * k;
    }
    for (int k = 0; k < 1000; k++)
        ah[k] = (unsigned short)k;
    mpx_value *v[3];
    mpx_array *arr[3];
    TRY(mpx_value_create(&v[0], "i", iv, NULL));
    TRY(mpx_value_create(&v[1], "h", hv, NULL));
    TRY(mpx_value_create(&v[2], "d", dv, NULL));
    TRY(mpx_array_create(&arr[0], "i", 100, ai, NULL));
    TRY(mpx_array_create(&arr[1], "d", 100, ad, NULL));
    TRY(mpx_array_create(&arr[2], "H", 1000, ah, NULL));
    mpx_args *a;
    TRY(mpx_args_create(&a));
    for (int k = 0; k < 3; k++)
        TRY(mpx_args_add_object(a, v[k]));
    for (int k = 0; k < 3; k++)
        TRY(mpx_args_add_object(a, arr[k]));
    mpx_process *p = start(sharedvalues_func, a);
    TRY(mpx_process_join(p, MPX_FOREVER));
    int code = -1;
    mpx_process_exitcode(p, &code);
    mpx_process_destroy(p);
    if (code != 0) {
        fprintf(stderr, "sharedvalues child failed: exitcode %d\n", code);
        exit(1);
    }
    mpx_args_destroy(a);
    for (int k = 0; k < 3; k++) {
        mpx_value_destroy(v[k]);
        mpx_array_destroy(arr[k]);
    }
}

int main(int argc, char **argv)
{
    bool threads = argc == 2 && !strcmp(argv[1], "threads");
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "processes") != 0 && !threads)) {
        printf("Usage:\n\t%s [processes | threads]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (threads) {
        /* import multiprocessing.dummy as namespace */
        printf("-------------------------------- Using threads --------------------------------\n");
        TRY(mpx_set_start_method("thread", 1));
    } else {
        printf("------------------------------- Using processes -------------------------------\n");
    }
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"test_value", test_value},         {"test_queue", test_queue},
        {"test_condition", test_condition},
        {"test_semaphore", test_semaphore}, {"test_join_timeout", test_join_timeout},
        {"test_event", test_event},         {"test_sharedvalues", test_sharedvalues},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        printf("\n\t######## %s\n\n", tests[i].name);
        tests[i].fn();
    }
    mpx_process **kids;
    size_t n;
    if (mpx_active_children(&kids, &n) == 0) /* clean up any old processes */
        mpx_free(kids);
    return 0;
}
