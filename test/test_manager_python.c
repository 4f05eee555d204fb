/* test_manager_python.c - managers wire-compatible with CPython, both
 * ways (#16, MGR-07, MGR-21, AUTH-05): a CPython client (BaseManager /
 * SyncManager register + connect) uses a queue, a dict, a Namespace and
 * SyncManager's types hosted by an mpx manager; an mpx process uses the
 * queue of a CPython BaseManager server (the seed's remote-queue example)
 * and creates dicts, lists and a Pool in a CPython SyncManager; the CPython client
 * also uses a Pool of the mpx manager (m.Pool(): map, starmap, apply,
 * their async forms, imap, a task's ValueError); a wrong key fails
 * cleanly on both sides and the server keeps serving. Run with every
 * installed CPython (3.11: HMAC-MD5 handshake, 3.12+: {sha256}); a missing
 * version is skipped with a message. Loopback only. */
#include "pypeer.h"

#include <pthread.h>

static const char key[] = "mgr-interop-key";

static void hexkey(const char *k, char *out)
{
    for (size_t i = 0; k[i]; i++)
        snprintf(out + 2 * i, 3, "%02x", (unsigned char)k[i]);
}

static const char *need_python(const char *version)
{
    const char *python = pyp_find(version);
    if (!python) {
        static char why[64];
        snprintf(why, sizeof why, "python%s not installed", version ? version : "3");
        MPX_SKIP(why);
    }
    if (!pyp_script("mgr_peer.py"))
        MPX_SKIP("test/py/mgr_peer.py not found");
    return python;
}

/* ---- an mpx server for CPython clients --------------------------------------------------- */

/* The shared objects of the server process (callable=lambda: queue). */
static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static mpx_referent *shared_q, *shared_d, *shared_ns;

static int shared(mpx_referent **slot, const char *typeid, mpx_referent **out)
{
    pthread_mutex_lock(&shared_mu);
    int rc = *slot ? 0 : mpx_referent_builtin(slot, typeid, NULL, NULL);
    if (!rc)
        *out = mpx_referent_incref(*slot);
    pthread_mutex_unlock(&shared_mu);
    return rc;
}

static int get_queue(const mpx_obj *a, const mpx_obj *k, mpx_referent **out, mpx_manager_call *c)
{
    return shared(&shared_q, "Queue", out);
}

static int get_dict(const mpx_obj *a, const mpx_obj *k, mpx_referent **out, mpx_manager_call *c)
{
    return shared(&shared_d, "dict", out);
}

static int get_ns(const mpx_obj *a, const mpx_obj *k, mpx_referent **out, mpx_manager_call *c)
{
    return shared(&shared_ns, "Namespace", out);
}

/* The functions a CPython client's pool.map(mgr_py_square, ...) names
 * (mgr_peer.py): run by the mpx manager's Pool (MGR-16). */
static mpx_obj *mgr_py_square(mpx_obj *x, mpx_obj **error)
{
    int64_t v;
    if (mpx_obj_get_int(x, &v))
        return mpx_task_raise(error, "TypeError", "not an int");
    if (v == 13)
        return mpx_task_raise(error, "ValueError", "thirteen");
    return mpx_obj_int(v * v);
}
MPX_REGISTER_FUNCTION(mgr_py_square);

static mpx_obj *mgr_py_add(mpx_obj *args, mpx_obj *kwargs, mpx_obj **error)
{
    int64_t sum = 0, v;
    for (int64_t i = 0; i < mpx_obj_len(args); i++) {
        if (mpx_obj_get_int(mpx_obj_item(args, i), &v))
            return mpx_task_raise(error, "TypeError", "not an int");
        sum += v;
    }
    mpx_obj *extra = kwargs ? mpx_obj_dict_get_s(kwargs, "extra") : NULL;
    if (extra && !mpx_obj_get_int(extra, &v))
        sum += v;
    return mpx_obj_int(sum);
}
MPX_REGISTER_FUNCTION(mgr_py_add);

static mpx_manager_registry *queue_registry(bool with_callables)
{
    mpx_manager_registry *r;
    CHECK_OK(mpx_manager_registry_create(&r, "QueueManager", mpx_manager_sync_registry()));
    mpx_register_opts o = {0};
    o.callable = with_callables ? get_queue : NULL;
    CHECK_OK(mpx_manager_register(r, "get_queue", &o));
    o.callable = with_callables ? get_dict : NULL;
    o.proxytype = "DictProxy";
    CHECK_OK(mpx_manager_register(r, "get_dict", &o));
    o.callable = with_callables ? get_ns : NULL;
    o.proxytype = "NamespaceProxy";
    CHECK_OK(mpx_manager_register(r, "get_ns", &o));
    return r;
}

static mpx_manager *start_mpx_server(mpx_manager_registry *r, const char *k)
{
    mpx_manager_opts o = {0};
    o.address = "127.0.0.1:0";
    o.authkey = k;
    o.authkey_len = strlen(k);
    mpx_manager *m;
    CHECK_OK(mpx_manager_create(&m, r, &o));
    CHECK_OK(mpx_manager_start(m, NULL, NULL));
    return m;
}

/* Run mgr_peer.py role against addr; returns its exit code, last line in buf. */
static int run_peer(const char *python, const char *role, const char *addr, const char *k,
                    char *last, size_t cap)
{
    char kh[128];
    hexkey(k, kh);
    char *argv[] = {(char *)python, (char *)pyp_script("mgr_peer.py"), (char *)role,
                    (char *)addr, kh, NULL};
    pypeer py;
    CHECK_OK(pyp_start(&py, argv, 0));
    char line[1024];
    last[0] = 0;
    for (;;) {
        pyp_line(&py, line, sizeof line, 60000);
        if (!line[0])
            break;
        snprintf(last, cap, "%s", line);
        if (strcmp(line, "OK") == 0 || strncmp(line, "FAIL", 4) == 0 ||
            strcmp(line, "AUTHFAIL") == 0)
            break;
    }
    return pyp_wait(&py, 60000);
}

static void cpython_client(const char *version)
{
    const char *python = need_python(version);
    mpx_manager_registry *r = queue_registry(true);
    mpx_manager *m = start_mpx_server(r, key);
    char last[1024];
    /* a wrong key first: refused on both sides, the server keeps serving */
    int code = run_peer(python, "authfail", mpx_manager_address(m), "not-the-key", last,
                        sizeof last);
    if (code != 0 || strcmp(last, "AUTHFAIL") != 0)
        FAIL("wrong key: exit %d, %s", code, last);
    code = run_peer(python, "client", mpx_manager_address(m), key, last, sizeof last);
    if (code != 0 || strcmp(last, "OK") != 0)
        FAIL("python client: exit %d, %s", code, last);
    /* what CPython left in the mpx manager, seen from mpx */
    mpx_manager *c;
    mpx_manager_opts o = {0};
    o.address = mpx_manager_address(m);
    o.authkey = key;
    o.authkey_len = strlen(key);
    mpx_manager_registry *cr = queue_registry(false);
    CHECK_OK(mpx_manager_create(&c, cr, &o));
    CHECK_OK(mpx_manager_connect(c));
    mpx_proxy *q, *d, *ns;
    CHECK_OK(mpx_manager_make(c, "get_queue", NULL, NULL, &q));
    mpx_obj *v;
    CHECK_OK(mpx_proxy_queue_get(q, &v, 5000));
    CHECK_STREQ(mpx_obj_str_value(v), "from python");
    mpx_obj_decref(v);
    CHECK_ERR(mpx_proxy_queue_get(q, &v, MPX_NOWAIT), MPX_EEMPTY);
    CHECK_OK(mpx_manager_make(c, "get_dict", NULL, NULL, &d));
    CHECK_OK(mpx_proxy_dict_get_s(d, "b", &v));
    char *s = mpx_obj_repr(v);
    CHECK_STREQ(s, "[1, 2]");
    mpx_free(s);
    mpx_obj_decref(v);
    CHECK_OK(mpx_manager_make(c, "get_ns", NULL, NULL, &ns));
    s = mpx_proxy_str(ns);
    CHECK_STREQ(s, "Namespace(x=10, y='hello')");
    mpx_free(s);
    mpx_proxy_destroy(q);
    mpx_proxy_destroy(d);
    mpx_proxy_destroy(ns);
    /* the CPython client's objects are gone with its proxies */
    CHECK_EQ(mpx_manager_number_of_objects(c), 0);
    mpx_manager_destroy(c);
    mpx_manager_registry_destroy(cr);
    mpx_manager_destroy(m);
    mpx_manager_registry_destroy(r);
}

MPX_TEST_T(mgr_cpython311_client_uses_mpx_manager, 120) { cpython_client(NULL); }
MPX_TEST_T(mgr_cpython312_client_uses_mpx_manager, 120) { cpython_client("3.12"); }
MPX_TEST_T(mgr_cpython313_client_uses_mpx_manager, 120) { cpython_client("3.13"); }

/* ---- a CPython server for mpx clients ------------------------------------------------- */

static void cpython_server(const char *version)
{
    const char *python = need_python(version);
    char kh[128];
    hexkey(key, kh);
    char *argv[] = {(char *)python, (char *)pyp_script("mgr_peer.py"), "serve", kh, NULL};
    pypeer py;
    CHECK_OK(pyp_start(&py, argv, 1));
    char line[256];
    pyp_line(&py, line, sizeof line, 30000);
    if (strncmp(line, "ADDR ", 5) != 0) {
        pyp_kill(&py);
        FAIL("python server did not start: %s", line);
    }
    const char *addr = line + 5;
    mpx_manager_registry *r = queue_registry(false);
    mpx_manager_opts o = {0};
    o.address = addr;
    /* a wrong key: MPX_EAUTH here, and the CPython server goes on */
    o.authkey = "wrong";
    o.authkey_len = 5;
    mpx_manager *m;
    CHECK_OK(mpx_manager_create(&m, r, &o));
    CHECK_ERR(mpx_manager_connect(m), MPX_EAUTH);
    mpx_manager_destroy(m);
    o.authkey = key;
    o.authkey_len = strlen(key);
    CHECK_OK(mpx_manager_create(&m, r, &o));
    CHECK_OK(mpx_manager_connect(m));
    /* the remote queue (MGR-21) */
    mpx_proxy *q;
    CHECK_OK(mpx_manager_make(m, "get_queue", NULL, NULL, &q));
    CHECK_STREQ(mpx_proxy_type_name(q), "AutoProxy[get_queue]");
    CHECK(mpx_proxy_is_exposed(q, "put"));
    mpx_obj *v = mpx_obj_build("(si)", "hello", 42), *got;
    CHECK_OK(mpx_proxy_queue_put(q, v, MPX_FOREVER));
    CHECK_OK(mpx_proxy_queue_get(q, &got, 5000));
    CHECK_EQ(mpx_obj_equal(got, v), 1);
    mpx_obj_decref(got);
    mpx_obj_decref(v);
    CHECK_ERR(mpx_proxy_queue_get(q, &got, 20), MPX_EEMPTY);
    mpx_remote_error err;
    CHECK_ERR(mpx_proxy_callmethod(q, "get_nowait", NULL, NULL, &got, NULL, &err), MPX_EEMPTY);
    CHECK_STREQ(err.type, "_queue.Empty");
    mpx_remote_error_clear(&err);
    CHECK_EQ(mpx_proxy_queue_empty(q), 1);
    /* SyncManager's create on CPython: dict and list */
    mpx_proxy *d, *l;
    mpx_obj *init = mpx_obj_build("{s:i}", "a", 1);
    CHECK_OK(mpx_manager_dict(m, init, &d));
    mpx_obj_decref(init);
    CHECK_STREQ(mpx_proxy_type_name(d), "DictProxy");
    CHECK_OK(mpx_proxy_dict_set_s(d, "b", v = mpx_obj_float(2.5)));
    mpx_obj_decref(v);
    CHECK_EQ(mpx_proxy_len(d), 2);
    CHECK_ERR(mpx_proxy_dict_get_s(d, "zz", &got), MPX_EKEY);
    char *s = mpx_proxy_str(d);
    CHECK_STREQ(s, "{'a': 1, 'b': 2.5}");
    mpx_free(s);
    mpx_proxy *it; /* __iter__ -> '#PROXY' Iterator */
    CHECK_OK(mpx_proxy_callmethod(d, "__iter__", NULL, NULL, NULL, &it, NULL));
    CHECK_STREQ(mpx_proxy_type_name(it), "IteratorProxy");
    CHECK_OK(mpx_proxy_next(it, &got));
    CHECK_STREQ(mpx_obj_str_value(got), "a");
    mpx_obj_decref(got);
    CHECK_OK(mpx_proxy_next(it, &got));
    mpx_obj_decref(got);
    CHECK_ERR(mpx_proxy_next(it, &got), MPX_EEOF);
    mpx_proxy_destroy(it);
    init = mpx_obj_build("[ii]", 1, 2);
    CHECK_OK(mpx_manager_list(m, init, &l));
    mpx_obj_decref(init);
    CHECK_OK(mpx_proxy_list_append(l, v = mpx_obj_int(3)));
    mpx_obj_decref(v);
    CHECK_ERR(mpx_proxy_list_get(l, 10, &got), MPX_EINDEX);
    /* a nested proxy: the dict stored in the list, changed through it */
    mpx_obj *dv = mpx_proxy_to_obj(d);
    CHECK_OK(mpx_proxy_list_append(l, dv));
    mpx_obj_decref(dv);
    mpx_proxy *inner;
    CHECK_OK(mpx_proxy_list_get_proxy(l, 3, &inner));
    CHECK_OK(mpx_proxy_dict_set_s(inner, "c", v = mpx_obj_str("via list")));
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_dict_get_s(d, "c", &got));
    CHECK_STREQ(mpx_obj_str_value(got), "via list");
    mpx_obj_decref(got);
    mpx_proxy_destroy(inner);
    /* a Pool of the CPython manager running the Python functions of its
     * __main__ (MGR-16): the same requests CPython's PoolProxy sends */
    mpx_proxy *pool, *ar;
    CHECK_OK(mpx_manager_pool(m, 1, &pool));
    CHECK_STREQ(mpx_proxy_type_name(pool), "PoolProxy");
    mpx_obj *xs = mpx_obj_build("[iii]", 1, 2, 3);
    CHECK_OK(mpx_proxy_pool_map(pool, "mgr_py_square", xs, 0, &got));
    s = mpx_obj_repr(got);
    CHECK_STREQ(s, "[1, 4, 9]");
    mpx_free(s);
    mpx_obj_decref(got);
    mpx_obj *pa = mpx_obj_build("(ii)", 2, 3), *pk = mpx_obj_build("{s:i}", "extra", 10);
    CHECK_OK(mpx_proxy_pool_apply(pool, "mgr_py_add", pa, pk, &got));
    CHECK_EQ(mpx_obj_equal(got, v = mpx_obj_int(15)), 1);
    mpx_obj_decref(v);
    mpx_obj_decref(got);
    mpx_obj_decref(pa);
    mpx_obj_decref(pk);
    CHECK_OK(mpx_proxy_pool_map_async(pool, "mgr_py_square", xs, 2, &ar));
    CHECK_STREQ(mpx_proxy_typeid(ar), "AsyncResult");
    CHECK_OK(mpx_proxy_result_get(ar, MPX_FOREVER, &got));
    s = mpx_obj_repr(got);
    CHECK_STREQ(s, "[1, 4, 9]");
    mpx_free(s);
    mpx_obj_decref(got);
    CHECK_EQ(mpx_proxy_result_ready(ar), 1);
    CHECK_EQ(mpx_proxy_result_successful(ar), 1);
    mpx_proxy_destroy(ar);
    CHECK_OK(mpx_proxy_pool_imap(pool, "mgr_py_square", xs, 0, &it));
    CHECK_OK(mpx_proxy_next(it, &got));
    CHECK_EQ(mpx_obj_equal(got, v = mpx_obj_int(1)), 1);
    mpx_obj_decref(v);
    mpx_obj_decref(got);
    mpx_proxy_destroy(it);
    mpx_obj *x13 = mpx_obj_build("[ii]", 2, 13);
    CHECK_ERR(mpx_proxy_pool_map(pool, "mgr_py_square", x13, 0, &got), MPX_EINVAL);
    s = mpx_obj_repr(got);
    CHECK_STREQ(s, "ValueError('thirteen')");
    mpx_free(s);
    mpx_obj_decref(got);
    mpx_obj_decref(x13);
    CHECK_ERR(mpx_proxy_pool_join(pool), MPX_ESTATE); /* "Pool is still running" */
    CHECK_OK(mpx_proxy_pool_close(pool));
    CHECK_OK(mpx_proxy_pool_join(pool));
    CHECK_ERR(mpx_proxy_pool_map(pool, "mgr_py_square", xs, 0, &got), MPX_ESTATE);
    mpx_obj_decref(xs);
    mpx_proxy_destroy(pool);
    int64_t before = mpx_manager_number_of_objects(m);
    CHECK(before >= 3);
    mpx_proxy_destroy(l);
    mpx_proxy_destroy(q);
    CHECK_EQ(mpx_manager_number_of_objects(m), before - 2);
    mpx_proxy_destroy(d);
    mpx_manager_destroy(m);
    mpx_manager_registry_destroy(r);
    kill(py.pid, SIGTERM);
    pyp_wait(&py, 30000);
}

MPX_TEST_T(mgr_mpx_client_uses_cpython311_server, 120) { cpython_server(NULL); }
MPX_TEST_T(mgr_mpx_client_uses_cpython312_server, 120) { cpython_server("3.12"); }
MPX_TEST_T(mgr_mpx_client_uses_cpython313_server, 120) { cpython_server("3.13"); }
