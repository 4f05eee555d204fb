/* test_manager_custom.c - managers of types written in C (#16, MGR-05,
 * MGR-06, MGR-09..13, MGR-20, PROXY-10..12, EX-18, EX-21, EX-37, LOG-05):
 * register with callables, exposed sets and proxy types, a generator
 * proxy, an "operator module" proxy, start with an initializer, a server
 * run in this process (get_server().serve_forever()), the log lines. The
 * callables run in the server process, so under spawn and forkserver they
 * are found there by function reference. */
#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- EX-21: MathsClass ----------------------------------------------------------------- */

static int maths_op(const mpx_obj *args, mpx_manager_call *call, long long *x, long long *y)
{
    if (mpx_obj_parse(args, "(LL)", x, y))
        return mpx_manager_raise(call, MPX_ETYPE, "expected two integers");
    return 0;
}

static int maths_add(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                     mpx_manager_call *call)
{
    long long x, y;
    int rc = maths_op(args, call, &x, &y);
    return rc ? rc : (*result = mpx_obj_int(x + y)) ? 0 : -ENOMEM;
}

static int maths_mul(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                     mpx_manager_call *call)
{
    long long x, y;
    int rc = maths_op(args, call, &x, &y);
    return rc ? rc : (*result = mpx_obj_int(x * y)) ? 0 : -ENOMEM;
}

static const mpx_manager_method maths_methods[] = {
    {"add", maths_add}, {"mul", maths_mul}, {NULL, NULL}};
static const mpx_manager_class maths_class = {
    .name = "MathsClass", .methods = maths_methods, .nonblocking = 1};

static int new_maths(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                     mpx_manager_call *call)
{
    return mpx_referent_create(out, &maths_class, NULL);
}

static mpx_obj *call2(mpx_proxy *p, const char *method, int a, int b)
{
    mpx_obj *args = mpx_obj_build("(ii)", a, b), *v = NULL;
    int rc = mpx_proxy_call(p, method, args, NULL, &v);
    mpx_obj_decref(args);
    if (rc)
        FAIL("%s: %s", method, mpx_err_name(rc));
    return v;
}

static void check_repr(mpx_obj *v, const char *want)
{
    char *r = mpx_obj_repr(v);
    if (!r || strcmp(r, want) != 0)
        FAIL("repr %s, want %s", r ? r : "?", want);
    mpx_free(r);
    mpx_obj_decref(v);
}

MPX_TEST_T(mgr_20_custom_manager_ex21, 60)
{
    mpx_manager_registry *r;
    CHECK_OK(mpx_manager_registry_create(&r, "MyManager", NULL));
    mpx_register_opts o = {0};
    o.callable = new_maths;
    CHECK_OK(mpx_manager_register(r, "Maths", &o));
    mpx_manager *m;
    CHECK_OK(mpx_manager_create(&m, r, NULL));
    CHECK_OK(mpx_manager_start(m, NULL, NULL));
    mpx_proxy *maths;
    CHECK_OK(mpx_manager_make(m, "Maths", NULL, NULL, &maths));
    CHECK_STREQ(mpx_proxy_type_name(maths), "AutoProxy[Maths]");
    check_repr(call2(maths, "add", 4, 3), "7");
    check_repr(call2(maths, "mul", 7, 8), "56");
    mpx_obj *bad = mpx_obj_build("(s)", "x"), *v;
    mpx_remote_error err;
    CHECK_ERR(mpx_proxy_callmethod(maths, "add", bad, NULL, &v, NULL, &err), MPX_ETYPE);
    CHECK_STREQ(err.type, "TypeError");
    CHECK_STREQ(err.text, "expected two integers");
    mpx_remote_error_clear(&err);
    mpx_obj_decref(bad);
    /* the SyncManager types are not in this registry */
    mpx_proxy *d;
    CHECK_ERR(mpx_manager_dict(m, NULL, &d), MPX_EINVAL);
    mpx_proxy_destroy(maths);
    mpx_manager_destroy(m);
    mpx_manager_registry_destroy(r);
}

/* ---- EX-37: mp_newtype --------------------------------------------------------------------- */

static int foo_say(mpx_obj **result, const char *what)
{
    *result = mpx_obj_str_printf("you called Foo.%s()", what);
    return *result ? 0 : -ENOMEM;
}
static int foo_f(void *s, const mpx_obj *a, const mpx_obj *k, mpx_obj **r, mpx_manager_call *c)
{
    return foo_say(r, "f");
}
static int foo_g(void *s, const mpx_obj *a, const mpx_obj *k, mpx_obj **r, mpx_manager_call *c)
{
    return foo_say(r, "g");
}
static int foo_h(void *s, const mpx_obj *a, const mpx_obj *k, mpx_obj **r, mpx_manager_call *c)
{
    return foo_say(r, "_h");
}
static const mpx_manager_method foo_methods[] = {
    {"f", foo_f}, {"g", foo_g}, {"_h", foo_h}, {NULL, NULL}};
static const mpx_manager_class foo_class = {.name = "Foo", .methods = foo_methods};
static int new_foo(const mpx_obj *a, const mpx_obj *k, mpx_referent **out, mpx_manager_call *c)
{
    return mpx_referent_create(out, &foo_class, NULL);
}

/* baz(): a generator of i*i for i in range(10) */
typedef struct gen {
    int i;
} gen;
static int gen_next(void *self, const mpx_obj *a, const mpx_obj *k, mpx_obj **r,
                    mpx_manager_call *c)
{
    gen *g = self;
    if (g->i >= 10)
        return mpx_manager_raise(c, MPX_EEOF, NULL); /* StopIteration */
    *r = mpx_obj_int(g->i * g->i);
    g->i++;
    return 0;
}
static const mpx_manager_method gen_methods[] = {{"__next__", gen_next}, {NULL, NULL}};
static void gen_release(void *self) { free(self); }
static const mpx_manager_class gen_class = {
    .name = "generator", .methods = gen_methods, .release = gen_release};
static int baz(const mpx_obj *a, const mpx_obj *k, mpx_referent **out, mpx_manager_call *c)
{
    gen *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    int rc = mpx_referent_create(out, &gen_class, g);
    if (rc)
        free(g);
    return rc;
}

/* the operator module: add and pow on integers (pow up to 127 bits) */
static int op_add(void *s, const mpx_obj *a, const mpx_obj *k, mpx_obj **r, mpx_manager_call *c)
{
    long long x, y;
    if (mpx_obj_parse(a, "(LL)", &x, &y))
        return mpx_manager_raise(c, MPX_ETYPE, "add: integers please");
    *r = mpx_obj_int(x + y);
    return 0;
}
static int op_pow(void *s, const mpx_obj *a, const mpx_obj *k, mpx_obj **r, mpx_manager_call *c)
{
    long long x, y;
    if (mpx_obj_parse(a, "(LL)", &x, &y) || x < 0 || y < 0)
        return mpx_manager_raise(c, MPX_ETYPE, "pow: non-negative integers please");
    unsigned __int128 v = 1;
    for (long long i = 0; i < y; i++) {
        if (v > ((unsigned __int128)1 << 126) / (unsigned __int128)(x ? x : 1))
            return mpx_manager_raise(c, -ERANGE, "result too large");
        v *= (unsigned __int128)x;
    }
    *r = mpx_obj_int_from_bytes(&v, sizeof v, 1, 0);
    return *r ? 0 : -ENOMEM;
}
static const mpx_manager_method op_methods[] = {{"add", op_add}, {"pow", op_pow}, {NULL, NULL}};
static const mpx_manager_class op_class = {
    .name = "module", .methods = op_methods, .concurrent = 1, .nonblocking = 1};
static int get_operator_module(const mpx_obj *a, const mpx_obj *k, mpx_referent **out,
                               mpx_manager_call *c)
{
    return mpx_referent_create(out, &op_class, NULL);
}

static void check_exposed(mpx_proxy *p, const char *const *want)
{
    const char *const *ex = mpx_proxy_exposed(p);
    size_t n = 0;
    while (ex[n])
        n++;
    size_t w = 0;
    while (want[w])
        w++;
    CHECK_EQ(n, w);
    for (size_t i = 0; i < w; i++)
        CHECK_EQ(mpx_proxy_is_exposed(p, want[i]), 1);
}

MPX_TEST_T(mgr_proxy_10_11_12_newtype_ex37, 60)
{
    mpx_manager_registry *r;
    CHECK_OK(mpx_manager_registry_create(&r, "MyManager", NULL));
    mpx_register_opts o = {0};
    o.callable = new_foo;
    CHECK_OK(mpx_manager_register(r, "Foo1", &o));
    static const char *const foo2_exposed[] = {"g", "_h", NULL};
    o.exposed = foo2_exposed;
    CHECK_OK(mpx_manager_register(r, "Foo2", &o));
    static const char *const gen_exposed[] = {"__next__", NULL};
    mpx_register_opts go = {0};
    go.callable = baz;
    go.proxytype = "__main__.GeneratorProxy";
    go.exposed = gen_exposed;
    CHECK_OK(mpx_manager_register(r, "baz", &go));
    mpx_register_opts oo = {0};
    oo.callable = get_operator_module;
    CHECK_OK(mpx_manager_register(r, "operator", &oo));
    mpx_manager *m;
    CHECK_OK(mpx_manager_create(&m, r, NULL));
    CHECK_OK(mpx_manager_start(m, NULL, NULL));

    mpx_proxy *f1, *f2, *it, *op;
    CHECK_OK(mpx_manager_make(m, "Foo1", NULL, NULL, &f1));
    mpx_obj *v;
    CHECK_OK(mpx_proxy_call(f1, "f", NULL, NULL, &v));
    CHECK_STREQ(mpx_obj_str_value(v), "you called Foo.f()");
    mpx_obj_decref(v);
    static const char *const f1_want[] = {"f", "g", NULL};
    check_exposed(f1, f1_want);
    CHECK_EQ(mpx_proxy_is_exposed(f1, "_h"), 0);
    CHECK_ERR(mpx_proxy_call(f1, "_h", NULL, NULL, &v), MPX_EREMOTE); /* not exposed */

    CHECK_OK(mpx_manager_make(m, "Foo2", NULL, NULL, &f2));
    CHECK_OK(mpx_proxy_call(f2, "_h", NULL, NULL, &v));
    CHECK_STREQ(mpx_obj_str_value(v), "you called Foo._h()");
    mpx_obj_decref(v);
    check_exposed(f2, foo2_exposed);
    CHECK_ERR(mpx_proxy_call(f2, "f", NULL, NULL, &v), MPX_EREMOTE);

    CHECK_OK(mpx_manager_make(m, "baz", NULL, NULL, &it));
    CHECK_STREQ(mpx_proxy_type_name(it), "GeneratorProxy");
    char line[128] = "";
    int rc;
    while ((rc = mpx_proxy_next(it, &v)) == 0) {
        char *s = mpx_obj_repr(v);
        snprintf(line + strlen(line), sizeof line - strlen(line), "<%s> ", s);
        mpx_free(s);
        mpx_obj_decref(v);
    }
    CHECK_EQ(rc, MPX_EEOF);
    CHECK_STREQ(line, "<0> <1> <4> <9> <16> <25> <36> <49> <64> <81> ");
    /* as a value, the generator proxy names its own proxy type */
    v = mpx_proxy_to_obj(it);
    mpx_obj_reduce parts;
    CHECK_OK(mpx_obj_instance_get(v, &parts));
    const char *mod, *qn;
    CHECK_OK(mpx_obj_class_name(mpx_obj_item(parts.args, 0), &mod, &qn));
    CHECK_STREQ(mod, "__main__");
    CHECK_STREQ(qn, "GeneratorProxy");
    mpx_obj_decref(v);

    CHECK_OK(mpx_manager_make(m, "operator", NULL, NULL, &op));
    check_repr(call2(op, "add", 23, 45), "68");
    check_repr(call2(op, "pow", 2, 94), "19807040628566084398385987584");
    static const char *const op_want[] = {"add", "pow", NULL};
    check_exposed(op, op_want);
    mpx_proxy_destroy(f1);
    mpx_proxy_destroy(f2);
    mpx_proxy_destroy(it);
    mpx_proxy_destroy(op);
    CHECK_EQ(mpx_manager_number_of_objects(m), 0);
    mpx_manager_destroy(m);
    mpx_manager_registry_destroy(r);
}

/* ---- MGR-05: start(initializer, initargs) -------------------------------------------------- */

static char init_tag[64] = "unset";

static int set_tag(const mpx_args *a)
{
    snprintf(init_tag, sizeof init_tag, "%s/%lld", mpx_args_str(a, 0),
             (long long)mpx_args_int(a, 1));
    return 0;
}

static int failing_init(const mpx_args *a) { return MPX_EINVAL; }

static int get_tag(const mpx_obj *a, const mpx_obj *k, mpx_referent **out,
                   mpx_manager_call *c)
{
    mpx_obj *v = mpx_obj_str(init_tag);
    int rc = mpx_referent_value(out, v);
    mpx_obj_decref(v);
    return rc;
}

MPX_TEST_T(mgr_05_start_initializer, 60)
{
    mpx_manager_registry *r;
    CHECK_OK(mpx_manager_registry_create(&r, "TagManager", mpx_manager_sync_registry()));
    mpx_register_opts o = {0};
    o.callable = get_tag;
    CHECK_OK(mpx_manager_register(r, "get_tag", &o));
    mpx_manager *m;
    CHECK_OK(mpx_manager_create(&m, r, NULL));
    mpx_args *ia;
    CHECK_OK(mpx_args_create(&ia));
    CHECK_OK(mpx_args_add_str(ia, "hello"));
    CHECK_OK(mpx_args_add_int(ia, 42));
    CHECK_OK(mpx_manager_start(m, set_tag, ia));
    mpx_args_destroy(ia);
    mpx_proxy *t;
    CHECK_OK(mpx_manager_make(m, "get_tag", NULL, NULL, &t));
    mpx_obj *v;
    CHECK_OK(mpx_proxy_getvalue(t, &v));
    CHECK_STREQ(mpx_obj_str_value(v), "hello/42");
    mpx_obj_decref(v);
    char *s = mpx_proxy_str(t); /* str() of a str referent: its text */
    CHECK_STREQ(s, "'hello/42'");
    mpx_free(s);
    mpx_proxy_destroy(t);
    mpx_manager_destroy(m);
    /* an initializer that fails: start fails with its error, no server left */
    CHECK_OK(mpx_manager_create(&m, r, NULL));
    CHECK_ERR(mpx_manager_start(m, failing_init, NULL), MPX_EINVAL);
    CHECK_EQ(mpx_manager_pid(m), 0);
    mpx_manager_destroy(m);
    mpx_manager_registry_destroy(r);
}

/* ---- MGR-06, EX-18: a server in this process ------------------------------------------------ */

static void *serve(void *arg)
{
    return (void *)(intptr_t)mpx_manager_server_serve_forever(arg);
}

static int remote_user(const mpx_args *a)
{
    mpx_manager_opts o = {0};
    o.address = mpx_args_str(a, 0);
    o.authkey = "abc";
    o.authkey_len = 3;
    mpx_manager *m;
    if (mpx_manager_create(&m, NULL, &o) || mpx_manager_connect(m))
        return 1;
    mpx_proxy *l;
    if (mpx_manager_list(m, NULL, &l))
        return 2;
    mpx_obj *v = mpx_obj_str("from a client");
    int rc = mpx_proxy_list_append(l, v);
    mpx_obj_decref(v);
    char *s = mpx_proxy_str(l);
    rc = rc || !s || strcmp(s, "['from a client']") != 0;
    mpx_free(s);
    mpx_proxy_destroy(l);
    mpx_manager_destroy(m);
    return rc ? 3 : 0;
}

static void server_in_process(const char *address)
{
    mpx_manager_opts o = {0};
    o.address = address;
    o.authkey = "abc";
    o.authkey_len = 3;
    mpx_manager *m;
    CHECK_OK(mpx_manager_create(&m, NULL, &o));
    mpx_manager_server *s;
    CHECK_OK(mpx_manager_get_server(m, &s));
    CHECK(mpx_manager_server_address(s));
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_str(a, mpx_manager_server_address(s)));
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, remote_user, a, NULL));
    mpx_args_destroy(a);
    /* The client starts before the serving thread: under fork, a child
     * forked while another thread runs may inherit a lock that thread
     * held (the sanitizers' allocator and thread registry too; Python
     * warns about fork with threads for this reason). The server is
     * already listening: the client's connect waits in the backlog until
     * serve_forever accepts it. */
    CHECK_OK(mpx_process_start(p));
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, serve, s), 0);
    mpx_process_join(p, MPX_FOREVER);
    int code = -1;
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    CHECK_EQ(code, 0);
    mpx_process_destroy(p);
    mpx_manager_server_stop(s);
    void *res;
    pthread_join(th, &res);
    CHECK_EQ((intptr_t)res, 0);
    CHECK_ERR(mpx_manager_server_serve_forever(s), MPX_ESTATE);
    mpx_manager_server_destroy(s);
    mpx_manager_destroy(m);
}

MPX_TEST_T(mgr_06_get_server_serve_forever_ex18, 60) { server_in_process("127.0.0.1:0"); }
MPX_TEST_T(mgr_06_get_server_unix, 60) { server_in_process(NULL); }

/* ---- LOG-05: the manager's log lines ------------------------------------------------------ */

MPX_TEST_T(mgr_log_05_lines, 60)
{
    int fds[2];
    CHECK_EQ(pipe2(fds, O_CLOEXEC), 0);
    int saved = dup(2);
    fflush(stderr);
    dup2(fds[1], 2);
    close(fds[1]);
    mpx_log_to_stderr(MPX_LOG_DEBUG);
    mpx_manager *m;
    int rc = mpx_manager_new(&m, NULL);
    mpx_proxy *d = NULL;
    if (!rc)
        rc = mpx_manager_dict(m, NULL, &d);
    mpx_proxy_destroy(d);
    if (!rc)
        mpx_manager_destroy(m);
    mpx_log_set_level(MPX_LOG_NOTSET);
    mpx_log_set_handler(NULL, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    CHECK_OK(rc);
    char buf[1 << 16];
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    CHECK(n > 0);
    buf[n] = 0;
    if (!strstr(buf, "[INFO/SyncManager-") || !strstr(buf, "] manager serving at '/") ||
        !strstr(buf, "[INFO/MainProcess] sending shutdown message to manager") ||
        !strstr(buf, "] manager received shutdown message") ||
        !strstr(buf, "] manager exiting with exitcode 0") ||
        !strstr(buf, "requesting creation of a shared 'dict' object"))
        FAIL("log lines missing:\n%s", buf);
}
