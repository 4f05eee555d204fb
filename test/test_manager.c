/* test_manager.c - managers and proxies (#16): Manager() and the
 * SyncManager types used from this process and from children under every
 * start method (MGR-01..19, PROXY-01..13, EX-10, EX-19, EX-20, EX-23..27),
 * errors (RemoteError and the exceptions of methods), object lifetime
 * (reference counts, _number_of_objects). */
#include "harness.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

static mpx_obj *S(const char *s) { return mpx_obj_str(s); }
static mpx_obj *I(int64_t v) { return mpx_obj_int(v); }

static void check_repr(const mpx_obj *v, const char *want)
{
    char *r = mpx_obj_repr(v);
    CHECK(r);
    if (strcmp(r, want) != 0)
        FAIL("repr %s, want %s", r, want);
    mpx_free(r);
}

/* EX-10: the child sets d[1] = '1', d['2'] = 2, d[0.25] = None and
 * reverses the list. */
static int ex10_child(const mpx_args *a)
{
    mpx_proxy *d = mpx_args_object(a, 0), *l = mpx_args_object(a, 1);
    mpx_obj *k, *v;
    int rc = mpx_proxy_setitem(d, k = I(1), v = S("1"));
    mpx_obj_decref(k);
    mpx_obj_decref(v);
    if (!rc) {
        rc = mpx_proxy_dict_set_s(d, "2", v = I(2));
        mpx_obj_decref(v);
    }
    if (!rc) {
        rc = mpx_proxy_setitem(d, k = mpx_obj_float(0.25), mpx_obj_none());
        mpx_obj_decref(k);
    }
    if (!rc)
        rc = mpx_proxy_call(l, "reverse", NULL, NULL, NULL);
    return rc;
}

MPX_TEST_T(mgr_ex10_dict_list_child, 60)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    CHECK(mpx_manager_address(m));
    mpx_proxy *d, *l;
    CHECK_OK(mpx_manager_dict(m, NULL, &d));
    mpx_obj *r = mpx_obj_list();
    for (int i = 0; i < 10; i++)
        mpx_obj_list_append_new(r, I(i));
    CHECK_OK(mpx_manager_list(m, r, &l));
    mpx_obj_decref(r);
    mpx_args *a;
    mpx_process *p;
    CHECK_OK(mpx_args_create(&a));
    CHECK_OK(mpx_args_add_object(a, d));
    CHECK_OK(mpx_args_add_object(a, l));
    CHECK_OK(mpx_process_create(&p, ex10_child, a, NULL));
    CHECK_OK(mpx_process_start(p));
    mpx_process_join(p, MPX_FOREVER);
    int code = -1;
    CHECK_EQ(mpx_process_exitcode(p, &code), 1);
    CHECK_EQ(code, 0);
    mpx_process_destroy(p);
    mpx_args_destroy(a);
    char *s = mpx_proxy_str(d);
    CHECK_STREQ(s, "{1: '1', '2': 2, 0.25: None}");
    mpx_free(s);
    s = mpx_proxy_str(l);
    CHECK_STREQ(s, "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
    mpx_free(s);
    mpx_proxy_destroy(d);
    mpx_proxy_destroy(l);
    CHECK_EQ(mpx_manager_number_of_objects(m), 0);
    mpx_manager_destroy(m);
}

/* PROXY-02, PROXY-06, EX-23, EX-27: indexing, slicing, str/repr,
 * _callmethod with IndexError. */
MPX_TEST(mgr_proxy_02_06_list_basics)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_obj *sq = mpx_obj_list();
    for (int i = 0; i < 10; i++)
        mpx_obj_list_append_new(sq, I(i * i));
    mpx_proxy *l;
    CHECK_OK(mpx_manager_list(m, sq, &l));
    mpx_obj_decref(sq);
    char *s = mpx_proxy_str(l);
    CHECK_STREQ(s, "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]");
    mpx_free(s);
    s = mpx_proxy_repr(l);
    CHECK(strncmp(s, "<ListProxy object, typeid 'list' at 0x", 38) == 0);
    mpx_free(s);
    mpx_obj *v;
    CHECK_OK(mpx_proxy_list_get(l, 4, &v));
    check_repr(v, "16");
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_list_slice(l, 2, 5, &v));
    check_repr(v, "[4, 9, 16]");
    mpx_obj_decref(v);
    CHECK_EQ(mpx_proxy_len(l), 10);
    mpx_remote_error err;
    mpx_obj *a = mpx_obj_build("(i)", 20);
    CHECK_ERR(mpx_proxy_callmethod(l, "__getitem__", a, NULL, &v, NULL, &err), MPX_EINDEX);
    CHECK_EQ(err.kind, MPX_REMOTE_EXCEPTION);
    CHECK_STREQ(err.type, "IndexError");
    CHECK_STREQ(err.text, "list index out of range");
    CHECK(err.exc);
    mpx_remote_error_clear(&err);
    mpx_obj_decref(a);
    /* a method that is not exposed: RemoteError */
    CHECK_ERR(mpx_proxy_callmethod(l, "clear", NULL, NULL, &v, NULL, &err), MPX_EREMOTE);
    CHECK_EQ(err.kind, MPX_REMOTE_TRACEBACK);
    CHECK_STREQ(err.type, "AttributeError");
    CHECK(strstr(err.text, "not in exposed"));
    mpx_remote_error_clear(&err);
    CHECK_OK(mpx_proxy_getvalue(l, &v));
    CHECK_EQ(mpx_obj_len(v), 10);
    mpx_obj_decref(v);
    mpx_proxy_destroy(l);
    mpx_manager_destroy(m);
}

/* Call p.method(*args) with args from fmt; the result's repr must be want
 * (NULL: do not look). */
static void callr(mpx_proxy *p, const char *method, const char *fmt, const char *want, ...)
{
    mpx_obj *args = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, want);
        args = mpx_obj_vbuild(NULL, fmt, ap);
        va_end(ap);
        CHECK(args);
    }
    mpx_obj *v = NULL;
    mpx_remote_error err;
    int rc = mpx_proxy_callmethod(p, method, args, NULL, &v, NULL, &err);
    if (rc)
        FAIL("%s: %s (%s: %s)", method, mpx_err_name(rc), err.type, err.text ? err.text : "");
    if (want)
        check_repr(v, want);
    mpx_obj_decref(v);
    mpx_obj_decref(args);
}

/* p.method(*args) must fail with code and exception type. */
static void callx(mpx_proxy *p, const char *method, const char *fmt, int code, const char *type,
                  ...)
{
    mpx_obj *args = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, type);
        args = mpx_obj_vbuild(NULL, fmt, ap);
        va_end(ap);
        CHECK(args);
    }
    mpx_obj *v = NULL;
    mpx_remote_error err;
    int rc = mpx_proxy_callmethod(p, method, args, NULL, &v, NULL, &err);
    if (rc != code || strcmp(err.type, type) != 0)
        FAIL("%s: got %s %s (%s), want %s %s", method, mpx_err_name(rc), err.type,
             err.text ? err.text : "", mpx_err_name(code), type);
    mpx_remote_error_clear(&err);
    mpx_obj_decref(args);
}

MPX_TEST(mgr_16_dict_methods)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *d;
    mpx_obj *init = mpx_obj_build("[(si)(si)]", "a", 1, "b", 2);
    CHECK_OK(mpx_manager_dict(m, init, &d)); /* dict(sequence of pairs) */
    mpx_obj_decref(init);
    callr(d, "__len__", NULL, "2");
    callr(d, "__getitem__", "(s)", "1", "a");
    callr(d, "__setitem__", "(s[i])", "None", "c", 3);
    callr(d, "__contains__", "(s)", "True", "c");
    callr(d, "__contains__", "(i)", "False", 7);
    callr(d, "get", "(s)", "None", "zz");
    callr(d, "get", "(si)", "5", "zz", 5);
    callr(d, "keys", NULL, "['a', 'b', 'c']");
    callr(d, "values", NULL, "[1, 2, [3]]");
    callr(d, "items", NULL, "[('a', 1), ('b', 2), ('c', [3])]");
    callr(d, "setdefault", "(si)", "9", "e", 9);
    callr(d, "setdefault", "(si)", "9", "e", 10);
    callr(d, "pop", "(s)", "9", "e");
    callr(d, "pop", "(si)", "0", "e", 0);
    callr(d, "popitem", NULL, "('c', [3])");
    callr(d, "update", "({si})", "None", "x", 1);
    callr(d, "copy", NULL, "{'a': 1, 'b': 2, 'x': 1}");
    callr(d, "__delitem__", "(s)", "None", "x");
    mpx_obj *k = mpx_obj_str("missing"), *v;
    mpx_remote_error err;
    mpx_obj *a = mpx_obj_build("(O)", k);
    CHECK_ERR(mpx_proxy_callmethod(d, "__getitem__", a, NULL, &v, NULL, &err), MPX_EKEY);
    CHECK_STREQ(err.type, "KeyError");
    CHECK_STREQ(err.text, "'missing'");
    mpx_obj_reduce parts; /* the exception value: KeyError('missing') */
    CHECK_OK(mpx_obj_instance_get(err.exc, &parts));
    CHECK_EQ(mpx_obj_equal(mpx_obj_item(parts.args, 0), k), 1);
    mpx_remote_error_clear(&err);
    mpx_obj_decref(a);
    mpx_obj_decref(k);
    callx(d, "__delitem__", "(s)", MPX_EKEY, "KeyError", "nope");
    callx(d, "__getitem__", "([])", MPX_ETYPE, "TypeError");
    callx(d, "get", NULL, MPX_ETYPE, "TypeError");
    /* typed helpers */
    CHECK_OK(mpx_proxy_dict_set_s(d, "s", v = mpx_obj_str("x")));
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_dict_get_s(d, "s", &v));
    check_repr(v, "'x'");
    mpx_obj_decref(v);
    CHECK_EQ(mpx_proxy_contains(d, k = mpx_obj_str("s")), 1);
    CHECK_OK(mpx_proxy_dict_del_s(d, "s"));
    CHECK_EQ(mpx_proxy_contains(d, k), 0);
    mpx_obj_decref(k);
    CHECK_ERR(mpx_proxy_dict_del_s(d, "s"), MPX_EKEY);
    CHECK_OK(mpx_proxy_dict_keys(d, &v));
    check_repr(v, "['a', 'b']");
    mpx_obj_decref(v);
    /* iter(d): an Iterator proxy (method_to_typeid) */
    mpx_proxy *it;
    CHECK_OK(mpx_proxy_callmethod(d, "__iter__", NULL, NULL, NULL, &it, NULL));
    CHECK_STREQ(mpx_proxy_type_name(it), "IteratorProxy");
    CHECK_STREQ(mpx_proxy_typeid(it), "Iterator");
    CHECK_OK(mpx_proxy_next(it, &v));
    check_repr(v, "'a'");
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_next(it, &v));
    mpx_obj_decref(v);
    CHECK_ERR(mpx_proxy_next(it, &v), MPX_EEOF);
    mpx_proxy_destroy(it);
    /* a proxy result without a place for it */
    CHECK_ERR(mpx_proxy_call(d, "__iter__", NULL, NULL, &v), MPX_ETYPE);
    CHECK_OK(mpx_proxy_dict_clear(d));
    CHECK_EQ(mpx_proxy_len(d), 0);
    mpx_proxy_destroy(d);
    CHECK_EQ(mpx_manager_number_of_objects(m), 0);
    mpx_manager_destroy(m);
}

MPX_TEST(mgr_16_list_methods)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *l;
    mpx_obj *init = mpx_obj_build("(iii)", 3, 1, 2);
    CHECK_OK(mpx_manager_list(m, init, &l)); /* list(tuple) */
    mpx_obj_decref(init);
    callr(l, "append", "(i)", "None", 5);
    callr(l, "extend", "([ii])", "None", 4, 4);
    callr(l, "insert", "(is)", "None", 0, "x");
    callr(l, "#GETVALUE", NULL, "['x', 3, 1, 2, 5, 4, 4]");
    callr(l, "count", "(i)", "2", 4);
    callr(l, "index", "(i)", "4", 5);
    callr(l, "remove", "(s)", "None", "x");
    callr(l, "pop", NULL, "4");
    callr(l, "pop", "(i)", "3", 0);
    callr(l, "sort", NULL, "None");
    callr(l, "#GETVALUE", NULL, "[1, 2, 4, 5]");
    callr(l, "reverse", NULL, "None");
    callr(l, "__getitem__", "(i)", "5", 0);
    callr(l, "__getitem__", "(i)", "1", -1);
    callr(l, "__add__", "([i])", "[5, 4, 2, 1, 0]", 0);
    callr(l, "__mul__", "(i)", "[5, 4, 2, 1, 5, 4, 2, 1]", 2);
    callr(l, "__contains__", "(i)", "True", 4);
    callr(l, "__reversed__", NULL, "[1, 2, 4, 5]");
    callr(l, "__setitem__", "(ii)", "None", 1, 40);
    callr(l, "__delitem__", "(i)", "None", 0);
    callr(l, "#GETVALUE", NULL, "[40, 2, 1]");
    callr(l, "__imul__", "(i)", "[40, 2, 1, 40, 2, 1]", 2);
    CHECK_OK(mpx_proxy_list_slice(l, 1, 4, &init));
    check_repr(init, "[2, 1, 40]");
    mpx_obj_decref(init);
    /* slices with steps, assignment and deletion by slice */
    mpx_obj *cls = mpx_obj_class("builtins", "slice");
    mpx_obj *sa = mpx_obj_build("(OOi)", mpx_obj_none(), mpx_obj_none(), -2);
    mpx_obj_reduce r = {MPX_OBJ_REDUCE, cls, sa, NULL, NULL, NULL, NULL};
    mpx_obj *sl = mpx_obj_instance(&r);
    mpx_obj *a = mpx_obj_build("(O)", sl), *v;
    CHECK_OK(mpx_proxy_call(l, "__getitem__", a, NULL, &v));
    check_repr(v, "[1, 40, 2]");
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_call(l, "__delitem__", a, NULL, NULL));
    callr(l, "#GETVALUE", NULL, "[40, 1, 2]");
    mpx_obj_decref(a);
    a = mpx_obj_build("(O[ii])", sl, 7, 9);
    CHECK_OK(mpx_proxy_call(l, "__setitem__", a, NULL, NULL));
    callr(l, "#GETVALUE", NULL, "[9, 1, 7]");
    mpx_obj_decref(a);
    a = mpx_obj_build("(O[i])", sl, 7);
    callx(l, "__setitem__", "(O[i])", MPX_EINVAL, "ValueError", sl, 7);
    mpx_obj_decref(a);
    mpx_obj_decref(sl);
    mpx_obj_decref(sa);
    mpx_obj_decref(cls);
    callr(l, "sort", NULL, "None");
    callr(l, "#GETVALUE", NULL, "[1, 7, 9]");
    /* errors, with Python's texts */
    callx(l, "__getitem__", "(i)", MPX_EINDEX, "IndexError", 10);
    callx(l, "__getitem__", "(s)", MPX_ETYPE, "TypeError", "x");
    callx(l, "remove", "(i)", MPX_EINVAL, "ValueError", 99);
    callx(l, "index", "(i)", MPX_EINVAL, "ValueError", 99);
    callx(l, "__add__", "((i))", MPX_ETYPE, "TypeError", 1);
    callx(l, "append", NULL, MPX_ETYPE, "TypeError");
    callr(l, "append", "(s)", "None", "str");
    callx(l, "sort", NULL, MPX_ETYPE, "TypeError");
    CHECK_OK(mpx_proxy_list_pop(l, -1, &v));
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_list_set(l, 0, v = mpx_obj_int(-1)));
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_list_get(l, 0, &v));
    check_repr(v, "-1");
    mpx_obj_decref(v);
    CHECK_ERR(mpx_proxy_list_get(l, 3, &v), MPX_EINDEX);
    CHECK_ERR(mpx_proxy_list_set(l, 3, mpx_obj_none()), MPX_EINDEX);
    while (mpx_proxy_len(l) > 0)
        CHECK_OK(mpx_proxy_list_pop(l, 0, NULL));
    callx(l, "pop", NULL, MPX_EINDEX, "IndexError");
    mpx_proxy_destroy(l);
    mpx_manager_destroy(m);
}

/* MGR-19, EX-20: x=10, y='hello', _z is the proxy's own (refused here). */
MPX_TEST(mgr_19_namespace_ex20)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *ns;
    CHECK_OK(mpx_manager_namespace(m, &ns));
    CHECK_STREQ(mpx_proxy_type_name(ns), "NamespaceProxy");
    mpx_obj *v;
    CHECK_OK(mpx_proxy_ns_set(ns, "x", v = mpx_obj_int(10)));
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_ns_set(ns, "y", v = mpx_obj_str("hello")));
    mpx_obj_decref(v);
    CHECK_ERR(mpx_proxy_ns_set(ns, "_z", v = mpx_obj_float(12.3)), MPX_EINVAL);
    mpx_obj_decref(v);
    char *s = mpx_proxy_str(ns);
    CHECK_STREQ(s, "Namespace(x=10, y='hello')");
    mpx_free(s);
    CHECK_OK(mpx_proxy_ns_get(ns, "x", &v));
    check_repr(v, "10");
    mpx_obj_decref(v);
    CHECK_ERR(mpx_proxy_ns_get(ns, "nothere", &v), MPX_EKEY);
    callx(ns, "__getattribute__", "(s)", MPX_EREMOTE, "AttributeError", "nothere");
    CHECK_OK(mpx_proxy_ns_del(ns, "x"));
    CHECK_ERR(mpx_proxy_ns_del(ns, "x"), MPX_EKEY);
    CHECK_OK(mpx_proxy_getvalue(ns, &v)); /* a Namespace instance, as CPython pickles it */
    CHECK_EQ(mpx_obj_instance_of(v, "multiprocessing.managers", "Namespace"), 1);
    mpx_obj_decref(v);
    mpx_proxy_destroy(ns);
    mpx_manager_destroy(m);
}

MPX_TEST(mgr_16_value_array)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *val, *arr;
    mpx_obj *v = mpx_obj_int(7);
    CHECK_OK(mpx_manager_value(m, "i", v, &val));
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_value_get(val, &v));
    check_repr(v, "7");
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_value_set(val, v = mpx_obj_int(49)));
    mpx_obj_decref(v);
    char *s = mpx_proxy_str(val);
    CHECK_STREQ(s, "Value('i', 49)");
    mpx_free(s);
    mpx_obj *seq = mpx_obj_build("[iii]", 0, 1, 2);
    CHECK_OK(mpx_manager_array(m, "i", seq, &arr));
    mpx_obj_decref(seq);
    CHECK_EQ(mpx_proxy_len(arr), 3);
    mpx_obj *k = mpx_obj_int(1);
    CHECK_OK(mpx_proxy_setitem(arr, k, v = mpx_obj_int(-5)));
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_getitem(arr, k, &v));
    check_repr(v, "-5");
    mpx_obj_decref(v);
    CHECK_ERR(mpx_proxy_setitem(arr, k, v = mpx_obj_float(1.5)), MPX_ETYPE);
    mpx_obj_decref(v);
    CHECK_ERR(mpx_proxy_setitem(arr, k, v = mpx_obj_int(1LL << 40)), -ERANGE);
    mpx_obj_decref(v);
    mpx_obj_decref(k);
    s = mpx_proxy_str(arr);
    CHECK_STREQ(s, "array('i', [0, -5, 2])");
    mpx_free(s);
    /* bad typecode: the create fails with the callable's ValueError */
    mpx_proxy *bad;
    CHECK_ERR(mpx_manager_array(m, "z", seq = mpx_obj_list(), &bad), MPX_EINVAL);
    mpx_obj_decref(seq);
    mpx_proxy_destroy(val);
    mpx_proxy_destroy(arr);
    CHECK_EQ(mpx_manager_number_of_objects(m), 0);
    mpx_manager_destroy(m);
}

/* MGR-18, EX-19: a value fetched from a proxy is a copy; changes reach the
 * manager only when assigned back. */
MPX_TEST(mgr_18_mutation_needs_assignment_ex19)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *l;
    CHECK_OK(mpx_manager_list(m, NULL, &l));
    mpx_obj *d = mpx_obj_dict();
    CHECK_OK(mpx_proxy_list_append(l, d));
    mpx_obj_decref(d);
    CHECK_OK(mpx_proxy_list_get(l, 0, &d));
    mpx_obj_dict_set_s_new(d, "a", mpx_obj_int(1)); /* changes the copy only */
    char *s = mpx_proxy_str(l);
    CHECK_STREQ(s, "[{}]");
    mpx_free(s);
    CHECK_OK(mpx_proxy_list_set(l, 0, d)); /* lproxy[0] = d */
    s = mpx_proxy_str(l);
    CHECK_STREQ(s, "[{'a': 1}]");
    mpx_free(s);
    mpx_obj_decref(d);
    mpx_proxy_destroy(l);
    mpx_manager_destroy(m);
}

/* MGR-17, PROXY-04, EX-24, EX-25, DIFF-09: nested proxies. */
MPX_TEST(mgr_17_nested_proxies_ex24_ex25)
{
    mpx_manager *m;
    CHECK_OK(mpx_manager_new(&m, NULL));
    mpx_proxy *a, *b;
    CHECK_OK(mpx_manager_list(m, NULL, &a));
    CHECK_OK(mpx_manager_list(m, NULL, &b));
    mpx_obj *bv = mpx_proxy_to_obj(b);
    CHECK_EQ(mpx_proxy_is_proxy_obj(bv), 1);
    CHECK_OK(mpx_proxy_list_append(a, bv)); /* a.append(b) */
    mpx_obj_decref(bv);
    char *s = mpx_proxy_str(a); /* 3.x prints the nested proxy */
    CHECK(strncmp(s, "[<ListProxy object, typeid 'list' at 0x", 39) == 0);
    mpx_free(s);
    mpx_obj *v;
    CHECK_OK(mpx_proxy_list_append(b, v = mpx_obj_str("hello")));
    mpx_obj_decref(v);
    mpx_proxy *a0;
    CHECK_OK(mpx_proxy_list_get_proxy(a, 0, &a0));
    s = mpx_proxy_str(a0);
    CHECK_STREQ(s, "['hello']");
    mpx_free(s);
    mpx_proxy_destroy(a0);
    /* the inner list lives while a holds it, even with b released */
    mpx_proxy_destroy(b);
    CHECK_OK(mpx_proxy_list_get_proxy(a, 0, &a0));
    s = mpx_proxy_str(a0);
    CHECK_STREQ(s, "['hello']");
    mpx_free(s);
    mpx_proxy_destroy(a0);
    /* EX-25: a list of two dicts changed through the outer list */
    mpx_proxy *d0, *d1, *outer;
    CHECK_OK(mpx_manager_dict(m, NULL, &d0));
    CHECK_OK(mpx_manager_dict(m, NULL, &d1));
    mpx_obj *init = mpx_obj_build("[NN]", mpx_proxy_to_obj(d0), mpx_proxy_to_obj(d1));
    CHECK_OK(mpx_manager_list(m, init, &outer));
    mpx_obj_decref(init);
    mpx_proxy *o0, *o1;
    CHECK_OK(mpx_proxy_list_get_proxy(outer, 0, &o0));
    CHECK_OK(mpx_proxy_list_get_proxy(outer, 1, &o1));
    CHECK_OK(mpx_proxy_dict_set_s(o0, "a", v = mpx_obj_int(1)));
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_dict_set_s(o0, "b", v = mpx_obj_int(2)));
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_dict_set_s(o1, "c", v = mpx_obj_int(3)));
    mpx_obj_decref(v);
    CHECK_OK(mpx_proxy_dict_set_s(o1, "z", v = mpx_obj_int(26)));
    mpx_obj_decref(v);
    s = mpx_proxy_str(d0);
    CHECK_STREQ(s, "{'a': 1, 'b': 2}");
    mpx_free(s);
    s = mpx_proxy_str(d1);
    CHECK_STREQ(s, "{'c': 3, 'z': 26}");
    mpx_free(s);
    mpx_proxy_destroy(o0);
    mpx_proxy_destroy(o1);
    mpx_proxy_destroy(d0);
    mpx_proxy_destroy(d1);
    mpx_proxy_destroy(outer);
    mpx_proxy_destroy(a);
    mpx_manager_destroy(m);
}
