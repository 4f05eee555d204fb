/* test_obj_carry.c - values carried by queues and process arguments (#15):
 * q.put(obj) / q.get() on Queue, JoinableQueue and SimpleQueue (QUEUE-07..10,
 * QUEUE-19..22) with every value type, big and nested ones, across
 * processes; Process(args=(...), kwargs={...}) of any value type (PROC-03);
 * and values that travel from a CPython peer over a connection, through a
 * queue, a pool and a queue again, and back to CPython, equal all the way
 * (test/py/obj_carry_peer.py). Pools over values: test_pool_obj.c. */
#include "pypeer.h"

#include <math.h>
#include <unistd.h>

/* ---- values ---------------------------------------------------------- */

static mpx_obj *deep(int levels)
{
    mpx_obj *v = mpx_obj_int(levels);
    for (int i = 0; i < levels; i++)
        v = mpx_obj_build("[N]", v);
    CHECK(v);
    return v;
}

/* Every value type, nested ones, shared ones and a big one; the same
 * values in every process (built, never read from outside). */
static mpx_obj *make_values(void)
{
    const char *b200 = "-1606938044258990275541962092341162602522202993782792835301376";
    mpx_obj *big = mpx_obj_int_parse(b200, strlen(b200), 0, NULL); /* -(2**200) */
    CHECK(big);
    unsigned char *mib = malloc(1 << 20);
    CHECK(mib);
    for (int i = 0; i < 1 << 20; i++)
        mib[i] = (unsigned char)(i * 7);
    mpx_obj *shared = mpx_obj_build("[ii]", 1, 2);
    mpx_obj *set = mpx_obj_set(), *fs = mpx_obj_frozenset();
    mpx_obj_set_add_new(set, mpx_obj_int(3));
    mpx_obj_set_add_new(set, mpx_obj_str("x"));
    mpx_obj_set_add_new(fs, mpx_obj_build("(is)", 1, "y"));
    /* datetime.datetime(2024, 5, 17, 12, 30, 45, 123456), as CPython pickles it */
    mpx_obj *dtc = mpx_obj_class("datetime", "datetime");
    mpx_obj *dta = mpx_obj_build("(y#)", "\x07\xe8\x05\x11\x0c\x1e\x2d\x01\xe2\x40", (size_t)10);
    mpx_obj *dt = mpx_obj_instance(&(mpx_obj_reduce){MPX_OBJ_REDUCE, dtc, dta, NULL, NULL, NULL, NULL});
    mpx_obj_decref(dtc);
    mpx_obj_decref(dta);
    mpx_obj *l = mpx_obj_build(
        "[OOOiiLdddsss#y#NNNN(OO){s:O,i:[d],(ii):s}OON]", mpx_obj_none(), mpx_obj_true(),
        mpx_obj_false(), 0, -1, (long long)INT64_MIN, 2.5, -0.0, 1e-310, "", "h\xc3\xa9 \xf0\x9f\x98\x80",
        "a\0b", (size_t)3, "\0\xff", (size_t)2, big, mpx_obj_bytearray("ba", 2),
        mpx_obj_bytes_take(mib, 1 << 20), deep(200), shared, shared, "k", mpx_obj_none(), 7, 1.5, 1, 2,
        "t", set, fs, mpx_obj_class("builtins", "float"));
    CHECK(l);
    CHECK_OK(mpx_obj_list_append_new(l, dt));
    mpx_obj_decref(shared);
    mpx_obj_decref(set);
    mpx_obj_decref(fs);
    return l;
}

/* Same value and same type (1 == 1.0 == True in Python). */
static int same(const mpx_obj *a, const mpx_obj *b)
{
    if (mpx_obj_typeof(a) != mpx_obj_typeof(b))
        return 0;
    double x, y;
    if (mpx_obj_typeof(a) == MPX_OBJ_FLOAT && mpx_obj_get_float(a, &x) == 0 &&
        mpx_obj_get_float(b, &y) == 0 && isnan(x))
        return isnan(y);
    return mpx_obj_equal(a, b) == 1;
}

static void check_same(const mpx_obj *got, const mpx_obj *want, const char *what, int64_t i)
{
    if (!same(got, want)) {
        char *a = mpx_obj_repr(got), *b = mpx_obj_repr(want);
        FAIL("%s %lld: got %.200s, want %.200s", what, (long long)i, a ? a : "?", b ? b : "?");
    }
}

/* ---- queues ------------------------------------------------------------ */

static mpx_queue *mkq(int64_t maxsize, size_t ring)
{
    mpx_queue *q;
    mpx_queue_opts o = {.ring_bytes = ring};
    CHECK_OK(mpx_queue_create(&q, maxsize, &o));
    return q;
}

/* QUEUE-07, QUEUE-09: every value type through a Queue in one process. */
MPX_TEST(queue_obj_put_get_every_type)
{
    mpx_queue *q = mkq(0, 0);
    mpx_obj *vals = make_values();
    for (int64_t i = 0; i < mpx_obj_len(vals); i++)
        CHECK_OK(mpx_queue_put_obj(q, mpx_obj_item(vals, i), MPX_FOREVER));
    CHECK_OK(mpx_queue_put_obj_nowait(q, vals)); /* the whole list as one value */
    for (int64_t i = 0; i < mpx_obj_len(vals); i++) {
        mpx_obj *v = NULL;
        CHECK_OK(mpx_queue_get_obj(q, &v, 5000));
        check_same(v, mpx_obj_item(vals, i), "value", i);
        mpx_obj_decref(v);
    }
    mpx_obj *all;
    CHECK_OK(mpx_queue_get_obj_nowait(q, &all));
    CHECK_EQ(mpx_obj_equal(all, vals), 1);
    /* the shared sub-object is one object after the trip, as in Python */
    int64_t k = mpx_obj_len(all) - 6;
    mpx_obj *pair = mpx_obj_item(all, k);
    CHECK_EQ(mpx_obj_typeof(pair), MPX_OBJ_TUPLE);
    CHECK(mpx_obj_item(pair, 0) == mpx_obj_item(pair, 1));
    mpx_obj_decref(all);
    /* a self-containing list (Python's l.append(l)) */
    mpx_obj *cyc = mpx_obj_list();
    CHECK_OK(mpx_obj_list_append(cyc, cyc));
    CHECK_OK(mpx_queue_put_obj(q, cyc, MPX_FOREVER));
    mpx_obj_clear(cyc);
    mpx_obj_decref(cyc);
    CHECK_OK(mpx_queue_get_obj(q, &cyc, MPX_FOREVER));
    char *r = mpx_obj_repr(cyc);
    CHECK_STREQ(r, "[[...]]");
    mpx_free(r);
    CHECK(mpx_obj_item(cyc, 0) == cyc);
    mpx_obj_decref(cyc);
    CHECK_EQ(mpx_queue_qsize(q), 0);
    mpx_obj_decref(vals);
    mpx_queue_destroy(q);
}

/* QUEUE-19/20 and QUEUE-21/22: SimpleQueue and JoinableQueue carry values. */
MPX_TEST(queue_obj_simple_and_joinable)
{
    mpx_simple_queue *sq;
    CHECK_OK(mpx_simple_queue_create(&sq, NULL));
    mpx_queue *jq;
    CHECK_OK(mpx_joinable_queue_create(&jq, 0, NULL));
    mpx_obj *vals = make_values();
    for (int64_t i = 0; i < mpx_obj_len(vals); i++) {
        CHECK_OK(mpx_simple_queue_put_obj(sq, mpx_obj_item(vals, i)));
        CHECK_OK(mpx_queue_put_obj(jq, mpx_obj_item(vals, i), MPX_FOREVER));
    }
    CHECK_EQ(mpx_queue_unfinished(jq), (int)mpx_obj_len(vals));
    for (int64_t i = 0; i < mpx_obj_len(vals); i++) {
        mpx_obj *a, *b;
        CHECK_OK(mpx_simple_queue_get_obj(sq, &a));
        CHECK_OK(mpx_queue_get_obj(jq, &b, MPX_FOREVER));
        check_same(a, mpx_obj_item(vals, i), "simple", i);
        check_same(b, mpx_obj_item(vals, i), "joinable", i);
        CHECK_OK(mpx_queue_task_done(jq));
        mpx_obj_decref(a);
        mpx_obj_decref(b);
    }
    CHECK_EQ(mpx_simple_queue_empty(sq), 1);
    CHECK_EQ(mpx_queue_unfinished(jq), 0);
    CHECK_ERR(mpx_queue_task_done(jq), MPX_ESTATE);
    mpx_obj_decref(vals);
    mpx_simple_queue_destroy(sq);
    mpx_queue_destroy(jq);
}

/* The errors of the byte calls, and the value's own: Empty, Full, a
 * message that is not a pickle, a value the pickler refuses, bad input. */
MPX_TEST(queue_obj_errors)
{
    mpx_queue *q = mkq(1, 0);
    mpx_obj *v = NULL, *one = mpx_obj_int(1);
    CHECK_ERR(mpx_queue_get_obj_nowait(q, &v), MPX_EEMPTY);
    CHECK_ERR(mpx_queue_get_obj(q, &v, 20), MPX_EEMPTY);
    CHECK(v == NULL);
    CHECK_OK(mpx_queue_put_obj(q, one, MPX_FOREVER));
    CHECK_ERR(mpx_queue_put_obj_nowait(q, one), MPX_EFULL);
    CHECK_ERR(mpx_queue_put_obj(q, one, 20), MPX_EFULL);
    CHECK_OK(mpx_queue_get_obj(q, &v, MPX_FOREVER));
    CHECK_EQ(mpx_obj_equal(v, one), 1);
    mpx_obj_decref(v);
    v = NULL;
    /* a byte message is not a pickle: UnpicklingError, and it is consumed */
    CHECK_OK(mpx_queue_put(q, "zzz", 3, MPX_FOREVER));
    CHECK_ERR(mpx_queue_get_obj(q, &v, MPX_FOREVER), MPX_EPROTO);
    CHECK(v == NULL);
    CHECK_EQ(mpx_queue_qsize(q), 0);
    /* a value put is read back by the byte calls as its pickle */
    CHECK_OK(mpx_queue_put_obj(q, one, MPX_FOREVER));
    void *m;
    size_t n;
    CHECK_OK(mpx_queue_get(q, &m, &n, MPX_FOREVER));
    CHECK_EQ(n, 5);
    CHECK_MEMEQ(m, "\x80\x04K\x01.", 5);
    mpx_free(m);
    /* nesting past the limit fails before anything is queued */
    mpx_obj *d = deep(MPX_OBJ_MAX_DEPTH + 10);
    CHECK_ERR(mpx_queue_put_obj(q, d, MPX_FOREVER), MPX_EDEPTH);
    CHECK_EQ(mpx_queue_qsize(q), 0);
    mpx_obj_decref(d);
    CHECK_ERR(mpx_queue_put_obj(NULL, one, 0), MPX_EINVAL);
    CHECK_ERR(mpx_queue_put_obj(q, NULL, 0), MPX_EINVAL);
    CHECK_ERR(mpx_queue_get_obj(q, NULL, 0), MPX_EINVAL);
    CHECK_ERR(mpx_queue_get_obj(NULL, &v, 0), MPX_EINVAL);
    CHECK_ERR(mpx_simple_queue_put_obj(NULL, one), MPX_EINVAL);
    CHECK_ERR(mpx_simple_queue_get_obj(NULL, &v), MPX_EINVAL);
    CHECK_OK(mpx_queue_close(q));
    CHECK_ERR(mpx_queue_put_obj(q, one, 0), MPX_ECLOSED);
    mpx_obj_decref(one);
    mpx_queue_destroy(q);
}

/* The duration rules (D1) on value puts and gets: <= 0 only tries
 * (block=False), MPX_FOREVER waits; a shut-down queue drains its values,
 * then MPX_ESHUTDOWN (queue.ShutDown). */
MPX_TEST(queue_obj_durations_and_shutdown)
{
    mpx_queue *q = mkq(1, 0);
    mpx_obj *v = NULL, *one = mpx_obj_int(1);
    const mpx_duration nows[] = {MPX_NOWAIT, 0, -5, INT64_MIN};
    for (size_t i = 0; i < sizeof nows / sizeof nows[0]; i++)
        CHECK_ERR(mpx_queue_get_obj(q, &v, nows[i]), MPX_EEMPTY);
    CHECK_OK(mpx_queue_put_obj(q, one, 0));
    for (size_t i = 0; i < sizeof nows / sizeof nows[0]; i++)
        CHECK_ERR(mpx_queue_put_obj(q, one, nows[i]), MPX_EFULL);
    CHECK_EQ(mpx_queue_full(q), 1);
    CHECK_OK(mpx_queue_get_obj(q, &v, -1));
    CHECK_EQ(mpx_obj_equal(v, one), 1);
    mpx_obj_decref(v);
    v = NULL;
    CHECK_EQ(mpx_queue_empty(q), 1);
    CHECK_OK(mpx_queue_put_obj(q, one, MPX_FOREVER));
    CHECK_OK(mpx_queue_shutdown(q, 0));
    CHECK_ERR(mpx_queue_put_obj(q, one, MPX_FOREVER), MPX_ESHUTDOWN);
    CHECK_OK(mpx_queue_get_obj(q, &v, MPX_FOREVER));
    CHECK_EQ(mpx_obj_equal(v, one), 1);
    mpx_obj_decref(v);
    v = NULL;
    CHECK_ERR(mpx_queue_get_obj(q, &v, MPX_FOREVER), MPX_ESHUTDOWN);
    CHECK(v == NULL);
    mpx_obj_decref(one);
    mpx_queue_destroy(q);
}

/* A child takes values from one queue and puts them into another. */
static int echo_child(const mpx_args *a)
{
    mpx_queue *in = mpx_args_object(a, 0), *out = mpx_args_object(a, 1);
    for (;;) {
        mpx_obj *v;
        int rc = mpx_queue_get_obj(in, &v, 30000);
        if (rc)
            return 100 + (rc & 63);
        const char *s = mpx_obj_str_value(v);
        int end = s && strcmp(s, "__END__") == 0;
        rc = mpx_queue_put_obj(out, v, 30000);
        mpx_obj_decref(v);
        if (rc)
            return 30 + (-rc & 63);
        if (end)
            return 0;
    }
}

/* Across processes, under every start method; big values stream through
 * a small ring while the child reads. */
MPX_TEST_T(queue_obj_across_processes, 90)
{
    mpx_queue *in = mkq(0, 64 * 1024), *out = mkq(0, 64 * 1024);
    mpx_process *p = start_objs_int(echo_child, in, out, 0);
    mpx_obj *vals = make_values();
    mpx_obj *b8 = mpx_obj_bytes(NULL, 8 << 20);
    CHECK_OK(mpx_obj_list_append_new(vals, mpx_obj_build("{s:O}", "eight", b8)));
    mpx_obj_decref(b8);
    for (int64_t i = 0; i < mpx_obj_len(vals); i++) {
        CHECK_OK(mpx_queue_put_obj(in, mpx_obj_item(vals, i), 30000));
        mpx_obj *v;
        int rc = mpx_queue_get_obj(out, &v, 30000);
        if (rc)
            FAIL("value %lld: %s (child: %d)", (long long)i, mpx_err_name(rc), join_destroy(p));
        check_same(v, mpx_obj_item(vals, i), "echoed", i);
        mpx_obj_decref(v);
    }
    mpx_obj *v = mpx_obj_str("__END__");
    CHECK_OK(mpx_queue_put_obj(in, v, 30000));
    mpx_obj_decref(v);
    CHECK_OK(mpx_queue_get_obj(out, &v, 30000));
    CHECK_STREQ(mpx_obj_str_value(v), "__END__");
    mpx_obj_decref(v);
    CHECK_EQ(join_destroy(p), 0);
    mpx_obj_decref(vals);
    mpx_queue_destroy(in);
    mpx_queue_destroy(out);
}

/* ---- process arguments (PROC-03) -------------------------------------- */

static mpx_obj *make_kwargs(void)
{
    mpx_obj *kw = mpx_obj_build("{s:i,s:[sd],s:O}", "n", 42, "opts", "fast", 0.5, "none",
                                mpx_obj_none());
    CHECK(kw);
    return kw;
}

/* Checks its arguments: 7, then each value of make_values(), then "end",
 * and the keyword arguments of make_kwargs(); exit code = what is wrong. */
static int args_child(const mpx_args *a)
{
    mpx_obj *vals = make_values(), *kw = make_kwargs();
    int64_t n = mpx_obj_len(vals);
    int code = 0;
    if ((size_t)n + 2 != mpx_args_count(a) || mpx_args_int(a, 0) != 7)
        code = 1;
    for (int64_t i = 0; !code && i < n; i++) {
        mpx_obj *v = NULL;
        if (mpx_args_type(a, (size_t)i + 1) != MPX_ARG_OBJ ||
            mpx_args_get_obj(a, (size_t)i + 1, &v) != 0 || v != mpx_args_obj(a, (size_t)i + 1) ||
            !same(v, mpx_obj_item(vals, i)))
            code = 20 + (int)i;
    }
    if (!code && strcmp(mpx_args_str(a, (size_t)n + 1), "end") != 0)
        code = 2;
    if (!code && mpx_obj_equal(mpx_args_kwargs(a), kw) != 1)
        code = 3;
    if (!code && (mpx_obj_get_int(mpx_obj_dict_get_s(mpx_args_kwargs(a), "n"), &n) || n != 42))
        code = 4;
    mpx_obj_decref(vals);
    mpx_obj_decref(kw);
    return code;
}

MPX_TEST_T(proc_03_args_of_any_value_type, 60)
{
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_int(a, 7));
    mpx_obj *vals = make_values(), *kw = make_kwargs();
    for (int64_t i = 0; i < mpx_obj_len(vals); i++)
        CHECK_OK(mpx_args_add_obj(a, mpx_obj_item(vals, i)));
    CHECK_OK(mpx_args_add_str(a, "end"));
    CHECK_OK(mpx_args_set_kwargs(a, kw));
    mpx_obj_decref(vals);
    mpx_obj_decref(kw);
    mpx_process *p = start_args(args_child, a);
    mpx_args_destroy(a);
    CHECK_EQ(join_destroy(p), 0);
}

/* The child sees a value as it is when the process starts (Python's args
 * tuple holds the object), and kwargs as they were when set (Python copies
 * the dict). */
static int mutated_child(const mpx_args *a)
{
    mpx_obj *l = mpx_args_obj(a, 0);
    mpx_obj *want = mpx_obj_build("[ii]", 1, 2);
    int ok = mpx_obj_equal(l, want) == 1 && mpx_obj_len(mpx_args_kwargs(a)) == 1;
    mpx_obj_decref(want);
    return ok ? 0 : 1;
}

MPX_TEST(proc_03_args_obj_reference_and_kwargs_copy)
{
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    mpx_obj *l = mpx_obj_build("[i]", 1), *kw = mpx_obj_build("{s:i}", "a", 1);
    CHECK_OK(mpx_args_add_obj(a, l));
    CHECK_OK(mpx_args_set_kwargs(a, kw));
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, mutated_child, a, NULL));
    mpx_args_destroy(a);
    CHECK_OK(mpx_obj_list_append_new(l, mpx_obj_int(2)));
    CHECK_OK(mpx_obj_dict_set_s_new(kw, "b", mpx_obj_int(2)));
    CHECK_OK(mpx_process_start(p));
    CHECK_EQ(join_destroy(p), 0);
    mpx_obj_decref(l);
    mpx_obj_decref(kw);
}

static int one_child(const mpx_args *a)
{
    (void)a;
    return 1;
}

MPX_TEST(proc_03_args_obj_bad_input)
{
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    mpx_obj *one = mpx_obj_int(1), *v = NULL;
    CHECK_ERR(mpx_args_add_obj(NULL, one), MPX_EINVAL);
    CHECK_ERR(mpx_args_add_obj(a, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_args_add_obj_new(a, NULL), MPX_EINVAL);
    CHECK_ERR(mpx_args_add_obj_new(NULL, mpx_obj_int(5)), MPX_EINVAL); /* stolen, freed */
    CHECK_OK(mpx_args_add_int(a, 3));
    CHECK_OK(mpx_args_add_obj_new(a, mpx_obj_str("s")));
    CHECK_ERR(mpx_args_get_obj(a, 0, &v), MPX_EINVAL);
    CHECK_ERR(mpx_args_get_obj(a, 2, &v), MPX_EINVAL);
    CHECK(mpx_args_obj(a, 0) == NULL);
    CHECK(mpx_args_obj(a, 9) == NULL);
    CHECK_OK(mpx_args_get_obj(a, 1, &v));
    CHECK_STREQ(mpx_obj_str_value(v), "s");
    CHECK_EQ(mpx_args_type(a, 1), MPX_ARG_OBJ);
    CHECK(mpx_args_kwargs(a) == NULL);
    CHECK_ERR(mpx_args_set_kwargs(a, one), MPX_ETYPE);
    mpx_obj *bad = mpx_obj_build("{i:i}", 1, 2);
    CHECK_ERR(mpx_args_set_kwargs(a, bad), MPX_ETYPE); /* keywords must be strings */
    CHECK(mpx_args_kwargs(a) == NULL);
    CHECK_ERR(mpx_args_set_kwargs(NULL, NULL), MPX_EINVAL);
    mpx_obj *kw = mpx_obj_build("{s:i}", "x", 1);
    CHECK_OK(mpx_args_set_kwargs(a, kw));
    CHECK_EQ(mpx_obj_equal(mpx_args_kwargs(a), kw), 1);
    CHECK(mpx_args_kwargs(a) != kw); /* a copy */
    CHECK_OK(mpx_args_set_kwargs(a, NULL));
    CHECK(mpx_args_kwargs(a) == NULL);
    mpx_obj_decref(bad);
    mpx_obj_decref(kw);
    mpx_obj_decref(one);
    /* a value the pickler refuses: start fails where args are pickled */
    mpx_obj *d = deep(MPX_OBJ_MAX_DEPTH + 10);
    CHECK_OK(mpx_args_add_obj_new(a, d));
    mpx_process *p;
    CHECK_OK(mpx_process_create(&p, one_child, a, NULL));
    int rc = mpx_process_start(p);
    const char *m = mpx_test_start_method();
    if (strcmp(m, "fork") == 0 || strcmp(m, "thread") == 0) { /* shared, not pickled */
        CHECK_OK(rc);
        CHECK_EQ(join_code(p), 1);
    } else {
        CHECK_ERR(rc, MPX_EDEPTH);
    }
    mpx_process_destroy(p);
    mpx_args_destroy(a);
}

/* ---- everywhere: CPython -> connection -> child -> queue -> pool -> queue
 * -> child -> connection -> CPython ------------------------------------- */

static const char key[] = "carried everywhere";

static mpx_obj *identity(mpx_obj *x, mpx_obj **error)
{
    (void)error;
    return mpx_obj_incref(x);
}

/* args: address, count, q_to_parent, q_from_parent */
static int carry_child(const mpx_args *a)
{
    mpx_client_opts co = {0};
    co.authkey = key;
    co.authkey_len = strlen(key);
    mpx_connection *c;
    if (mpx_client_connect(&c, mpx_args_str(a, 0), &co))
        return 10;
    int64_t n = mpx_args_int(a, 1);
    mpx_queue *up = mpx_args_object(a, 2), *down = mpx_args_object(a, 3);
    int code = 0;
    for (int64_t i = 0; !code && i < n; i++) {
        mpx_obj *v;
        if (mpx_connection_recv_obj(c, &v, NULL, NULL))
            code = 11;
        else if (mpx_queue_put_obj(up, v, 30000))
            code = 12;
        mpx_obj_decref(v);
    }
    for (int64_t i = 0; !code && i < n; i++) {
        mpx_obj *v;
        if (mpx_queue_get_obj(down, &v, 30000))
            code = 13;
        else if (mpx_connection_send_obj(c, v))
            code = 14;
        mpx_obj_decref(v);
    }
    mpx_connection_destroy(c);
    return code;
}

static void carry_with(const char *version)
{
    const char *python = pyp_find(version);
    if (!python) {
        static char why[64];
        snprintf(why, sizeof why, "python%s not installed", version ? version : "3");
        MPX_SKIP(why);
    }
    const char *script = pyp_script("obj_carry_peer.py");
    if (!script)
        MPX_SKIP("test/py/obj_carry_peer.py not found");
    char kh[2 * sizeof key + 1];
    for (size_t i = 0; i < strlen(key); i++)
        snprintf(kh + 2 * i, 3, "%02x", (unsigned char)key[i]);
    char *argv[] = {(char *)python, (char *)script, "serve", kh, NULL};
    pypeer py;
    CHECK_OK(pyp_start(&py, argv, 0));
    char addr[256], count[64];
    pyp_line(&py, addr, sizeof addr, 30000);
    pyp_line(&py, count, sizeof count, 30000);
    if (strncmp(addr, "ADDR ", 5) != 0 || strncmp(count, "COUNT ", 6) != 0) {
        pyp_kill(&py);
        FAIL("python peer did not start: %s %s", addr, count);
    }
    int64_t n = atoll(count + 6);
    mpx_queue *up = mkq(0, 0), *down = mkq(0, 0);
    mpx_args *a;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_str(a, addr + 5));
    CHECK_OK(mpx_args_add_int(a, n));
    CHECK_OK(mpx_args_add_object(a, up));
    CHECK_OK(mpx_args_add_object(a, down));
    mpx_process *child = start_args(carry_child, a);
    mpx_args_destroy(a);
    mpx_obj *got = mpx_obj_list();
    for (int64_t i = 0; i < n; i++) {
        mpx_obj *v;
        int rc = mpx_queue_get_obj(up, &v, 30000);
        if (rc) {
            char line[512];
            pyp_line(&py, line, sizeof line, 2000);
            FAIL("value %lld from the child: %s; peer said: %s", (long long)i, mpx_err_name(rc), line);
        }
        CHECK_OK(mpx_obj_list_append_new(got, v));
    }
    /* the values CPython sent that C can name */
    int64_t k = n - 6;
    CHECK_EQ(mpx_obj_instance_of(mpx_obj_item(got, k), "datetime", "datetime"), 1);
    CHECK_EQ(mpx_obj_instance_of(mpx_obj_item(got, k + 1), "decimal", "Decimal"), 1);
    CHECK_EQ(mpx_obj_instance_of(mpx_obj_item(got, k + 2), "builtins", "ValueError"), 1);
    mpx_pool *p;
    CHECK_OK(mpx_pool_create(&p, 2, NULL));
    mpx_obj *mapped;
    mpx_obj_call_opts o = {.chunksize = 1};
    CHECK_OK(mpx_pool_map_obj(p, identity, got, &o, &mapped));
    CHECK_EQ(mpx_obj_len(mapped), n);
    for (int64_t i = 0; i < n; i++) {
        check_same(mpx_obj_item(mapped, i), mpx_obj_item(got, i), "through the pool", i);
        CHECK_OK(mpx_queue_put_obj(down, mpx_obj_item(mapped, i), 30000));
    }
    CHECK_OK(mpx_pool_close(p));
    CHECK_OK(mpx_pool_join(p));
    mpx_pool_destroy(p);
    CHECK_EQ(join_destroy(child), 0);
    char line[512];
    pyp_line(&py, line, sizeof line, 30000);
    int code = pyp_wait(&py, 30000);
    if (code != 0 || strcmp(line, "OK") != 0)
        FAIL("python peer exited %d: %s", code, line);
    mpx_obj_decref(mapped);
    mpx_obj_decref(got);
    mpx_queue_destroy(up);
    mpx_queue_destroy(down);
}

MPX_TEST_T(obj_carried_everywhere_cpython, 90) { carry_with(NULL); }
MPX_TEST_T(obj_carried_everywhere_cpython313, 90) { carry_with("3.13"); }
