/*
 * concurrent_burgers.c - "Concurrent Burgers" (EX-47), from the seeds'
 * blog post on concurrency and parallelism: one worker switches between
 * taking orders, grilling patties and making burgers. In Python each of
 * the three tasks is an endless loop run in a thread of its own
 * (ThreadPoolExecutor), and queues hand the state from one to the next
 * so that no two threads grab the same patty. The work is I/O bound: the
 * grill (a sleep here) is what takes time, and the threads overlap their
 * waits in one process.
 *
 * In mpx the three tasks are Processes of the "thread" context
 * (multiprocessing.dummy.Process: threads of this program,
 * docs/thread-backend.md) and the queues are made with that context. The
 * tasks stop at a "closed" sign instead of looping forever, so the demo
 * ends.
 *
 *     build/examples/concurrent_burgers
 */
#include <mpx.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ORDERS 6
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

static void get_text(mpx_queue *q, char *buf, size_t cap)
{
    size_t len = 0;
    TRY(mpx_queue_get_into(q, buf, cap - 1, &len, MPX_FOREVER));
    buf[len] = 0;
}

static void put_text(mpx_queue *q, const char *s)
{
    TRY(mpx_queue_put(q, s, strlen(s), MPX_FOREVER));
}

/* take_orders(inbox, orders, raw_patties): each order goes to the
 * burger maker, and a patty goes on the grill for it. */
static int take_orders(const mpx_args *a)
{
    mpx_queue *inbox = mpx_args_object(a, 0), *orders = mpx_args_object(a, 1),
              *raw = mpx_args_object(a, 2);
    char order[64];
    for (;;) {
        get_text(inbox, order, sizeof order);
        if (!strcmp(order, CLOSED)) {
            put_text(orders, CLOSED);
            put_text(raw, CLOSED);
            return 0;
        }
        put_text(orders, order);
        put_text(raw, order + strlen("order "));
    }
}

/* cook_patty(raw_patties, cooked_patties): the grill is the slow part
 * (I/O bound: the thread waits and the others go on). */
static int cook_patty(const mpx_args *a)
{
    mpx_queue *raw = mpx_args_object(a, 0), *cooked = mpx_args_object(a, 1);
    char patty[64], done[96];
    for (;;) {
        get_text(raw, patty, sizeof patty);
        if (!strcmp(patty, CLOSED)) {
            put_text(cooked, CLOSED);
            return 0;
        }
        struct timespec t = {0, 30 * 1000000L};
        nanosleep(&t, NULL);
        snprintf(done, sizeof done, "patty #%s", patty);
        put_text(cooked, done);
    }
}

/* make_burger(orders, cooked_patties, outbox) */
static int make_burger(const mpx_args *a)
{
    mpx_queue *orders = mpx_args_object(a, 0), *cooked = mpx_args_object(a, 1),
              *outbox = mpx_args_object(a, 2);
    char order[64], patty[96], burger[200];
    for (;;) {
        get_text(orders, order, sizeof order);
        get_text(cooked, patty, sizeof patty);
        if (!strcmp(order, CLOSED)) {
            put_text(outbox, CLOSED);
            return 0;
        }
        snprintf(burger, sizeof burger, "burger for %s with %s (made by %s)", order, patty,
                 mpx_process_name(mpx_current_process()));
        put_text(outbox, burger);
    }
}

static mpx_process *run_task(mpx_context *threads, mpx_target_fn fn, const char *name,
                             void *q1, void *q2, void *q3)
{
    mpx_args *a;
    TRY(mpx_args_create(&a));
    TRY(mpx_args_add_object(a, q1));
    TRY(mpx_args_add_object(a, q2));
    if (q3)
        TRY(mpx_args_add_object(a, q3));
    mpx_process_opts o = {.ctx = threads, .name = name};
    mpx_process *p;
    TRY(mpx_process_create(&p, fn, a, &o));
    mpx_args_destroy(a);
    TRY(mpx_process_start(p));
    return p;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    mpx_context *threads;
    TRY(mpx_get_context(&threads, "thread")); /* multiprocessing.dummy */
    mpx_queue_opts qo = {.ctx = threads};
    mpx_queue *inbox, *orders, *raw, *cooked, *outbox;
    TRY(mpx_queue_create(&inbox, 0, &qo));
    TRY(mpx_queue_create(&orders, 0, &qo));
    TRY(mpx_queue_create(&raw, 0, &qo));
    TRY(mpx_queue_create(&cooked, 0, &qo));
    TRY(mpx_queue_create(&outbox, 0, &qo));

    /* run_concurrent_burger: one thread per task */
    mpx_process *tasks[3] = {
        run_task(threads, take_orders, "take_orders", inbox, orders, raw),
        run_task(threads, cook_patty, "cook_patty", raw, cooked, NULL),
        run_task(threads, make_burger, "make_burger", orders, cooked, outbox),
    };
    for (int i = 1; i <= ORDERS; i++) {
        char order[32];
        snprintf(order, sizeof order, "order %d", i);
        put_text(inbox, order);
    }
    put_text(inbox, CLOSED);

    char burger[200];
    int served = 0;
    for (;;) {
        get_text(outbox, burger, sizeof burger);
        if (!strcmp(burger, CLOSED))
            break;
        printf("%s\n", burger);
        served++;
    }
    int same_process = 1;
    for (int i = 0; i < 3; i++) {
        TRY(mpx_process_join(tasks[i], MPX_FOREVER));
        int code = -1;
        mpx_process_exitcode(tasks[i], &code);
        same_process &= mpx_process_pid(tasks[i]) == getpid();
        char *d = mpx_process_describe(tasks[i]);
        printf("%s exitcode %d\n", d ? d : "?", code);
        mpx_free(d);
        mpx_process_destroy(tasks[i]);
    }
    printf("%d burgers served by %s (3 threads of one process)\n", served,
           same_process ? "one worker" : "several processes?");
    mpx_queue_destroy(inbox);
    mpx_queue_destroy(orders);
    mpx_queue_destroy(raw);
    mpx_queue_destroy(cooked);
    mpx_queue_destroy(outbox);
    return served == ORDERS && same_process ? 0 : 1;
}
