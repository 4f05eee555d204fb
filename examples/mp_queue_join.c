/*
 * mp_queue_join.c - "Joining processes that use queues" (GUIDE-07, EX-33).
 *
 * Python's documentation warns that this deadlocks:
 *
 *     def f(q):
 *         q.put('X' * 1000000)
 *
 *     if __name__ == '__main__':
 *         queue = Queue()
 *         p = Process(target=f, args=(queue,))
 *         p.start()
 *         p.join()                    # this deadlocks
 *         obj = queue.get()
 *
 * because the child's feeder thread cannot finish writing 1 MB into a
 * 64 KiB pipe until the parent reads, and the child waits for its feeder
 * before exiting. mpx has no feeder thread: the child's put copies the
 * message into the queue's shared memory (its ring, or the overflow store
 * when the ring is full: any size) and returns, so the child exits and the
 * join returns. The fix Python recommends (get before join) also works;
 * both orders are shown.
 *
 *     build/examples/mp_queue_join [fork|spawn|forkserver]
 */
#include <mpx.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE 1000000

static int f(const mpx_args *args)
{
    mpx_queue *q = mpx_args_object(args, 0);
    char *x = malloc(SIZE);
    if (!x)
        return 1;
    memset(x, 'X', SIZE);
    int rc = mpx_queue_put(q, x, SIZE, MPX_FOREVER);
    free(x);
    return rc ? 1 : 0;
}

static int run(mpx_queue *q, int join_first)
{
    mpx_args *args;
    mpx_process *p;
    if (mpx_args_create(&args) || mpx_args_add_object(args, q))
        return 1;
    if (mpx_process_create(&p, f, args, NULL) || mpx_process_start(p))
        return 1;
    mpx_args_destroy(args);
    void *obj = NULL;
    size_t n = 0;
    int rc = 0;
    if (join_first) {
        rc = mpx_process_join(p, 30000); /* Python deadlocks here */
        rc = rc == 1 ? 0 : rc == 0 ? MPX_ETIMEDOUT : rc; /* 1: it ended */
        if (rc == 0)
            rc = mpx_queue_get(q, &obj, &n, 30000);
    } else {
        rc = mpx_queue_get(q, &obj, &n, 30000);
        if (rc == 0)
            rc = mpx_process_join(p, 30000);
        rc = rc == 1 ? 0 : rc == 0 ? MPX_ETIMEDOUT : rc;
    }
    int code = -1;
    mpx_process_exitcode(p, &code);
    mpx_process_destroy(p);
    if (rc || code != 0 || n != SIZE || ((char *)obj)[0] != 'X' || ((char *)obj)[SIZE - 1] != 'X') {
        fprintf(stderr, "failed: %s (exit code %d, %zu bytes)\n", mpx_strerror(rc), code, n);
        mpx_free(obj);
        return 1;
    }
    printf("%s: got %zu bytes of 'X'\n", join_first ? "join, then get" : "get, then join", n);
    mpx_free(obj);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && mpx_set_start_method(argv[1], 1) != 0) {
        fprintf(stderr, "start method %s is not available\n", argv[1]);
        return 2;
    }
    mpx_queue *q;
    if (mpx_queue_create(&q, 0, NULL))
        return 1;
    int rc = run(q, 1) || run(q, 0);
    mpx_queue_destroy(q);
    return rc;
}
