/*
 * mp_workers.c - the seed's two-queue worker example (EX-40), in C.
 *
 * Python original (multiprocessing docs, "An example showing how to use
 * queues to feed tasks to a collection of worker processes and collect the
 * results"): 4 workers read (func, args) tasks from task_queue until 'STOP'
 * and put "<name> says that mul(3, 7) = 21" on done_queue; the parent
 * submits 20 mul tasks, prints the results in whatever order they come,
 * submits 10 plus tasks, prints those, then sends one STOP per worker.
 *
 * Tasks travel as small text messages "mul 3 7"; results as text. The
 * Python version sleeps 0.5*random() per task; this one sleeps
 * 0.05*random() so the demo finishes in about a second.
 *
 *     build/examples/mp_workers [fork|spawn|forkserver]
 */
#include <mpx.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NUMBER_OF_PROCESSES 4

static long mul(long a, long b)
{
    return a * b;
}

static long plus(long a, long b)
{
    return a + b;
}

static void nap(void)
{
    struct timespec t = {0, (long)(rand() % 50) * 1000000L}; /* 0.05*random() s */
    nanosleep(&t, NULL);
}

/* calculate(func, args): run the task and describe it. */
static void calculate(const char *task, char *out, size_t cap)
{
    char func[16];
    long a, b;
    if (sscanf(task, "%15s %ld %ld", func, &a, &b) != 3) {
        snprintf(out, cap, "%s: bad task '%s'", mpx_process_name(mpx_current_process()), task);
        return;
    }
    nap();
    long r = strcmp(func, "mul") == 0 ? mul(a, b) : plus(a, b);
    snprintf(out, cap, "%s says that %s(%ld, %ld) = %ld", mpx_process_name(mpx_current_process()),
             func, a, b, r);
}

/* worker(input, output): for task in iter(input.get, 'STOP') ... */
static int worker(const mpx_args *args)
{
    mpx_queue *input = mpx_args_object(args, 0);
    mpx_queue *output = mpx_args_object(args, 1);
    srand((unsigned)getpid());
    char task[64], result[160];
    for (;;) {
        size_t n;
        int rc = mpx_queue_get_into(input, task, sizeof task - 1, &n, MPX_FOREVER);
        if (rc) {
            fprintf(stderr, "worker: get: %s\n", mpx_strerror(rc));
            return 1;
        }
        task[n] = 0;
        if (strcmp(task, "STOP") == 0)
            return 0;
        calculate(task, result, sizeof result);
        rc = mpx_queue_put(output, result, strlen(result), MPX_FOREVER);
        if (rc) {
            fprintf(stderr, "worker: put: %s\n", mpx_strerror(rc));
            return 1;
        }
    }
}

static int put_task(mpx_queue *q, const char *func, long a, long b)
{
    char t[64];
    int n = snprintf(t, sizeof t, "%s %ld %ld", func, a, b);
    return mpx_queue_put(q, t, (size_t)n, MPX_FOREVER);
}

static int print_result(mpx_queue *q)
{
    char r[200];
    size_t n;
    int rc = mpx_queue_get_into(q, r, sizeof r - 1, &n, 30000);
    if (rc) {
        fprintf(stderr, "get result: %s\n", mpx_strerror(rc));
        return rc;
    }
    r[n] = 0;
    printf("\t%s\n", r);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && mpx_set_start_method(argv[1], 1) != 0) {
        fprintf(stderr, "start method %s is not available\n", argv[1]);
        return 2;
    }
    mpx_queue *task_queue, *done_queue;
    if (mpx_queue_create(&task_queue, 0, NULL) || mpx_queue_create(&done_queue, 0, NULL))
        return 1;

    /* Submit tasks: TASKS1 = [(mul, (i, 7)) for i in range(20)] */
    for (long i = 0; i < 20; i++)
        if (put_task(task_queue, "mul", i, 7))
            return 1;

    /* Start worker processes */
    mpx_process *workers[NUMBER_OF_PROCESSES];
    mpx_args *args;
    if (mpx_args_create(&args) || mpx_args_add_object(args, task_queue) ||
        mpx_args_add_object(args, done_queue))
        return 1;
    for (int i = 0; i < NUMBER_OF_PROCESSES; i++) {
        if (mpx_process_create(&workers[i], worker, args, NULL) || mpx_process_start(workers[i])) {
            fprintf(stderr, "cannot start a worker\n");
            return 1;
        }
    }
    mpx_args_destroy(args);

    /* Get and print results */
    printf("Unordered results:\n");
    for (int i = 0; i < 20; i++)
        if (print_result(done_queue))
            return 1;

    /* Add more tasks using put(): TASKS2 = [(plus, (i, 8)) for i in range(10)] */
    for (long i = 0; i < 10; i++)
        if (put_task(task_queue, "plus", i, 8))
            return 1;

    /* Get and print some more results */
    for (int i = 0; i < 10; i++)
        if (print_result(done_queue))
            return 1;

    /* Tell child processes to stop */
    for (int i = 0; i < NUMBER_OF_PROCESSES; i++)
        if (mpx_queue_put(task_queue, "STOP", 4, MPX_FOREVER))
            return 1;

    int status = 0;
    for (int i = 0; i < NUMBER_OF_PROCESSES; i++) {
        int code = -1;
        mpx_process_join(workers[i], MPX_FOREVER);
        if (mpx_process_exitcode(workers[i], &code) != 1 || code != 0)
            status = 1;
        mpx_process_destroy(workers[i]);
    }
    mpx_queue_destroy(task_queue);
    mpx_queue_destroy(done_queue);
    return status;
}
