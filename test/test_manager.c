/* test_manager.c - managers and proxies (#16): Manager() and the
 * SyncManager types used from this process and from children under every
 * start method (MGR-01..19, PROXY-01..13, EX-10, EX-19, EX-20, EX-23..27),
 * errors (RemoteError and the exceptions of methods), object lifetime
 * (reference counts, _number_of_objects). */
#include "harness.h"

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
