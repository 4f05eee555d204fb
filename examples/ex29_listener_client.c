/*
 * ex29_listener_client.c - EX-29 and EX-30: a Listener server with the
 * authkey 'secret password' and the Client that talks to it, in one
 * program. The server runs in a child process on 127.0.0.1, port 0 (a
 * free port), and tells the parent its address over a simplex pipe.
 *
 * Server (EX-29):
 *     listener = Listener(address, authkey=b'secret password')
 *     conn = listener.accept()
 *     print('connection accepted from', listener.last_accepted)
 *     conn.send([2.25, None, 'junk', float])
 *     conn.send_bytes(b'hello')
 *     conn.send_bytes(array('i', [42, 1729]))
 * Client (EX-30):
 *     conn = Client(address, authkey=b'secret password')
 *     print(conn.recv())                 # => [2.25, None, 'junk', float]
 *     print(conn.recv_bytes())           # => 'hello'
 *     arr = array('i', [0, 0, 0, 0, 0])
 *     print(conn.recv_bytes_into(arr))   # => 8
 *     print(arr)                         # => array('i', [42, 1729, 0, 0, 0])
 * Python 3 prints the first two as [2.25, None, 'junk', <class 'float'>]
 * and b'hello', and so does this program: the list travels as its pickle
 * (float as a reference to the class builtins.float), as CPython sends it.
 */
#include <mpx.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char KEY[] = "secret password";

static int server(const mpx_args *a)
{
    mpx_connection *tell = mpx_args_object(a, 0);
    mpx_listener_opts o = {0};
    o.authkey = KEY;
    o.authkey_len = strlen(KEY);
    mpx_listener *listener;
    int rc = mpx_listener_create(&listener, "127.0.0.1:0", &o);
    if (rc)
        return rc;
    const char *addr = mpx_listener_address(listener);
    rc = mpx_connection_send_bytes(tell, addr, strlen(addr));
    mpx_connection_close(tell);
    mpx_connection *conn = NULL;
    if (!rc)
        rc = mpx_listener_accept(listener, &conn, 30000);
    if (!rc) {
        printf("connection accepted from %s\n", mpx_listener_last_accepted(listener));
        fflush(stdout);
        /* float is a class: it travels as a reference to builtins.float */
        mpx_obj *obj = mpx_obj_build("[dOsN]", 2.25, mpx_obj_none(), "junk",
                                     mpx_obj_class("builtins", "float"));
        int arr[2] = {42, 1729};
        rc = obj ? mpx_connection_send_obj(conn, obj) : -ENOMEM;
        mpx_obj_decref(obj);
        if (!rc)
            rc = mpx_connection_send_bytes(conn, "hello", 5);
        if (!rc)
            rc = mpx_connection_send_bytes(conn, arr, sizeof arr);
        mpx_connection_destroy(conn);
    }
    mpx_listener_destroy(listener);
    return rc;
}

static int client(const char *address)
{
    mpx_client_opts o = {0};
    o.authkey = KEY;
    o.authkey_len = strlen(KEY);
    o.timeout = 30000;
    mpx_connection *conn;
    void *msg;
    size_t len, count;
    mpx_obj *obj;
    int rc = mpx_client_connect(&conn, address, &o);
    if (rc)
        return rc;
    if ((rc = mpx_connection_recv_obj(conn, &obj, NULL, NULL)) == 0) {
        mpx_obj_print(obj); /* [2.25, None, 'junk', <class 'float'>] */
        mpx_obj_decref(obj);
    }
    if (!rc && (rc = mpx_connection_recv_bytes(conn, &msg, &len)) == 0) {
        obj = mpx_obj_bytes_take(msg, len);
        mpx_obj_print(obj); /* b'hello' */
        mpx_obj_decref(obj);
    }
    int arr[5] = {0, 0, 0, 0, 0};
    if (!rc && (rc = mpx_connection_recv_bytes_into(conn, arr, sizeof arr, 0, &count)) == 0) {
        printf("%zu\n", count);
        printf("array('i', [%d, %d, %d, %d, %d])\n", arr[0], arr[1], arr[2], arr[3], arr[4]);
    }
    mpx_connection_destroy(conn);
    return rc;
}

int main(void)
{
    mpx_connection *r, *w;
    mpx_args *args;
    mpx_process *p;
    void *addr;
    size_t len;
    int rc;
    if ((rc = mpx_pipe(&r, &w, 0)) != 0 || (rc = mpx_args_create(&args)) != 0 ||
        (rc = mpx_args_add_object(args, w)) != 0 ||
        (rc = mpx_process_create(&p, server, args, NULL)) != 0 ||
        (rc = mpx_process_start(p)) != 0) {
        fprintf(stderr, "ex29: %s\n", mpx_strerror(rc));
        return 1;
    }
    mpx_args_destroy(args);
    mpx_connection_close(w);
    if ((rc = mpx_connection_recv_bytes(r, &addr, &len)) != 0) {
        fprintf(stderr, "ex29: no address from the server: %s\n", mpx_strerror(rc));
        return 1;
    }
    char address[256];
    snprintf(address, sizeof address, "%.*s", (int)len, (const char *)addr);
    mpx_free(addr);
    rc = client(address);
    if (rc)
        fprintf(stderr, "ex30: client: %s\n", mpx_strerror(rc));
    int code = -1;
    mpx_process_join(p, MPX_FOREVER);
    mpx_process_exitcode(p, &code);
    mpx_process_destroy(p);
    mpx_connection_destroy(r);
    mpx_connection_destroy(w);
    return rc || code ? 1 : 0;
}
