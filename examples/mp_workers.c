/*
 * mp_workers.c - the seed's two-queue worker example (EX-40), in C.
 *
 * Python original (multiprocessing docs, "An example showing how to use
 * queues to feed tasks to a collection of worker processes and collect the
 * results"):
 *
 *     def worker(input, output):
 *         for func, args in iter(input.get, 'STOP'):
 *             result = calculate(func, args)
 *             output.put(result)
 *
 *     def calculate(func, args):
 *         result = func(*args)
 *         return '%s says that %s%s = %s' % \
 *             (current_process().name, func.__name__, args, result)
 *
 *     TASKS1 = [(mul, (i, 7)) for i in range(20)]
 *     TASKS2 = [(plus, (i, 8)) for i in range(10)]
 *
 * 4 workers, 20 mul tasks, their results in whatever order they come, 10
 * plus tasks, their results, then one 'STOP' per worker. Tasks are the same
 * tuples: a function travels by name, as pickle sends it (a reference to
 * __main__.mul), and the worker finds it among the functions registered
 * under that name; results are strings. The Python version sleeps
 * 0.5*random() per task; this one sleeps 0.05*random() so the demo
 * finishes in about a second.
 *
 *     build/examples/mp_workers [fork|spawn|forkserver]
 */
#include <mpx.h>

#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NUMBER_OF_PROCESSES 4

static void nap(void)
{
    struct timespec t = {0, (long)(rand() % 50) * 1000000L}; /* 0.05*random() s */
    nanosleep(&t, NULL);
}

/* Functions referenced by tasks: f(*args) */
static mpx_obj *mul(mpx_obj *args, mpx_obj *kwargs, mpx_obj **error)
{
    (void)kwargs;
    long a, b;
    if (mpx_obj_parse(args, "(ll)", &a, &b))
        return mpx_task_raise(error, "TypeError", "mul() takes 2 int arguments");
    nap();
    return mpx_obj_int(a * b);
}

static mpx_obj *plus(mpx_obj *args, mpx_obj *kwargs, mpx_obj **error)
{
    (void)kwargs;
    long a, b;
    if (mpx_obj_parse(args, "(ll)", &a, &b))
        return mpx_task_raise(error, "TypeError", "plus() takes 2 int arguments");
    nap();
    return mpx_obj_int(a + b);
}

/* Known by name in every process, as Python finds __main__.mul */
MPX_REGISTER_FUNCTION(mul);
MPX_REGISTER_FUNCTION(plus);

/* calculate(func, args): run the task and describe it. */
static mpx_obj *calculate(mpx_obj *func, mpx_obj *args)
{
    const char *name = "?";
    mpx_fn fn;
    mpx_obj *error = NULL, *result = NULL;
    if (mpx_obj_class_name(func, NULL, &name) == 0 && mpx_lookup_function(name, &fn) == 0)
        result = ((mpx_obj_star_fn)fn)(args, NULL, &error);
    char *a = mpx_obj_repr(args), *r = mpx_obj_text(result ? result : error);
    mpx_obj *s = mpx_obj_str_printf("%s says that %s%s = %s", mpx_process_name(mpx_current_process()),
                                    name, a ? a : "?", r ? r : "?");
    mpx_free(a);
    mpx_free(r);
    mpx_obj_decref(result);
    mpx_obj_decref(error);
    return s;
}

/* worker(input, output): for func, args in iter(input.get, 'STOP') ... */
static int worker(const mpx_args *a)
{
    mpx_queue *input = mpx_args_object(a, 0);
    mpx_queue *output = mpx_args_object(a, 1);
    srand((unsigned)getpid());
    for (;;) {
        mpx_obj *task, *func, *args;
        int rc = mpx_queue_get_obj(input, &task, MPX_FOREVER);
        if (rc) {
            fprintf(stderr, "worker: get: %s\n", mpx_strerror(rc));
            return 1;
        }
        const char *s = mpx_obj_str_value(task);
        if (s && strcmp(s, "STOP") == 0) {
            mpx_obj_decref(task);
            return 0;
        }
        if (mpx_obj_parse(task, "(OO)", &func, &args) != 0) {
            fprintf(stderr, "worker: a task is (func, args)\n");
            return 1;
        }
        mpx_obj *result = calculate(func, args);
        rc = result ? mpx_queue_put_obj(output, result, MPX_FOREVER) : -ENOMEM;
        mpx_obj_decref(result);
        mpx_obj_decref(task);
        if (rc) {
            fprintf(stderr, "worker: put: %s\n", mpx_strerror(rc));
            return 1;
        }
    }
}

/* task_queue.put((func, (a, b))) */
static int put_task(mpx_queue *q, const char *func, long a, long b)
{
    mpx_obj *t = mpx_obj_build("(N(ll))", mpx_obj_class("__main__", func), a, b);
    int rc = t ? mpx_queue_put_obj(q, t, MPX_FOREVER) : -ENOMEM;
    mpx_obj_decref(t);
    return rc;
}

/* print('\t', done_queue.get()) */
static int print_result(mpx_queue *q)
{
    mpx_obj *r;
    int rc = mpx_queue_get_obj(q, &r, 30000);
    if (rc) {
        fprintf(stderr, "get result: %s\n", mpx_strerror(rc));
        return rc;
    }
    printf("\t%s\n", mpx_obj_str_value(r));
    mpx_obj_decref(r);
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
    mpx_obj *stop = mpx_obj_str("STOP");
    for (int i = 0; i < NUMBER_OF_PROCESSES; i++)
        if (mpx_queue_put_obj(task_queue, stop, MPX_FOREVER))
            return 1;
    mpx_obj_decref(stop);

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
