/*
 * mp_queue_hello.c - exchanging objects between processes through a Queue
 * (EX-06; with a start method argument also EX-04, which uses 'spawn').
 *
 *     from multiprocessing import Process, Queue
 *
 *     def f(q):
 *         q.put([42, None, 'hello'])
 *
 *     if __name__ == '__main__':
 *         q = Queue()
 *         p = Process(target=f, args=(q,))
 *         p.start()
 *         print(q.get())    # prints "[42, None, 'hello']"
 *         p.join()
 *
 *     build/examples/mp_queue_hello [fork|spawn|forkserver]
 */
#include <mpx.h>

#include <stdio.h>

static int f(const mpx_args *args)
{
    mpx_queue *q = mpx_args_object(args, 0);
    mpx_obj *v = mpx_obj_build("[iOs]", 42, mpx_obj_none(), "hello");
    int rc = mpx_queue_put_obj(q, v, MPX_FOREVER);
    mpx_obj_decref(v);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && mpx_set_start_method(argv[1], 1) != 0) {
        fprintf(stderr, "start method %s is not available\n", argv[1]);
        return 2;
    }
    mpx_queue *q;
    mpx_args *args;
    mpx_process *p;
    if (mpx_queue_create(&q, 0, NULL) || mpx_args_create(&args) || mpx_args_add_object(args, q))
        return 1;
    if (mpx_process_create(&p, f, args, NULL) || mpx_process_start(p))
        return 1;
    mpx_args_destroy(args);

    mpx_obj *v;
    int rc = mpx_queue_get_obj(q, &v, 30000);
    if (rc) {
        fprintf(stderr, "get: %s\n", mpx_strerror(rc));
        return 1;
    }
    mpx_obj_print(v); /* prints "[42, None, 'hello']" */
    mpx_obj_decref(v);

    int code = -1;
    mpx_process_join(p, MPX_FOREVER);
    mpx_process_exitcode(p, &code);
    mpx_process_destroy(p);
    mpx_queue_destroy(q);
    return code == 0 ? 0 : 1;
}
