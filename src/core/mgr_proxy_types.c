/*
 * mgr_proxy_types.c - the typed proxy helpers (#16; CPython's DictProxy,
 * ListProxy, NamespaceProxy, ValueProxy, AcquirerProxy, ConditionProxy,
 * EventProxy, BarrierProxy, IteratorProxy and the queue's AutoProxy): one
 * call each, the method names and arguments of CPython's proxies, so an
 * mpx program and a CPython program see the same thing on the wire.
 * Yes/no answers are 1/0; timeouts are mpx_duration.
 */
#include "core/mgr_internal.h"

#include <string.h>

/* call method with args built from fmt (NULL: none); *out may be NULL. */
static int callf(mpx_proxy *p, const char *method, mpx_obj **out, const char *fmt, ...)
{
    mpx_obj *args = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        args = mpx_obj_vbuild(NULL, fmt, ap);
        va_end(ap);
        if (!args)
            return -ENOMEM;
        if (mpx_obj_typeof(args) != MPX_OBJ_TUPLE) {
            mpx_obj *t = mpx_obj_tuple_pack(1, args);
            mpx_obj_decref(args);
            if (!(args = t))
                return -ENOMEM;
        }
    }
    int rc = mpx_proxy_call(p, method, args, NULL, out);
    mpx_obj_decref(args);
    return rc;
}

/* A call whose result is a truth value: 1 / 0, or the error. */
static int truthf(int rc, mpx_obj *v)
{
    if (rc)
        return rc;
    int t = mpx_obj_truth(v);
    mpx_obj_decref(v);
    return t;
}

/* A call whose result is an int >= 0. */
static int64_t intf(int rc, mpx_obj *v)
{
    if (rc)
        return rc;
    int64_t n;
    rc = mpx_obj_get_int(v, &n);
    mpx_obj_decref(v);
    return rc ? MPX_EPROTO : n;
}

static int need(const void *a, const void *b)
{
    return a && b ? 0 : MPX_EINVAL;
}

/* ---- containers --------------------------------------------------------------------- */

MPX_API int64_t mpx_proxy_len(mpx_proxy *p)
{
    mpx_obj *v = NULL;
    int rc = callf(p, "__len__", &v, NULL);
    return intf(rc, v);
}

MPX_API int mpx_proxy_getitem(mpx_proxy *p, const mpx_obj *key, mpx_obj **out)
{
    int rc = need(key, out);
    return rc ? rc : callf(p, "__getitem__", out, "(O)", key);
}

MPX_API int mpx_proxy_setitem(mpx_proxy *p, const mpx_obj *key, const mpx_obj *value)
{
    int rc = need(key, value);
    return rc ? rc : callf(p, "__setitem__", NULL, "(OO)", key, value);
}

MPX_API int mpx_proxy_delitem(mpx_proxy *p, const mpx_obj *key)
{
    return key ? callf(p, "__delitem__", NULL, "(O)", key) : MPX_EINVAL;
}

MPX_API int mpx_proxy_contains(mpx_proxy *p, const mpx_obj *item)
{
    if (!item)
        return MPX_EINVAL;
    mpx_obj *v = NULL;
    int rc = callf(p, "__contains__", &v, "(O)", item);
    return truthf(rc, v);
}

/* ---- dict ------------------------------------------------------------------------------ */

MPX_API int mpx_proxy_dict_get_s(mpx_proxy *p, const char *key, mpx_obj **out)
{
    int rc = need(key, out);
    return rc ? rc : callf(p, "__getitem__", out, "(s)", key);
}

MPX_API int mpx_proxy_dict_set_s(mpx_proxy *p, const char *key, const mpx_obj *value)
{
    int rc = need(key, value);
    return rc ? rc : callf(p, "__setitem__", NULL, "(sO)", key, value);
}

MPX_API int mpx_proxy_dict_del_s(mpx_proxy *p, const char *key)
{
    return key ? callf(p, "__delitem__", NULL, "(s)", key) : MPX_EINVAL;
}

MPX_API int mpx_proxy_dict_get(mpx_proxy *p, const mpx_obj *key, const mpx_obj *dflt,
                               mpx_obj **out)
{
    int rc = need(key, out);
    if (rc)
        return rc;
    return dflt ? callf(p, "get", out, "(OO)", key, dflt) : callf(p, "get", out, "(O)", key);
}

MPX_API int mpx_proxy_dict_keys(mpx_proxy *p, mpx_obj **out)
{
    return out ? callf(p, "keys", out, NULL) : MPX_EINVAL;
}

MPX_API int mpx_proxy_dict_values(mpx_proxy *p, mpx_obj **out)
{
    return out ? callf(p, "values", out, NULL) : MPX_EINVAL;
}

MPX_API int mpx_proxy_dict_items(mpx_proxy *p, mpx_obj **out)
{
    return out ? callf(p, "items", out, NULL) : MPX_EINVAL;
}

MPX_API int mpx_proxy_dict_update(mpx_proxy *p, const mpx_obj *mapping)
{
    return mapping ? callf(p, "update", NULL, "(O)", mapping) : MPX_EINVAL;
}

MPX_API int mpx_proxy_dict_pop(mpx_proxy *p, const mpx_obj *key, mpx_obj **out)
{
    return key ? callf(p, "pop", out, "(O)", key) : MPX_EINVAL;
}

MPX_API int mpx_proxy_dict_setdefault(mpx_proxy *p, const mpx_obj *key, const mpx_obj *dflt,
                                      mpx_obj **out)
{
    if (!key)
        return MPX_EINVAL;
    return callf(p, "setdefault", out, "(OO)", key, dflt ? dflt : mpx_obj_none());
}

MPX_API int mpx_proxy_dict_clear(mpx_proxy *p)
{
    return callf(p, "clear", NULL, NULL);
}

/* ---- list ------------------------------------------------------------------------------ */

MPX_API int mpx_proxy_list_append(mpx_proxy *p, const mpx_obj *v)
{
    return v ? callf(p, "append", NULL, "(O)", v) : MPX_EINVAL;
}

MPX_API int mpx_proxy_list_extend(mpx_proxy *p, const mpx_obj *seq)
{
    return seq ? callf(p, "extend", NULL, "(O)", seq) : MPX_EINVAL;
}

MPX_API int mpx_proxy_list_insert(mpx_proxy *p, int64_t i, const mpx_obj *v)
{
    return v ? callf(p, "insert", NULL, "(LO)", (long long)i, v) : MPX_EINVAL;
}

MPX_API int mpx_proxy_list_get(mpx_proxy *p, int64_t i, mpx_obj **out)
{
    return out ? callf(p, "__getitem__", out, "(L)", (long long)i) : MPX_EINVAL;
}

MPX_API int mpx_proxy_list_set(mpx_proxy *p, int64_t i, const mpx_obj *v)
{
    return v ? callf(p, "__setitem__", NULL, "(LO)", (long long)i, v) : MPX_EINVAL;
}

MPX_API int mpx_proxy_list_slice(mpx_proxy *p, int64_t start, int64_t stop, mpx_obj **out)
{
    if (!out)
        return MPX_EINVAL;
    /* slice(start, stop, None), as CPython pickles it */
    mpx_obj *cls = mpx_obj_class("builtins", "slice");
    mpx_obj *sa = mpx_obj_build("(LLO)", (long long)start, (long long)stop, mpx_obj_none());
    mpx_obj *sl = NULL;
    if (cls && sa) {
        mpx_obj_reduce r = {MPX_OBJ_REDUCE, cls, sa, NULL, NULL, NULL, NULL};
        sl = mpx_obj_instance(&r);
    }
    mpx_obj_decref(cls);
    mpx_obj_decref(sa);
    if (!sl)
        return -ENOMEM;
    int rc = callf(p, "__getitem__", out, "(N)", sl);
    return rc;
}

MPX_API int mpx_proxy_list_pop(mpx_proxy *p, int64_t i, mpx_obj **out)
{
    return callf(p, "pop", out, "(L)", (long long)i);
}

/* ---- Namespace and Value ------------------------------------------------------------- */

static int ns_name(const char *name)
{
    return !name || !name[0] || name[0] == '_' ? MPX_EINVAL : 0;
}

MPX_API int mpx_proxy_ns_get(mpx_proxy *p, const char *name, mpx_obj **out)
{
    int rc = ns_name(name);
    if (rc || !out)
        return rc ? rc : MPX_EINVAL;
    mpx_obj *a = mpx_obj_build("(s)", name);
    if (!a)
        return -ENOMEM;
    mpx_remote_error err;
    rc = mpx_proxy_callmethod(p, "__getattribute__", a, NULL, out, NULL, &err);
    if (rc == MPX_EREMOTE && err.kind == MPX_REMOTE_EXCEPTION &&
        strcmp(err.type, "AttributeError") == 0)
        rc = MPX_EKEY;
    mpx_remote_error_clear(&err);
    mpx_obj_decref(a);
    return rc;
}

MPX_API int mpx_proxy_ns_set(mpx_proxy *p, const char *name, const mpx_obj *value)
{
    int rc = ns_name(name);
    if (rc || !value)
        return rc ? rc : MPX_EINVAL;
    return callf(p, "__setattr__", NULL, "(sO)", name, value);
}

MPX_API int mpx_proxy_ns_del(mpx_proxy *p, const char *name)
{
    int rc = ns_name(name);
    if (rc)
        return rc;
    mpx_obj *a = mpx_obj_build("(s)", name);
    if (!a)
        return -ENOMEM;
    mpx_remote_error err;
    rc = mpx_proxy_callmethod(p, "__delattr__", a, NULL, NULL, NULL, &err);
    if (rc == MPX_EREMOTE && err.kind == MPX_REMOTE_EXCEPTION &&
        strcmp(err.type, "AttributeError") == 0)
        rc = MPX_EKEY;
    mpx_remote_error_clear(&err);
    mpx_obj_decref(a);
    return rc;
}

MPX_API int mpx_proxy_value_get(mpx_proxy *p, mpx_obj **out)
{
    return out ? callf(p, "get", out, NULL) : MPX_EINVAL;
}

MPX_API int mpx_proxy_value_set(mpx_proxy *p, const mpx_obj *value)
{
    return value ? callf(p, "set", NULL, "(O)", value) : MPX_EINVAL;
}

/* ---- queues --------------------------------------------------------------------------------- */

static double secs(mpx_duration t)
{
    return (double)t / 1000.0;
}

MPX_API int mpx_proxy_queue_put(mpx_proxy *p, const mpx_obj *v, mpx_duration timeout)
{
    if (!v)
        return MPX_EINVAL;
    if (timeout == MPX_FOREVER)
        return callf(p, "put", NULL, "(O)", v);
    if (timeout <= 0)
        return callf(p, "put", NULL, "(OO)", v, mpx_obj_false());
    return callf(p, "put", NULL, "(OOd)", v, mpx_obj_true(), secs(timeout));
}

MPX_API int mpx_proxy_queue_get(mpx_proxy *p, mpx_obj **out, mpx_duration timeout)
{
    if (!out)
        return MPX_EINVAL;
    if (timeout == MPX_FOREVER)
        return callf(p, "get", out, NULL);
    if (timeout <= 0)
        return callf(p, "get", out, "(O)", mpx_obj_false());
    return callf(p, "get", out, "(Od)", mpx_obj_true(), secs(timeout));
}

MPX_API int64_t mpx_proxy_queue_qsize(mpx_proxy *p)
{
    mpx_obj *v = NULL;
    int rc = callf(p, "qsize", &v, NULL);
    return intf(rc, v);
}

MPX_API int mpx_proxy_queue_empty(mpx_proxy *p)
{
    mpx_obj *v = NULL;
    int rc = callf(p, "empty", &v, NULL);
    return truthf(rc, v);
}

MPX_API int mpx_proxy_queue_full(mpx_proxy *p)
{
    mpx_obj *v = NULL;
    int rc = callf(p, "full", &v, NULL);
    return truthf(rc, v);
}

MPX_API int mpx_proxy_queue_task_done(mpx_proxy *p)
{
    return callf(p, "task_done", NULL, NULL);
}

MPX_API int mpx_proxy_queue_join(mpx_proxy *p)
{
    return callf(p, "join", NULL, NULL);
}

/* ---- synchronisation -------------------------------------------------------------------- */

MPX_API int mpx_proxy_acquire(mpx_proxy *p, mpx_duration timeout)
{
    mpx_obj *v = NULL;
    int rc;
    if (timeout == MPX_FOREVER)
        rc = callf(p, "acquire", &v, "(O)", mpx_obj_true());
    else if (timeout <= 0)
        rc = callf(p, "acquire", &v, "(O)", mpx_obj_false());
    else
        rc = callf(p, "acquire", &v, "(Od)", mpx_obj_true(), secs(timeout));
    return truthf(rc, v);
}

MPX_API int mpx_proxy_release(mpx_proxy *p)
{
    return callf(p, "release", NULL, NULL);
}

/* wait(timeout): None for MPX_FOREVER, 0 for "do not wait". */
static int timed_bool(mpx_proxy *p, const char *method, mpx_duration timeout)
{
    mpx_obj *v = NULL;
    int rc = timeout == MPX_FOREVER ? callf(p, method, &v, "(O)", mpx_obj_none())
                                    : callf(p, method, &v, "(d)", timeout <= 0 ? 0.0
                                                                               : secs(timeout));
    return truthf(rc, v);
}

MPX_API int mpx_proxy_condition_wait(mpx_proxy *p, mpx_duration timeout)
{
    return timed_bool(p, "wait", timeout);
}

MPX_API int mpx_proxy_condition_notify(mpx_proxy *p, int n)
{
    return callf(p, "notify", NULL, "(i)", n);
}

MPX_API int mpx_proxy_condition_notify_all(mpx_proxy *p)
{
    return callf(p, "notify_all", NULL, NULL);
}

MPX_API int mpx_proxy_event_set(mpx_proxy *p)
{
    return callf(p, "set", NULL, NULL);
}

MPX_API int mpx_proxy_event_clear(mpx_proxy *p)
{
    return callf(p, "clear", NULL, NULL);
}

MPX_API int mpx_proxy_event_is_set(mpx_proxy *p)
{
    mpx_obj *v = NULL;
    int rc = callf(p, "is_set", &v, NULL);
    return truthf(rc, v);
}

MPX_API int mpx_proxy_event_wait(mpx_proxy *p, mpx_duration timeout)
{
    return timed_bool(p, "wait", timeout);
}

MPX_API int mpx_proxy_barrier_wait(mpx_proxy *p, mpx_duration timeout)
{
    mpx_obj *v = NULL;
    int rc = timeout == MPX_FOREVER ? callf(p, "wait", &v, "(O)", mpx_obj_none())
                                    : callf(p, "wait", &v, "(d)", timeout <= 0 ? 0.0
                                                                              : secs(timeout));
    return (int)intf(rc, v);
}

MPX_API int mpx_proxy_barrier_abort(mpx_proxy *p)
{
    return callf(p, "abort", NULL, NULL);
}

MPX_API int mpx_proxy_barrier_reset(mpx_proxy *p)
{
    return callf(p, "reset", NULL, NULL);
}

static int64_t battr(mpx_proxy *p, const char *name)
{
    mpx_obj *v = NULL;
    int rc = callf(p, "__getattribute__", &v, "(s)", name);
    if (!rc && mpx_obj_typeof(v) == MPX_OBJ_BOOL)
        return truthf(rc, v);
    return intf(rc, v);
}

MPX_API int mpx_proxy_barrier_parties(mpx_proxy *p)
{
    return (int)battr(p, "parties");
}

MPX_API int mpx_proxy_barrier_n_waiting(mpx_proxy *p)
{
    return (int)battr(p, "n_waiting");
}

MPX_API int mpx_proxy_barrier_broken(mpx_proxy *p)
{
    return (int)battr(p, "broken");
}

/* ---- iterators ------------------------------------------------------------------------------ */

MPX_API int mpx_proxy_next(mpx_proxy *p, mpx_obj **out)
{
    return out ? callf(p, "__next__", out, NULL) : MPX_EINVAL;
}
