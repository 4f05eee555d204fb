/*
 * ex07_pipe.c - EX-07: exchanging objects between processes with a Pipe.
 *
 * Python:
 *     from multiprocessing import Process, Pipe
 *
 *     def f(conn):
 *         conn.send([42, None, 'hello'])
 *         conn.close()
 *
 *     if __name__ == '__main__':
 *         parent_conn, child_conn = Pipe()
 *         p = Process(target=f, args=(child_conn,))
 *         p.start()
 *         print(parent_conn.recv())   # prints "[42, None, 'hello']"
 *         p.join()
 *
 * The list travels as its pickle, the bytes CPython's conn.send writes.
 */
#include <mpx.h>

#include <stdio.h>

static int f(const mpx_args *a)
{
    mpx_connection *conn = mpx_args_object(a, 0);
    mpx_obj *v = mpx_obj_build("[iOs]", 42, mpx_obj_none(), "hello");
    int rc = mpx_connection_send_obj(conn, v);
    mpx_obj_decref(v);
    mpx_connection_close(conn);
    return rc ? 1 : 0;
}

int main(void)
{
    mpx_connection *parent_conn, *child_conn;
    mpx_args *args;
    mpx_process *p;
    mpx_obj *v;
    int rc;

    if ((rc = mpx_pipe(&parent_conn, &child_conn, 1)) != 0 || (rc = mpx_args_create(&args)) != 0 ||
        (rc = mpx_args_add_object(args, child_conn)) != 0 ||
        (rc = mpx_process_create(&p, f, args, NULL)) != 0 || (rc = mpx_process_start(p)) != 0) {
        fprintf(stderr, "ex07: %s\n", mpx_strerror(rc));
        return 1;
    }
    mpx_args_destroy(args);
    mpx_connection_close(child_conn); /* the child owns its end now */
    if ((rc = mpx_connection_recv_obj(parent_conn, &v, NULL, NULL)) != 0) {
        fprintf(stderr, "ex07: recv: %s\n", mpx_strerror(rc));
        return 1;
    }
    mpx_obj_print(v); /* [42, None, 'hello'] */
    mpx_obj_decref(v);
    mpx_process_join(p, MPX_FOREVER);
    mpx_process_destroy(p);
    mpx_connection_destroy(parent_conn);
    mpx_connection_destroy(child_conn);
    return 0;
}
