/*
 * ex07_pipe.c - EX-07: exchanging objects between processes with a Pipe.
 *
 * Python:
 *     def f(conn):
 *         conn.send([42, None, 'hello'])
 *         conn.close()
 *     parent_conn, child_conn = Pipe()
 *     p = Process(target=f, args=(child_conn,)); p.start()
 *     print(parent_conn.recv())   # prints "[42, None, 'hello']"
 *     p.join()
 *
 * C has no pickle: the child sends the text of the list as bytes.
 */
#include <mpx.h>

#include <stdio.h>
#include <string.h>

static int f(const mpx_args *a)
{
    mpx_connection *conn = mpx_args_object(a, 0);
    const char *msg = "[42, None, 'hello']";
    int rc = mpx_connection_send_bytes(conn, msg, strlen(msg));
    mpx_connection_close(conn);
    return rc;
}

int main(void)
{
    mpx_connection *parent_conn, *child_conn;
    mpx_args *args;
    mpx_process *p;
    void *msg;
    size_t len;
    int rc;

    if ((rc = mpx_pipe(&parent_conn, &child_conn, 1)) != 0 || (rc = mpx_args_create(&args)) != 0 ||
        (rc = mpx_args_add_object(args, child_conn)) != 0 ||
        (rc = mpx_process_create(&p, f, args, NULL)) != 0 || (rc = mpx_process_start(p)) != 0) {
        fprintf(stderr, "ex07: %s\n", mpx_strerror(rc));
        return 1;
    }
    mpx_args_destroy(args);
    mpx_connection_close(child_conn); /* the child owns its end now */
    rc = mpx_connection_recv_bytes(parent_conn, &msg, &len);
    if (rc != 0) {
        fprintf(stderr, "ex07: recv: %s\n", mpx_strerror(rc));
        return 1;
    }
    printf("%.*s\n", (int)len, (const char *)msg);
    mpx_free(msg);
    mpx_process_join(p, MPX_FOREVER);
    mpx_process_destroy(p);
    mpx_connection_destroy(parent_conn);
    mpx_connection_destroy(child_conn);
    return 0;
}
