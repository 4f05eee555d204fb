/* test_manager_pool.c - SyncManager.Pool (#16, MGR-16): a pool in the
 * manager used through a PoolProxy from this process and from a child
 * under every start method: apply, map, starmap, their async forms
 * (AsyncResult proxies: get, wait, ready, successful), imap and
 * imap_unordered (Iterator proxies), close/join/terminate, a task's
 * exception coming back as with the local value pool (mpx/pool.h,
 * "Values"), misuse. Functions are named: the manager's program registered
 * them (MPX_REGISTER_FUNCTION). No test depends on timing: a task that
 * must still be running waits for a file the test creates. */
#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check_repr(const mpx_obj *v, const char *want)
{
    char *r = mpx_obj_repr(v);
    CHECK(r);
    if (strcmp(r, want) != 0)
        FAIL("repr %s, want %s", r, want);
    mpx_free(r);
}

/* f(x) = x * x; ValueError('thirteen') for 13, TypeError for a non-int */
static mpx_obj *mgr_square(mpx_obj *x, mpx_obj **error)
{
    int64_t v;
    if (mpx_obj_get_int(x, &v))
        return mpx_task_raise(error, "TypeError", "not an int");
    if (v == 13)
        return mpx_task_raise(error, "ValueError", "thirteen");
    return mpx_obj_int(v * v);
}
MPX_REGISTER_FUNCTION(mgr_square);

/* f(*args, **kwds) = sum(args) + kwds.get('extra', 0) */
static mpx_obj *mgr_add(mpx_obj *args, mpx_obj *kwargs, mpx_obj **error)
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
MPX_REGISTER_FUNCTION(mgr_add);

/* f(path[, started]): creates the file started (when given), waits until
 * the file path exists (at most 100 s), returns 'open' */
static mpx_obj *mgr_gate(mpx_obj *args, mpx_obj *kwargs, mpx_obj **error)
{
    (void)kwargs;
    int64_t n = mpx_obj_len(args);
    const char *path = n >= 1 ? mpx_obj_str_value(mpx_obj_item(args, 0)) : NULL;
    const char *started = n == 2 ? mpx_obj_str_value(mpx_obj_item(args, 1)) : NULL;
    if (!path || n > 2 || (n == 2 && !started))
        return mpx_task_raise(error, "TypeError", "gate(path[, started])");
    if (started) {
        int fd = open(started, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
    for (int i = 0; i < 10000 && access(path, F_OK) != 0; i++)
        usleep(10000);
    return mpx_obj_str("open");
}
MPX_REGISTER_FUNCTION(mgr_gate);

static void open_gate(const char *path)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    close(fd);
}

static mpx_obj *range_list(int n)
{
    mpx_obj *l = mpx_obj_list();
    for (int i = 0; i < n; i++)
        mpx_obj_list_append_new(l, mpx_obj_int(i));
    return l;
}

static void use_pool(mpx_proxy *pool)
{
    mpx_obj *xs = range_list(10), *v;
    CHECK_OK(mpx_proxy_pool_map(pool, "mgr_square", xs, 0, &v));
    check_repr(v, "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]");
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_pool_map(pool, "mgr_square", xs, 3, &v)); /* chunksize 3 */
    check_repr(v, "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]");
    mpx_obj_decref(v);

    mpx_obj *args = mpx_obj_build("(ii)", 2, 3), *kw = mpx_obj_build("{s:i}", "extra", 10);
    CHECK_OK(mpx_proxy_pool_apply(pool, "mgr_add", args, NULL, &v));
    check_repr(v, "5");
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_pool_apply(pool, "mgr_add", args, kw, &v));
    check_repr(v, "15");
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_pool_apply(pool, "mgr_add", NULL, NULL, &v)); /* apply(f) */
    check_repr(v, "0");
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_pool_apply(pool, "mgr_add", NULL, kw, &v)); /* apply(f, (), kw) */
    check_repr(v, "10");
    mpx_obj_decref(v);

    mpx_obj *pairs = mpx_obj_build("[(ii)(ii)(iii)]", 1, 2, 3, 4, 5, 6, 7);
    CHECK_OK(mpx_proxy_pool_starmap(pool, "mgr_add", pairs, 0, &v));
    check_repr(v, "[3, 7, 18]");
    mpx_obj_decref(v);

    /* AsyncResult proxies */
    mpx_proxy *r;
    CHECK_OK(mpx_proxy_pool_map_async(pool, "mgr_square", xs, 0, &r));
    CHECK_STREQ(mpx_proxy_typeid(r), "AsyncResult");
    CHECK_OK(mpx_proxy_result_get(r, MPX_FOREVER, &v));
    check_repr(v, "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]");
    mpx_obj_decref(v);
    CHECK_EQ(mpx_proxy_result_ready(r), 1);
    CHECK_EQ(mpx_proxy_result_successful(r), 1);
    CHECK_EQ(mpx_proxy_result_wait(r, 0), 1);
    mpx_proxy_destroy(r);
    CHECK_OK(mpx_proxy_pool_apply_async(pool, "mgr_add", args, kw, &r));
    CHECK_OK(mpx_proxy_result_get(r, 120000, &v));
    check_repr(v, "15");
    mpx_obj_decref(v);
    mpx_proxy_destroy(r);
    CHECK_OK(mpx_proxy_pool_starmap_async(pool, "mgr_add", pairs, 1, &r));
    CHECK_EQ(mpx_proxy_result_wait(r, MPX_FOREVER), 1);
    CHECK_OK(mpx_proxy_result_get(r, 0, &v)); /* ready: get(0) gives it */
    check_repr(v, "[3, 7, 18]");
    mpx_obj_decref(v);
    mpx_proxy_destroy(r);

    /* imap: in order; imap_unordered: every result once */
    mpx_proxy *it;
    CHECK_OK(mpx_proxy_pool_imap(pool, "mgr_square", xs, 0, &it));
    CHECK_STREQ(mpx_proxy_typeid(it), "Iterator");
    for (int i = 0; i < 10; i++) {
        CHECK_OK(mpx_proxy_next(it, &v));
        int64_t n;
        CHECK_OK(mpx_obj_get_int(v, &n));
        CHECK_EQ(n, (int64_t)i * i);
        mpx_obj_decref(v);
    }
    CHECK_ERR(mpx_proxy_next(it, &v), MPX_EEOF);
    mpx_proxy_destroy(it);
    CHECK_OK(mpx_proxy_pool_imap_unordered(pool, "mgr_square", xs, 2, &it));
    int64_t sum = 0;
    for (int i = 0; i < 10; i++) {
        int64_t n;
        CHECK_OK(mpx_proxy_next(it, &v));
        CHECK_OK(mpx_obj_get_int(v, &n));
        sum += n;
        mpx_obj_decref(v);
    }
    CHECK_EQ(sum, 285);
    CHECK_ERR(mpx_proxy_next(it, &v), MPX_EEOF);
    mpx_proxy_destroy(it);
    mpx_obj_decref(pairs);
    mpx_obj_decref(args);
    mpx_obj_decref(kw);
    mpx_obj_decref(xs);
}

static int pool_child(const mpx_args *a)
{
    use_pool(mpx_args_object(a, 0));
    return 0;
}

MPX_TEST_T(mgr_pool_apply_map_imap_async, 180)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *pool;
    CHECK_OK(mpx_manager_pool(m, 2, &pool));
    CHECK_STREQ(mpx_proxy_typeid(pool), "Pool");
    CHECK_STREQ(mpx_proxy_type_name(pool), "PoolProxy");
    char *s = mpx_proxy_str(pool);
    CHECK_STREQ(s, "<multiprocessing.pool.Pool state=RUN pool_size=2>");
    mpx_free(s);
    use_pool(pool);
    /* the same proxy from a child */
    mpx_args *a;
    mpx_process *p;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, pool));
    CHECK_OK(mpx_process_create(&p, pool_child, a, NULL));
    CHECK_OK(mpx_process_start(p));
    mpx_process_join(p, MPX_FOREVER);
    int code = -1;
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    CHECK_EQ(code, 0);
    mpx_process_destroy(p);
    mpx_args_destroy(a);
    /* join before close is Python's ValueError("Pool is still running"):
     * MPX_ESTATE as mpx_pool_join; after close the pool refuses work */
    CHECK_ERR(mpx_proxy_pool_join(pool), MPX_ESTATE);
    CHECK_OK(mpx_proxy_pool_close(pool));
    CHECK_OK(mpx_proxy_pool_join(pool));
    s = mpx_proxy_str(pool);
    CHECK_STREQ(s, "<multiprocessing.pool.Pool state=CLOSE pool_size=2>");
    mpx_free(s);
    mpx_obj *xs = range_list(3), *v = NULL;
    CHECK_ERR(mpx_proxy_pool_map(pool, "mgr_square", xs, 0, &v), MPX_ESTATE);
    CHECK(v == NULL);
    mpx_proxy *r = NULL;
    CHECK_ERR(mpx_proxy_pool_map_async(pool, "mgr_square", xs, 0, &r), MPX_ESTATE);
    CHECK(r == NULL);
    /* the server's own message, as CPython's */
    mpx_remote_error err = {0};
    mpx_obj *f = mpx_manager_function("mgr_square"), *fa = mpx_obj_build("(OO)", f, xs);
    CHECK_ERR(mpx_proxy_callmethod(pool, "map", fa, NULL, &v, NULL, &err), MPX_EINVAL);
    CHECK_STREQ(err.type, "ValueError");
    CHECK_STREQ(err.text, "Pool not running");
    mpx_remote_error_clear(&err);
    mpx_obj_decref(fa);
    mpx_obj_decref(f);
    mpx_obj_decref(xs);
    mpx_proxy_destroy(pool);
    CHECK_EQ(mpx_manager_number_of_objects(m), 0);
    mpx_manager_destroy(m);
}

MPX_TEST_T(mgr_pool_task_errors_as_local_pool, 180)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *pool, *r;
    CHECK_ERR(mpx_manager_pool(m, 0, &pool), MPX_EINVAL); /* Pool(0): ValueError */
    CHECK_ERR(mpx_manager_pool(m, -1, &pool), MPX_EINVAL);
    /* Pool(processes, initializer, initargs, maxtasksperchild) by keyword */
    mpx_obj *kw = mpx_obj_build("{s:i}", "processes", 0);
    CHECK_ERR(mpx_manager_make(m, "Pool", NULL, kw, &pool), MPX_EINVAL);
    mpx_obj_decref(kw);
    kw = mpx_obj_build("{s:i}", "maxtasksperchild", 0);
    CHECK_ERR(mpx_manager_make(m, "Pool", NULL, kw, &pool), MPX_EINVAL);
    mpx_obj_decref(kw);
    kw = mpx_obj_build("{s:s}", "initializer", "f");
    CHECK_ERR(mpx_manager_make(m, "Pool", NULL, kw, &pool), MPX_ENOTSUP);
    mpx_obj_decref(kw);
    kw = mpx_obj_build("{s:i s:i}", "processes", 1, "maxtasksperchild", 1);
    CHECK_OK(mpx_manager_make(m, "Pool", NULL, kw, &pool));
    mpx_obj_decref(kw);
    mpx_obj *three = mpx_obj_build("[iii]", 1, 2, 3), *l3 = NULL;
    CHECK_OK(mpx_proxy_pool_map(pool, "mgr_square", three, 1, &l3)); /* a new worker per task */
    check_repr(l3, "[1, 4, 9]");
    mpx_obj_decref(l3);
    mpx_obj_decref(three);
    mpx_proxy_destroy(pool);
    CHECK_OK(mpx_manager_pool(m, MPX_POOL_DEFAULT, &pool));
    /* a task's exception comes back as that exception: the same value the
     * local value pool gives (mpx_pool_map_obj), with its code */
    mpx_obj *xs = mpx_obj_build("[iii]", 1, 13, 2), *v = NULL, *lv = NULL;
    mpx_pool *local;
    CHECK_OK(mpx_pool_create(&local, 1, NULL));
    CHECK_ERR(mpx_pool_map_obj(local, mgr_square, xs, NULL, &lv), MPX_ETASK);
    check_repr(lv, "ValueError('thirteen')");
    CHECK_ERR(mpx_proxy_pool_map(pool, "mgr_square", xs, 0, &v), MPX_EINVAL);
    CHECK(v != NULL);
    check_repr(v, "ValueError('thirteen')");
    mpx_obj_decref(v);
    mpx_obj_decref(lv);
    mpx_pool_close(local);
    mpx_pool_join(local);
    mpx_pool_destroy(local);
    mpx_remote_error err = {0};
    mpx_obj *f = mpx_manager_function("mgr_square");
    mpx_obj *args = mpx_obj_build("(OO)", f, xs);
    CHECK_ERR(mpx_proxy_callmethod(pool, "map", args, NULL, &v, NULL, &err), MPX_EINVAL);
    CHECK(v == NULL);
    CHECK_EQ(err.kind, MPX_REMOTE_EXCEPTION);
    CHECK_STREQ(err.type, "ValueError");
    CHECK(err.text && strstr(err.text, "thirteen"));
    mpx_remote_error_clear(&err);
    mpx_obj_decref(args);
    /* through an AsyncResult: get fails the same way, successful is 0 */
    CHECK_OK(mpx_proxy_pool_map_async(pool, "mgr_square", xs, 0, &r));
    CHECK_ERR(mpx_proxy_result_get(r, MPX_FOREVER, &v), MPX_EINVAL);
    check_repr(v, "ValueError('thirteen')");
    mpx_obj_decref(v);
    CHECK_EQ(mpx_proxy_result_ready(r), 1);
    CHECK_EQ(mpx_proxy_result_successful(r), 0);
    mpx_proxy_destroy(r);
    /* through imap: that item fails, the next ones still come */
    mpx_proxy *it;
    CHECK_OK(mpx_proxy_pool_imap(pool, "mgr_square", xs, 1, &it));
    CHECK_OK(mpx_proxy_next(it, &v));
    check_repr(v, "1");
    mpx_obj_decref(v);
    v = NULL;
    CHECK_ERR(mpx_proxy_next(it, &v), MPX_EINVAL);
    CHECK(v == NULL);
    CHECK_OK(mpx_proxy_next(it, &v));
    check_repr(v, "4");
    mpx_obj_decref(v);
    CHECK_ERR(mpx_proxy_next(it, &v), MPX_EEOF);
    mpx_proxy_destroy(it);
    /* an item of the wrong type: TypeError from the task */
    mpx_obj *bad = mpx_obj_build("[s]", "x");
    CHECK_ERR(mpx_proxy_pool_map(pool, "mgr_square", bad, 0, &v), MPX_ETYPE);
    check_repr(v, "TypeError('not an int')");
    mpx_obj_decref(v);
    mpx_obj_decref(bad);
    /* a function nobody registered; a value that is no function */
    CHECK_ERR(mpx_proxy_pool_map(pool, "no_such_function", xs, 0, &v), MPX_EINVAL);
    mpx_obj_decref(v);
    mpx_obj *notfn = mpx_obj_build("(iO)", 5, xs);
    CHECK_ERR(mpx_proxy_call(pool, "map", notfn, NULL, &v), MPX_ETYPE);
    mpx_obj_decref(notfn);
    CHECK_ERR(mpx_proxy_pool_map(pool, NULL, xs, 0, &v), MPX_EINVAL);
    CHECK(v == NULL);
    CHECK_ERR(mpx_proxy_pool_map(pool, "mgr_square", NULL, 0, &v), MPX_EINVAL);
    CHECK_ERR(mpx_proxy_pool_map(pool, "mgr_square", xs, 0, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_proxy_result_get(NULL, 0, &v), MPX_EINVAL);
    /* not an iterable; bad chunksize (Python's ValueError) */
    mpx_obj *five = mpx_obj_int(5);
    CHECK_ERR(mpx_proxy_pool_map(pool, "mgr_square", five, 0, &v), MPX_ETYPE);
    mpx_obj_decref(v);
    mpx_obj *neg = mpx_obj_build("(OOi)", f, xs, -1);
    CHECK_ERR(mpx_proxy_call(pool, "map", neg, NULL, &v), MPX_EINVAL);
    mpx_obj_decref(neg);
    mpx_obj_decref(five);
    /* callbacks would run in the manager: refused */
    mpx_obj *cb = mpx_obj_build("(OOOO)", f, xs, mpx_obj_none(), f);
    CHECK_ERR(mpx_proxy_call(pool, "map_async", cb, NULL, &v), MPX_ENOTSUP);
    mpx_obj_decref(cb);
    /* terminate, then nothing runs; close after terminate is harmless */
    CHECK_OK(mpx_proxy_pool_terminate(pool));
    CHECK_OK(mpx_proxy_pool_close(pool));
    CHECK_OK(mpx_proxy_pool_join(pool));
    CHECK_ERR(mpx_proxy_pool_apply(pool, "mgr_add", NULL, NULL, &v), MPX_ESTATE);
    CHECK(v == NULL);
    mpx_obj_decref(f);
    mpx_obj_decref(xs);
    mpx_proxy_destroy(pool);
    CHECK_EQ(mpx_manager_number_of_objects(m), 0);
    mpx_manager_destroy(m);
}

/* AsyncResult.get(timeout) on a task still running: TimeoutError
 * (MPX_ETIMEDOUT), wait(0) 0, ready 0, successful not ready (MPX_ESTATE);
 * then the value. The task waits for a file: no timing assumption. */
MPX_TEST_T(mgr_pool_async_result_not_ready, 180)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *pool, *r;
    CHECK_OK(mpx_manager_pool(m, 1, &pool));
    char gate[512];
    snprintf(gate, sizeof gate, "%s", mpx_test_tmp_path(".gate"));
    mpx_obj *ga = mpx_obj_build("(s)", gate), *v = NULL;
    CHECK_OK(mpx_proxy_pool_apply_async(pool, "mgr_gate", ga, NULL, &r));
    CHECK_ERR(mpx_proxy_result_get(r, 50, &v), MPX_ETIMEDOUT);
    CHECK(v == NULL);
    CHECK_ERR(mpx_proxy_result_get(r, MPX_NOWAIT, &v), MPX_ETIMEDOUT);
    CHECK_EQ(mpx_proxy_result_wait(r, 0), 0);
    CHECK_EQ(mpx_proxy_result_wait(r, 20), 0);
    CHECK_EQ(mpx_proxy_result_ready(r), 0);
    CHECK_ERR(mpx_proxy_result_successful(r), MPX_ESTATE); /* ValueError: not ready */
    /* a starmap_async queued behind it (one worker), with a keyword */
    mpx_obj *gates = mpx_obj_build("[O]", ga), *gf = mpx_manager_function("mgr_gate");
    mpx_obj *sm = mpx_obj_build("(OO)", gf, gates), *kw = mpx_obj_build("{s:i}", "chunksize", 1);
    mpx_proxy *r2;
    CHECK_OK(mpx_proxy_callmethod(pool, "starmap_async", sm, kw, NULL, &r2, NULL));
    mpx_obj_decref(sm);
    mpx_obj_decref(kw);
    mpx_obj_decref(gf);
    mpx_obj_decref(gates);
    CHECK_EQ(mpx_proxy_result_ready(r2), 0);
    open_gate(gate);
    CHECK_OK(mpx_proxy_result_get(r, MPX_FOREVER, &v));
    check_repr(v, "'open'");
    mpx_obj_decref(v);
    CHECK_EQ(mpx_proxy_result_successful(r), 1);
    CHECK_OK(mpx_proxy_result_get(r2, MPX_FOREVER, &v));
    check_repr(v, "['open']");
    mpx_obj_decref(v);
    unlink(gate);
    mpx_proxy_destroy(r2);
    mpx_obj_decref(ga);
    mpx_proxy_destroy(r);
    mpx_proxy_destroy(pool);
    CHECK_EQ(mpx_manager_number_of_objects(m), 0);
    mpx_manager_destroy(m);
}

/* A result that outlives its pool's proxy keeps the pool working; an
 * imap iterator released before its end leaves nothing behind. */
MPX_TEST_T(mgr_pool_result_outlives_proxy, 120)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *pool, *r, *it;
    CHECK_OK(mpx_manager_pool(m, 1, &pool));
    mpx_obj *xs = mpx_obj_build("[iii]", 2, 3, 4), *v;
    CHECK_OK(mpx_proxy_pool_map_async(pool, "mgr_square", xs, 0, &r));
    CHECK_OK(mpx_proxy_pool_imap(pool, "mgr_square", xs, 0, &it));
    mpx_proxy_destroy(pool);
    CHECK_OK(mpx_proxy_result_get(r, MPX_FOREVER, &v));
    check_repr(v, "[4, 9, 16]");
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_next(it, &v));
    check_repr(v, "4");
    mpx_obj_decref(v);
    mpx_proxy_destroy(it);
    mpx_obj_decref(xs);
    mpx_proxy_destroy(r);
    CHECK_EQ(mpx_manager_number_of_objects(m), 0);
    mpx_manager_destroy(m);
}

/* ---- a client killed in the middle of pool.map -------------------------------------------- */

/* The refcount the server reports for ident (debug_info), -1 when absent. */
static long refcount_of(mpx_manager *m, const char *ident)
{
    char *info;
    CHECK_OK(mpx_manager_debug_info(m, &info));
    long n = -1;
    const char *at = strstr(info, ident);
    if (at && (at = strstr(at, "refcount=")))
        n = strtol(at + 9, NULL, 10);
    mpx_free(info);
    return n;
}

static int killed_mapper(const mpx_args *a)
{
    mpx_proxy *pool = mpx_args_object(a, 0);
    mpx_obj *items = mpx_args_obj(a, 1), *v = NULL;
    mpx_proxy_pool_starmap(pool, "mgr_gate", items, 1, &v); /* killed in here */
    return 2;
}

static void wait_file(const char *path)
{
    int64_t end = mpx_test_now_ms() + 120000;
    while (access(path, F_OK) != 0) {
        if (mpx_test_now_ms() > end)
            FAIL("%s never appeared", path);
        usleep(10000);
    }
}

/* The server's call ends when its client dies (the pool's waits run in
 * slices), and the tasks of that call that had not started are cancelled:
 * the pool's one worker is free for the next call. */
MPX_TEST_T(mgr_pool_client_killed_mid_map_cancels_its_tasks, 240)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *pool;
    CHECK_OK(mpx_manager_pool(m, 1, &pool));
    char gate1[512], started1[512], gate2[512], started2[512];
    snprintf(gate1, sizeof gate1, "%s", mpx_test_tmp_path(".gate1"));
    snprintf(started1, sizeof started1, "%s", mpx_test_tmp_path(".started1"));
    snprintf(gate2, sizeof gate2, "%s", mpx_test_tmp_path(".gate2"));
    snprintf(started2, sizeof started2, "%s", mpx_test_tmp_path(".started2"));
    mpx_obj *items = mpx_obj_build("[(ss)(ss)]", gate1, started1, gate2, started2);
    const char *id = mpx_proxy_ident(pool);
    CHECK_EQ(refcount_of(m, id), 1);
    mpx_args *a;
    mpx_process *p;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, pool));
    CHECK_OK(mpx_args_add_obj(a, items));
    CHECK_OK(mpx_process_create(&p, killed_mapper, a, NULL));
    CHECK_OK(mpx_process_start(p));
    wait_file(started1); /* the child is in pool.starmap, its first task runs */
    CHECK_OK(mpx_process_kill(p));
    mpx_process_join(p, MPX_FOREVER);
    int code = 0;
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    CHECK_EQ(code, -SIGKILL);
    mpx_process_destroy(p);
    mpx_args_destroy(a);
    /* the child's references go when its call has ended */
    int64_t end = mpx_test_now_ms() + 60000;
    while (refcount_of(m, id) != 1) {
        if (mpx_test_now_ms() > end)
            FAIL("the killed client's reference to the pool stayed");
        usleep(20000);
    }
    open_gate(gate1); /* the running task ends; the second was cancelled */
    mpx_obj *xs = mpx_obj_build("[ii]", 2, 3), *v;
    mpx_proxy *r;
    CHECK_OK(mpx_proxy_pool_map_async(pool, "mgr_square", xs, 0, &r));
    int rc = mpx_proxy_result_get(r, 120000, &v);
    if (rc == MPX_ETIMEDOUT) {
        open_gate(gate2);
        FAIL("the killed client's second task was not cancelled (started: %d)",
             access(started2, F_OK) == 0);
    }
    CHECK_OK(rc);
    check_repr(v, "[4, 9]");
    mpx_obj_decref(v);
    CHECK(access(started2, F_OK) != 0);
    mpx_proxy_destroy(r);
    mpx_obj_decref(xs);
    mpx_obj_decref(items);
    unlink(gate1);
    unlink(started1);
    unlink(started2);
    mpx_proxy_destroy(pool);
    CHECK_EQ(mpx_manager_number_of_objects(m), 0);
    mpx_manager_destroy(m);
}
