/*
 * parallel_salads.c - "Parallel Salads" (EX-48), from the seeds' blog
 * post on concurrency and parallelism: a team of identical cooks, each
 * making one customer's salad at a time (CPU bound: chopping), while one
 * more worker collects the dirty bowls and washes them. In Python the
 * cooks are a ProcessPoolExecutor sized to the number of cores, and they
 * talk through multiprocessing queues, since processes share nothing.
 *
 * Here the cooks are a pool of one worker per usable CPU (Pool(None)),
 * the bowls travel through two queues (clean, dirty) given to every cook
 * by the pool's initializer, and the dish washer is a Process.
 *
 *     build/examples/parallel_salads [processes | threads]
 *
 * "threads" switches the whole program to the thread backend in one
 * place (multiprocessing.dummy: mpx_set_start_method("thread", 1)): the
 * pool becomes a thread pool and the washer a thread; the output is the
 * same (docs/thread-backend.md). On threads the chopping does run in
 * parallel in C (there is no GIL), but the cooks share one process.
 */
#include <mpx.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CUSTOMERS 8
#define BOWLS 3
#define CLOSED "closed"

#define TRY(expr)                                                                   \
    do {                                                                            \
        int rc_ = (expr);                                                           \
        if (rc_ < 0) {                                                              \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,           \
                    mpx_strerror(rc_));                                             \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

/* Each cook's queues (set by the pool initializer: once per worker
 * process, or by every worker thread of a thread pool, hence atomic). */
static mpx_queue *_Atomic clean_bowls, *_Atomic dirty_bowls;

static int init_cook(const mpx_args *a)
{
    atomic_store(&clean_bowls, mpx_args_object(a, 0));
    atomic_store(&dirty_bowls, mpx_args_object(a, 1));
    return 0;
}

/* Chop: some CPU work whose result depends only on the order. */
static uint64_t chop(uint64_t customer)
{
    uint64_t x = customer * 0x9e3779b97f4a7c15ull + 1, sum = 0;
    for (int i = 0; i < 2000000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sum += x >> 60;
    }
    return sum;
}

/* make_salad(customer): take a clean bowl, chop, hand the salad over and
 * put the bowl on the dirty pile. */
static int make_salad(const void *in, size_t len, mpx_task_out *out)
{
    int64_t customer;
    if (len != sizeof customer)
        return mpx_task_fail(out, "bad order");
    memcpy(&customer, in, sizeof customer);
    char bowl[32];
    size_t blen = 0;
    int rc = mpx_queue_get_into(atomic_load(&clean_bowls), bowl, sizeof bowl, &blen,
                                MPX_FOREVER);
    if (rc)
        return mpx_task_fail(out, "no bowl: %s", mpx_strerror(rc));
    char salad[96];
    int n = snprintf(salad, sizeof salad, "salad for customer %lld (chopped %llu)",
                     (long long)customer, (unsigned long long)chop((uint64_t)customer));
    rc = mpx_queue_put(atomic_load(&dirty_bowls), bowl, blen, MPX_FOREVER);
    if (rc)
        return mpx_task_fail(out, "bowl lost: %s", mpx_strerror(rc));
    return mpx_task_out_set(out, salad, (size_t)n);
}

/* wash_bowls(dirty, clean, report): until the restaurant closes. */
static int wash_bowls(const mpx_args *a)
{
    mpx_queue *dirty = mpx_args_object(a, 0), *clean = mpx_args_object(a, 1),
              *report = mpx_args_object(a, 2);
    int64_t washed = 0;
    for (;;) {
        char bowl[32];
        size_t len = 0;
        TRY(mpx_queue_get_into(dirty, bowl, sizeof bowl, &len, MPX_FOREVER));
        if (len == strlen(CLOSED) && !memcmp(bowl, CLOSED, len))
            break;
        struct timespec t = {0, 1000000L};
        nanosleep(&t, NULL);
        TRY(mpx_queue_put(clean, bowl, len, MPX_FOREVER));
        washed++;
    }
    return mpx_queue_put(report, &washed, sizeof washed, MPX_FOREVER);
}

int main(int argc, char **argv)
{
    int threads = argc == 2 && !strcmp(argv[1], "threads");
    if (argc > 2 || (argc == 2 && !threads && strcmp(argv[1], "processes") != 0)) {
        printf("Usage:\n\t%s [processes | threads]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (threads)
        TRY(mpx_set_start_method("thread", 1)); /* import multiprocessing.dummy */
    printf("Parallel Salads on %s\n", threads ? "threads" : "processes");

    mpx_queue *clean, *dirty, *report;
    TRY(mpx_queue_create(&clean, 0, NULL));
    TRY(mpx_queue_create(&dirty, 0, NULL));
    TRY(mpx_queue_create(&report, 0, NULL));
    for (int i = 1; i <= BOWLS; i++) {
        char bowl[16];
        int n = snprintf(bowl, sizeof bowl, "bowl %d", i);
        TRY(mpx_queue_put(clean, bowl, (size_t)n, MPX_FOREVER));
    }

    mpx_args *a;
    TRY(mpx_args_create(&a));
    TRY(mpx_args_add_object(a, dirty));
    TRY(mpx_args_add_object(a, clean));
    TRY(mpx_args_add_object(a, report));
    mpx_process *washer;
    TRY(mpx_process_create(&washer, wash_bowls, a, NULL));
    TRY(mpx_process_start(washer));
    mpx_args_destroy(a);

    /* the cooks: one per core, as ProcessPoolExecutor() */
    TRY(mpx_args_create(&a));
    TRY(mpx_args_add_object(a, clean));
    TRY(mpx_args_add_object(a, dirty));
    mpx_pool_opts po = {.initializer = init_cook, .initargs = a};
    mpx_pool *cooks;
    TRY(mpx_pool_create(&cooks, MPX_POOL_DEFAULT, &po));
    mpx_args_destroy(a);

    int64_t customer[CUSTOMERS];
    mpx_bytes orders[CUSTOMERS];
    for (int i = 0; i < CUSTOMERS; i++) {
        customer[i] = i + 1;
        orders[i] = (mpx_bytes){&customer[i], sizeof customer[i]};
    }
    mpx_result *r;
    TRY(mpx_pool_map(cooks, make_salad, orders, CUSTOMERS, NULL, &r));
    for (size_t i = 0; i < CUSTOMERS; i++) {
        const void *d;
        size_t len;
        TRY(mpx_result_item(r, i, &d, &len));
        printf("%.*s\n", (int)len, (const char *)d);
    }
    mpx_result_destroy(r);
    TRY(mpx_pool_close(cooks));
    TRY(mpx_pool_join(cooks));
    mpx_pool_destroy(cooks);

    TRY(mpx_queue_put(dirty, CLOSED, strlen(CLOSED), MPX_FOREVER));
    TRY(mpx_process_join(washer, MPX_FOREVER));
    int code = -1;
    mpx_process_exitcode(washer, &code);
    mpx_process_destroy(washer);
    int64_t washed = -1;
    size_t len;
    TRY(mpx_queue_get_into(report, &washed, sizeof washed, &len, MPX_FOREVER));
    printf("%d salads served, %lld bowls washed (washer exitcode %d)\n", CUSTOMERS,
           (long long)washed, code);
    mpx_queue_destroy(clean);
    mpx_queue_destroy(dirty);
    mpx_queue_destroy(report);
    return washed == CUSTOMERS && code == 0 ? 0 : 1;
}
