/* test_manager_life.c - managers: object lifetime and robustness (#16,
 * MGR-02, MGR-04, MGR-07, MGR-08, PROXY-03, PROXY-09): references per
 * process released when a client is killed in the middle of a call, a
 * killed server gives clear errors (never a hang), malformed and
 * unauthenticated requests leave the server serving, many clients at once
 * over AF_UNIX and TCP, proxies passed to children by fork, as arguments
 * and through connections, connect() from a child, a manager whose parent
 * dies ends too, misuse errors. */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static mpx_process *start_with(mpx_target_fn fn, void *o1, void *o2)
{
    mpx_args *args;
    mpx_process *p;
    CHECK_OK(mpx_args_create(&args));
    if (o1)
        CHECK_OK(mpx_args_add_object(args, o1));
    if (o2)
        CHECK_OK(mpx_args_add_object(args, o2));
    CHECK_OK(mpx_process_create(&p, fn, args, NULL));
    mpx_args_destroy(args);
    CHECK_OK(mpx_process_start(p));
    return p;
}

static int end_code(mpx_process *p)
{
    mpx_process_join(p, MPX_FOREVER);
    int code = -1;
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    mpx_process_destroy(p);
    return code;
}

/* The refcount the server reports for ident (debug_info), -1 when absent. */
static long refcount_of(mpx_manager *m, const char *ident)
{
    char *info;
    CHECK_OK(mpx_manager_debug_info(m, &info));
    char pat[64];
    snprintf(pat, sizeof pat, "  %s:", ident);
    const char *at = strstr(info, pat);
    long n = -1;
    if (at) {
        const char *rc = strstr(at, "refcount=");
        if (rc)
            n = strtol(rc + 9, NULL, 10);
    }
    mpx_free(info);
    return n;
}

static void wait_refcount(mpx_manager *m, const char *ident, long want)
{
    int64_t end = mpx_test_now_ms() + 20000;
    long n;
    while ((n = refcount_of(m, ident)) != want) {
        if (mpx_test_now_ms() > end)
            FAIL("refcount of %s is %ld, want %ld", ident, n, want);
        usleep(20000);
    }
}

/* ---- a client killed in the middle of a call ------------------------------------------ */

static int blocked_getter(const mpx_args *a)
{
    mpx_proxy *q = mpx_args_object(a, 0);
    mpx_obj *v = mpx_proxy_to_obj(q);
    mpx_proxy *c1, *c2; /* two more references, held by this process */
    if (mpx_proxy_from_obj(&c1, v, NULL, 0) || mpx_proxy_from_obj(&c2, v, NULL, 0))
        return 1;
    mpx_obj_decref(v);
    mpx_obj *got;
    mpx_proxy_queue_get(q, &got, MPX_FOREVER); /* killed in here */
    return 2;
}

MPX_TEST_T(mgr_client_killed_mid_call_releases_refs, 60)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *q;
    CHECK_OK(mpx_manager_queue(m, 0, &q));
    const char *id = mpx_proxy_ident(q);
    CHECK_EQ(refcount_of(m, id), 1);
    mpx_process *p = start_with(blocked_getter, q, NULL);
    wait_refcount(m, id, 4); /* ours, the child's argument, its two copies */
    usleep(50000);           /* (let it reach its get; not needed for the check) */
    CHECK_OK(mpx_process_kill(p));
    CHECK_EQ(end_code(p), -SIGKILL);
    wait_refcount(m, id, 1); /* the child's references went with it */
    /* the server serves on, and the killed getter took nothing */
    mpx_obj *v = mpx_obj_str("x"), *got;
    CHECK_OK(mpx_proxy_queue_put(q, v, MPX_FOREVER));
    CHECK_OK(mpx_proxy_queue_get(q, &got, 5000));
    CHECK_EQ(mpx_obj_equal(v, got), 1);
    mpx_obj_decref(v);
    mpx_obj_decref(got);
    mpx_proxy_destroy(q);
    CHECK_EQ(mpx_manager_number_of_objects(m), 0);
    mpx_manager_destroy(m);
}

/* ---- a killed server -------------------------------------------------------------------- */

static void *blocked_get(void *arg)
{
    mpx_obj *v = NULL;
    intptr_t rc = mpx_proxy_queue_get(arg, &v, MPX_FOREVER);
    mpx_obj_decref(v);
    return (void *)rc;
}

/* (MPX_EAUTH: on TCP loopback, a connect to a free port of the ephemeral
 * range can connect the socket to itself, or to another program that took
 * the port meanwhile.) */
static bool connection_error(int rc)
{
    return rc == MPX_EEOF || rc == MPX_EAUTH || rc == -ECONNREFUSED || rc == -ENOENT || rc == -ECONNRESET ||
           rc == -EPIPE || rc == MPX_EPROTO;
}

MPX_TEST_T(mgr_server_killed_gives_errors, 60)
{
    mpx_manager *m;
    mpx_manager_opts o = {0};
    o.address = "127.0.0.1:0"; /* (a killed server cannot remove a socket file) */
    CHECK_OK(mpx_manager_new(&m, &o));
    mpx_proxy *q, *d;
    CHECK_OK(mpx_manager_queue(m, 0, &q));
    CHECK_OK(mpx_manager_dict(m, NULL, &d));
    CHECK_EQ(mpx_proxy_len(d), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, blocked_get, q), 0);
    usleep(100000);
    pid_t spid = mpx_manager_pid(m);
    CHECK(spid > 0);
    CHECK_EQ(kill(spid, SIGKILL), 0);
    void *res;
    pthread_join(th, &res);
    int rc = (int)(intptr_t)res;
    if (!connection_error(rc))
        FAIL("blocked get returned %s", mpx_err_name(rc));
    int64_t n = mpx_proxy_len(d);
    if (!connection_error((int)n))
        FAIL("len after the server died: %lld", (long long)n);
    n = mpx_proxy_len(d); /* and again: reconnecting fails too */
    if (!connection_error((int)n))
        FAIL("second len after the server died: %lld", (long long)n);
    mpx_proxy_destroy(q);
    mpx_proxy_destroy(d);
    CHECK_EQ(mpx_manager_join(m, 10000), 1);
    mpx_manager_destroy(m);
}

/* ---- malformed and unauthenticated requests --------------------------------------------------- */

/* One raw request on a fresh authenticated connection; the reply's kind. */
static void raw_request(mpx_manager *m, const void *buf, size_t len, const char *want_kind,
                        const char *want_text)
{
    unsigned char key[64];
    int kl = mpx_process_authkey(mpx_current_process(), key, sizeof key);
    mpx_client_opts o = {0};
    o.authkey = key;
    o.authkey_len = (size_t)kl;
    mpx_connection *c;
    CHECK_OK(mpx_client_connect(&c, mpx_manager_address(m), &o));
    CHECK_OK(mpx_connection_send_bytes(c, buf, len));
    mpx_obj *r;
    int rc = mpx_connection_recv_obj(c, &r, NULL, NULL);
    if (!want_kind) {
        CHECK(rc == MPX_EEOF || rc == -ECONNRESET);
    } else {
        CHECK_OK(rc);
        CHECK_STREQ(mpx_obj_str_value(mpx_obj_item(r, 0)), want_kind);
        const char *t = mpx_obj_str_value(mpx_obj_item(r, 1));
        if (want_text && (!t || !strstr(t, want_text)))
            FAIL("reply text %s lacks %s", t ? t : "(none)", want_text);
        mpx_obj_decref(r);
    }
    mpx_connection_destroy(c);
}

static void obj_request(mpx_manager *m, mpx_obj *req, const char *kind, const char *text)
{
    void *buf;
    size_t len;
    CHECK_OK(mpx_obj_dumps(req, 4, &buf, &len, NULL, NULL));
    raw_request(m, buf, len, kind, text);
    mpx_free(buf);
    mpx_obj_decref(req);
}

MPX_TEST_T(mgr_malformed_requests_server_keeps_serving, 60)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *d;
    CHECK_OK(mpx_manager_dict(m, NULL, &d));
    raw_request(m, "garbage", 7, "#TRACEBACK", "UnpicklingError");
    raw_request(m, "", 0, "#TRACEBACK", "Ran out of input");
    obj_request(m, mpx_obj_build("(ii)", 1, 2), "#TRACEBACK", "ValueError");
    obj_request(m, mpx_obj_build("(Os(){})", mpx_obj_none(), "nosuch"), "#TRACEBACK",
                "unrecognized");
    obj_request(m, mpx_obj_build("(Os(s){})", mpx_obj_none(), "incref", "ffff"), "#TRACEBACK",
                "KeyError");
    obj_request(m, mpx_obj_build("(Os(s){})", mpx_obj_none(), "create", "nosuchtype"),
                "#TRACEBACK", "KeyError");
    obj_request(m, mpx_obj_build("(Os(){})", mpx_obj_none(), "create"), "#TRACEBACK",
                "TypeError");
    /* on a method-call channel: unknown ident, unknown and unexposed methods */
    unsigned char key[64];
    int kl = mpx_process_authkey(mpx_current_process(), key, sizeof key);
    mpx_client_opts o = {0};
    o.authkey = key;
    o.authkey_len = (size_t)kl;
    mpx_connection *c;
    CHECK_OK(mpx_client_connect(&c, mpx_manager_address(m), &o));
    mpx_obj *req = mpx_obj_build("(Os(s){})", mpx_obj_none(), "accept_connection", "Raw"), *r;
    CHECK_OK(mpx_connection_send_obj(c, req));
    mpx_obj_decref(req);
    CHECK_OK(mpx_connection_recv_obj(c, &r, NULL, NULL));
    mpx_obj_decref(r);
    req = mpx_obj_build("(ss(){})", "123abc", "__len__"); /* unknown ident */
    CHECK_OK(mpx_connection_send_obj(c, req));
    mpx_obj_decref(req);
    CHECK_OK(mpx_connection_recv_obj(c, &r, NULL, NULL));
    CHECK_STREQ(mpx_obj_str_value(mpx_obj_item(r, 0)), "#TRACEBACK");
    CHECK(strstr(mpx_obj_str_value(mpx_obj_item(r, 1)), "KeyError"));
    mpx_obj_decref(r);
    req = mpx_obj_build("(ss(){})", mpx_proxy_ident(d), "no_such_method");
    CHECK_OK(mpx_connection_send_obj(c, req));
    mpx_obj_decref(req);
    CHECK_OK(mpx_connection_recv_obj(c, &r, NULL, NULL));
    CHECK(strstr(mpx_obj_str_value(mpx_obj_item(r, 1)), "not in exposed"));
    mpx_obj_decref(r);
    CHECK_OK(mpx_connection_send_bytes(c, "\x80\x04junk", 6)); /* a bad pickle: reply, go on */
    CHECK_OK(mpx_connection_recv_obj(c, &r, NULL, NULL));
    CHECK_STREQ(mpx_obj_str_value(mpx_obj_item(r, 0)), "#TRACEBACK");
    mpx_obj_decref(r);
    req = mpx_obj_build("(ss(){})", mpx_proxy_ident(d), "__len__");
    CHECK_OK(mpx_connection_send_obj(c, req));
    mpx_obj_decref(req);
    CHECK_OK(mpx_connection_recv_obj(c, &r, NULL, NULL));
    CHECK_STREQ(mpx_obj_str_value(mpx_obj_item(r, 0)), "#RETURN");
    mpx_obj_decref(r);
    /* an oversized message: the connection is closed without reading it */
    int fd = mpx_connection_fileno(c);
    unsigned char hdr[4] = {0x7f, 0xff, 0xff, 0xff};
    CHECK_EQ(write(fd, hdr, 4), 4);
    CHECK(mpx_connection_recv_obj(c, &r, NULL, NULL) < 0);
    mpx_connection_destroy(c);
    /* without authentication: no reply but the handshake's */
    mpx_connection *u;
    CHECK_OK(mpx_client_connect(&u, mpx_manager_address(m), NULL));
    req = mpx_obj_build("(Os(){})", mpx_obj_none(), "number_of_objects");
    CHECK_OK(mpx_connection_send_obj(u, req));
    mpx_obj_decref(req);
    for (;;) {
        void *msg;
        size_t n;
        int rc = mpx_connection_recv_bytes(u, &msg, &n);
        if (rc)
            break;
        CHECK(n >= 9 && msg && memcmp(msg, "#", 1) == 0); /* #CHALLENGE# / #FAILURE# */
        mpx_free(msg);
    }
    mpx_connection_destroy(u);
    /* and the server still serves */
    CHECK_EQ(mpx_proxy_len(d), 0);
    CHECK_EQ(mpx_manager_number_of_objects(m), 1);
    mpx_proxy_destroy(d);
    mpx_manager_destroy(m);
}

/* ---- many clients at once --------------------------------------------------------------- */

static int append_many(const mpx_args *a)
{
    mpx_proxy *l = mpx_args_object(a, 0);
    for (int i = 0; i < 100; i++) {
        mpx_obj *v = mpx_obj_int(i);
        int rc = mpx_proxy_list_append(l, v);
        mpx_obj_decref(v);
        if (rc)
            return 1;
    }
    return 0;
}

static void many_clients(const char *address)
{
    mpx_manager_opts o = {0};
    o.address = address;
    mpx_manager *m;
    CHECK_OK(mpx_manager_create(&m, NULL, &o));
    int rc = mpx_manager_start(m, NULL, NULL);
    if (rc == MPX_EINVAL || rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT) {
        mpx_manager_destroy(m);
        MPX_SKIP("address family not available here");
    }
    CHECK_OK(rc);
    mpx_proxy *l;
    CHECK_OK(mpx_manager_list(m, NULL, &l));
    mpx_process *p[6];
    for (int i = 0; i < 6; i++)
        p[i] = start_with(append_many, l, NULL);
    mpx_args *self;
    CHECK_OK(mpx_args_create(&self));
    CHECK_OK(mpx_args_add_object(self, l));
    CHECK_OK(append_many(self)); /* and this process at the same time */
    mpx_args_destroy(self);
    for (int i = 0; i < 6; i++)
        CHECK_EQ(end_code(p[i]), 0);
    CHECK_EQ(mpx_proxy_len(l), 700);
    mpx_proxy_destroy(l);
    mpx_manager_destroy(m);
}

MPX_TEST_T(mgr_many_clients_unix, 90) { many_clients(NULL); }
MPX_TEST_T(mgr_many_clients_tcp, 90) { many_clients("127.0.0.1:0"); }
MPX_TEST_T(mgr_many_clients_tcp6, 90) { many_clients("[::1]:0"); }

/* ---- proxies in other processes ---------------------------------------------------------- */

static mpx_proxy *inherited; /* seen by a fork child as it is */

static int use_inherited(const mpx_args *a)
{
    mpx_obj *v = mpx_obj_str("from a fork child");
    int rc = mpx_proxy_list_append(inherited, v);
    mpx_obj_decref(v);
    mpx_proxy_destroy(inherited); /* the child's own reference */
    return rc ? 1 : 0;
}

/* PROXY-03, CPython's _after_fork: a fork child uses a proxy it did not
 * get as an argument; it takes its own reference first. */
MPX_TEST_T(mgr_proxy_03_inherited_by_fork, 60)
{
    mpx_context *ctx;
    CHECK_OK(mpx_get_context(&ctx, "fork"));
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    CHECK_OK(mpx_manager_list(m, NULL, &inherited));
    mpx_process *p;
    mpx_process_opts po = {0};
    po.ctx = ctx;
    CHECK_OK(mpx_process_create(&p, use_inherited, NULL, &po));
    CHECK_OK(mpx_process_start(p));
    CHECK_EQ(end_code(p), 0);
    char *s = mpx_proxy_str(inherited);
    CHECK_STREQ(s, "['from a fork child']");
    mpx_free(s);
    CHECK_EQ(refcount_of(m, mpx_proxy_ident(inherited)), 1); /* the child's is gone */
    mpx_proxy_destroy(inherited);
    mpx_manager_destroy(m);
}

static int via_pipe(const mpx_args *a)
{
    mpx_connection *c = mpx_args_object(a, 0);
    mpx_obj *v;
    if (mpx_connection_recv_obj(c, &v, NULL, NULL))
        return 1;
    mpx_proxy *q;
    int rc = mpx_proxy_from_obj(&q, v, NULL, 0); /* the process key: inherited */
    mpx_obj_decref(v);
    if (rc)
        return 2;
    mpx_obj *item = mpx_obj_str("via pipe");
    rc = mpx_proxy_queue_put(q, item, MPX_FOREVER);
    mpx_obj_decref(item);
    mpx_proxy_destroy(q);
    mpx_connection_close(c);
    return rc ? 3 : 0;
}

/* PROXY-03: a proxy sent through a connection reconnects in the receiver. */
MPX_TEST_T(mgr_proxy_03_through_connection, 60)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *q;
    CHECK_OK(mpx_manager_queue(m, 0, &q));
    mpx_connection *r, *w;
    CHECK_OK(mpx_pipe(&r, &w, 0));
    mpx_process *p = start_with(via_pipe, r, NULL);
    mpx_connection_close(r);
    mpx_obj *v = mpx_proxy_to_obj(q);
    CHECK_OK(mpx_connection_send_obj(w, v));
    mpx_obj_decref(v);
    mpx_obj *got;
    CHECK_OK(mpx_proxy_queue_get(q, &got, 30000));
    CHECK_STREQ(mpx_obj_str_value(got), "via pipe");
    mpx_obj_decref(got);
    CHECK_EQ(end_code(p), 0);
    mpx_connection_destroy(r);
    mpx_connection_destroy(w);
    mpx_proxy_destroy(q);
    mpx_manager_destroy(m);
}

static int connect_child(const mpx_args *a)
{
    mpx_manager_opts o = {0};
    o.address = mpx_args_str(a, 0); /* the key: the process's, inherited */
    mpx_manager *m;
    if (mpx_manager_create(&m, NULL, &o) || mpx_manager_connect(m))
        return 1;
    mpx_proxy *d;
    if (mpx_manager_dict(m, NULL, &d))
        return 2;
    mpx_obj *v = mpx_obj_int(42);
    int rc = mpx_proxy_dict_set_s(d, "answer", v);
    mpx_obj_decref(v);
    int64_t n = mpx_manager_number_of_objects(m);
    mpx_proxy_destroy(d);
    mpx_manager_destroy(m); /* connected only: the server goes on */
    return rc ? 3 : n == 1 ? 0 : 4;
}

/* MGR-07, MGR-04: a child connects to the manager by address with the
 * process key it inherited. */
MPX_TEST_T(mgr_07_connect_from_child, 60)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_str(a, mpx_manager_address(m)));
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, connect_child, a, NULL));
    mpx_args_destroy(a);
    CHECK_OK(mpx_process_start(p));
    CHECK_EQ(end_code(p), 0);
    CHECK_EQ(mpx_manager_number_of_objects(m), 0);
    mpx_manager_destroy(m);
}

/* ---- a manager whose parent dies --------------------------------------------------------- */

static int manager_then_wait(const mpx_args *a)
{
    int fd = mpx_args_fd(a, 0);
    mpx_manager *m;
    if (mpx_manager_new(&m, NULL))
        return 1;
    pid_t pid = mpx_manager_pid(m);
    if (write(fd, &pid, sizeof pid) != (ssize_t)sizeof pid)
        return 2;
    pause(); /* killed here */
    return 3;
}

/* A process has ended for good when it is absent, or a zombie none of
 * whose threads still runs: /proc/PID/stat shows a multi-threaded process
 * as Z as soon as its main thread has exited, while its other threads
 * (under TSan also the sanitizer's own) may take a while to go on a loaded
 * machine; such a process is still there for kill(-pgid, 0). */
static bool ended(pid_t pid, pid_t *ppid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *rp = strrchr(buf, ')');
    char st = '?';
    int pp = 0;
    if (!rp || sscanf(rp + 1, " %c %d", &st, &pp) != 2)
        return true; /* gone while we read */
    if (ppid)
        *ppid = pp;
    if (st != 'Z' && st != 'X')
        return false;
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    int tasks = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        tasks += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return tasks <= 1;
}

/* The first process of our process group, other than this one and its
 * own children, that has not ended for good (0: none). */
static pid_t unsettled_in_group(void)
{
    pid_t me = getpid(), pg = getpgrp(), found = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (!found && d && (e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == me || getpgid((pid_t)pid) != pg)
            continue;
        pid_t pp = 0;
        if (!ended((pid_t)pid, &pp) && pp != me)
            found = (pid_t)pid;
    }
    if (d)
        closedir(d);
    return found;
}

MPX_TEST_T(mgr_02_manager_dies_with_its_parent, 120)
{
    int fds[2];
    CHECK_EQ(pipe2(fds, O_CLOEXEC), 0);
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_fd(a, fds[1]));
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, manager_then_wait, a, NULL));
    mpx_args_destroy(a);
    CHECK_OK(mpx_process_start(p));
    close(fds[1]);
    pid_t mpid = 0;
    CHECK_EQ(read(fds[0], &mpid, sizeof mpid), (ssize_t)sizeof mpid);
    close(fds[0]);
    CHECK(mpid > 0 && !ended(mpid, NULL));
    CHECK_OK(mpx_process_kill(p));
    CHECK_EQ(end_code(p), -SIGKILL);
    /* No time is assumed: the limit only turns a manager that never ends
     * into a clear failure. */
    int64_t end = mpx_test_now_ms() + 60000;
    while (!ended(mpid, NULL)) {
        if (mpx_test_now_ms() > end)
            FAIL("the manager (pid %d) outlived its parent", (int)mpid);
        usleep(20000);
    }
    /* The killed parent's fork server and the manager's last threads may
     * still be exiting (the failure seen under TSan with forkserver: the
     * runner found them in the test's process group): return once every
     * process this test caused has ended, so the runner only reaps. */
    pid_t left;
    while ((left = unsettled_in_group()) != 0) {
        if (mpx_test_now_ms() > end)
            FAIL("pid %d (of the killed parent's processes) did not end", (int)left);
        usleep(20000);
    }
}

/* ---- misuse ------------------------------------------------------------------------------ */

MPX_TEST_T(mgr_08_misuse_and_shutdown, 60)
{
    mpx_manager *m;
    mpx_proxy *p;
    CHECK_OK(mpx_manager_create(&m, NULL, NULL));
    CHECK_ERR(mpx_manager_dict(m, NULL, &p), MPX_ESTATE); /* not started */
    CHECK_ERR(mpx_manager_connect(m), MPX_EINVAL);       /* no address */
    CHECK_OK(mpx_manager_start(m, NULL, NULL));
    CHECK_ERR(mpx_manager_start(m, NULL, NULL), MPX_ESTATE);
    mpx_manager_server *s;
    CHECK_ERR(mpx_manager_get_server(m, &s), MPX_ESTATE);
    CHECK_ERR(mpx_manager_make(m, "nosuchtype", NULL, NULL, &p), MPX_EINVAL);
    CHECK_ERR(mpx_manager_make(m, "Iterator", NULL, NULL, &p), MPX_EINVAL); /* create_method=False */
    CHECK_ERR(mpx_manager_make(m, "dict", mpx_obj_none(), NULL, &p), MPX_EINVAL);
    CHECK_OK(mpx_manager_list(m, NULL, &p));
    CHECK_EQ(mpx_manager_join(m, 10), 0); /* still running */
    CHECK_OK(mpx_manager_shutdown(m));
    CHECK_OK(mpx_manager_shutdown(m)); /* twice is fine */
    CHECK_EQ(mpx_manager_join(m, MPX_FOREVER), 1);
    int64_t n = mpx_proxy_len(p); /* the server is gone: an error, at once */
    CHECK(connection_error((int)n));
    CHECK_ERR(mpx_manager_start(m, NULL, NULL), MPX_ESTATE);
    mpx_proxy_destroy(p);
    mpx_manager_destroy(m);
    mpx_manager_destroy(NULL);
    mpx_proxy_destroy(NULL);
    /* connect to nothing */
    mpx_manager_opts o = {0};
    o.address = "/nonexistent/mpx-manager";
    CHECK_OK(mpx_manager_create(&m, NULL, &o));
    CHECK_ERR(mpx_manager_connect(m), -ENOENT);
    mpx_manager_destroy(m);
    o.serializer = MPX_MANAGER_XMLRPCLIB;
    CHECK_ERR(mpx_manager_create(&m, NULL, &o), MPX_ENOTSUP);
}

/* ---- the local transport (shared memory next to an AF_UNIX channel) ------------------------ */

/* A killed server with local clients: the waiting ones and the next calls
 * get errors, never hang. */
MPX_TEST_T(mgr_local_server_killed_gives_errors, 60)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL)); /* AF_UNIX: the local transport */
    char path[512];
    snprintf(path, sizeof path, "%s", mpx_manager_address(m));
    mpx_proxy *q, *d;
    CHECK_OK(mpx_manager_queue(m, 0, &q));
    CHECK_OK(mpx_manager_dict(m, NULL, &d));
    CHECK_EQ(mpx_proxy_len(d), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, blocked_get, q), 0);
    usleep(100000);
    CHECK_EQ(kill(mpx_manager_pid(m), SIGKILL), 0);
    void *res;
    pthread_join(th, &res);
    if (!connection_error((int)(intptr_t)res))
        FAIL("blocked get returned %s", mpx_err_name((int)(intptr_t)res));
    for (int i = 0; i < 2; i++) {
        int64_t n = mpx_proxy_len(d);
        if (!connection_error((int)n))
            FAIL("len after the server died: %lld", (long long)n);
    }
    mpx_proxy_destroy(q);
    mpx_proxy_destroy(d);
    CHECK_EQ(mpx_manager_join(m, 10000), 1);
    mpx_manager_destroy(m);
    /* a killed server cannot remove its socket file */
    unlink(path);
    char *slash = strrchr(path, '/');
    if (slash) {
        *slash = 0;
        rmdir(path);
    }
}

/* Values larger than the shared channel go over the socket, both ways. */
MPX_TEST_T(mgr_local_big_values, 60)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *d, *l;
    CHECK_OK(mpx_manager_dict(m, NULL, &d));
    unsigned char *big = malloc(300000);
    for (int i = 0; i < 300000; i++)
        big[i] = (unsigned char)(i * 7);
    mpx_obj *b = mpx_obj_bytes(big, 300000), *got;
    free(big);
    CHECK_OK(mpx_proxy_dict_set_s(d, "big", b)); /* the request: too big */
    CHECK_OK(mpx_proxy_dict_get_s(d, "big", &got)); /* the reply: too big */
    CHECK_EQ(mpx_obj_equal(got, b), 1);
    mpx_obj_decref(got);
    mpx_obj *small = mpx_obj_int(5);
    CHECK_OK(mpx_proxy_dict_set_s(d, "small", small)); /* and small ones still work */
    CHECK_OK(mpx_proxy_dict_get_s(d, "small", &got));
    CHECK_EQ(mpx_obj_equal(got, small), 1);
    mpx_obj_decref(got);
    mpx_obj *ints = mpx_obj_list();
    for (int i = 0; i < 50000; i++)
        mpx_obj_list_append_new(ints, mpx_obj_int(i));
    CHECK_OK(mpx_manager_list(m, ints, &l));
    CHECK_OK(mpx_proxy_getvalue(l, &got));
    CHECK_EQ(mpx_obj_equal(got, ints), 1);
    mpx_obj_decref(got);
    CHECK_EQ(mpx_proxy_len(l), 50000);
    mpx_obj_decref(ints);
    mpx_obj_decref(small);
    mpx_obj_decref(b);
    mpx_proxy_destroy(d);
    mpx_proxy_destroy(l);
    mpx_manager_destroy(m);
}

static void *getter_thread(void *arg)
{
    mpx_proxy *q = arg;
    intptr_t got = 0;
    for (;;) {
        mpx_obj *v;
        int rc = mpx_proxy_queue_get(q, &v, 20000);
        if (rc)
            return (void *)(intptr_t)-1;
        int64_t n;
        mpx_obj_get_int(v, &n);
        mpx_obj_decref(v);
        if (n < 0)
            return (void *)got;
        got++;
    }
}

/* Calls that wait (run by each channel's worker) beside calls that do not
 * (run by the dispatcher), from several threads; then the same on the
 * socket transport alone. */
static void waits_and_quick_calls(void)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *q, *d;
    CHECK_OK(mpx_manager_queue(m, 0, &q));
    CHECK_OK(mpx_manager_dict(m, NULL, &d));
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, getter_thread, q), 0);
    mpx_obj *k = mpx_obj_str("n");
    for (int i = 0; i < 300; i++) {
        mpx_obj *v = mpx_obj_int(i);
        CHECK_OK(mpx_proxy_queue_put(q, v, MPX_FOREVER));
        CHECK_OK(mpx_proxy_setitem(d, k, v));
        mpx_obj_decref(v);
    }
    mpx_obj *stop = mpx_obj_int(-1);
    for (int i = 0; i < 3; i++)
        CHECK_OK(mpx_proxy_queue_put(q, stop, MPX_FOREVER));
    mpx_obj_decref(stop);
    intptr_t total = 0;
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(th[i], &r);
        CHECK((intptr_t)r >= 0);
        total += (intptr_t)r;
    }
    CHECK_EQ(total, 300);
    mpx_obj *v;
    CHECK_OK(mpx_proxy_getitem(d, k, &v));
    int64_t n;
    CHECK_OK(mpx_obj_get_int(v, &n));
    CHECK_EQ(n, 299);
    mpx_obj_decref(v);
    mpx_obj_decref(k);
    mpx_proxy_destroy(q);
    mpx_proxy_destroy(d);
    mpx_manager_destroy(m);
}

MPX_TEST_T(mgr_local_waiting_and_quick_calls, 90) { waits_and_quick_calls(); }

MPX_TEST_T(mgr_socket_transport_only, 90)
{
    setenv("MPX_MANAGER_TRANSPORT", "socket", 1); /* before any manager: inherited */
    waits_and_quick_calls();
}
