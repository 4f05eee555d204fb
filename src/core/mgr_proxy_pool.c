/*
 * mgr_proxy_pool.c - the client side of SyncManager.Pool (#16, MGR-16):
 * the PoolProxy's calls and the AsyncResult proxy's, with CPython's method
 * names and arguments (a CPython client of an mpx manager, and an mpx
 * client of a CPython manager whose pool runs Python functions, send the
 * same requests). The function is sent as a global reference ('__main__',
 * name), as pickle sends a function of a Python main module.
 *
 * Codes follow the local value pool (mpx_pool_map_obj ...) where Python
 * says the same thing: a task's exception fails the call with its code and
 * gives the exception value in *out; "Pool not running" (after close or
 * terminate), "Pool is still running" (join before close) and
 * successful() before the result is ready are MPX_ESTATE, as locally (the
 * server raises ValueError with CPython's texts for all three).
 */
#include "core/mgr_internal.h"

#include <string.h>

MPX_API mpx_obj *mpx_manager_function(const char *name)
{
    return name && name[0] ? mpx_obj_class("__main__", name) : NULL;
}

MPX_API int mpx_manager_pool(mpx_manager *m, int processes, mpx_proxy **out)
{
    if (!out)
        return MPX_EINVAL;
    *out = NULL;
    if (processes != MPX_POOL_DEFAULT && processes < 1)
        return MPX_EINVAL; /* Pool(0): ValueError */
    mpx_obj *args = processes == MPX_POOL_DEFAULT ? mpx_obj_tuple(0)
                                                  : mpx_obj_build("(i)", processes);
    int rc = args ? mpx_manager_make(m, "Pool", args, NULL, out) : -ENOMEM;
    mpx_obj_decref(args);
    return rc;
}

/* The ValueErrors that mean a state, not bad input: MPX_ESTATE as the
 * local pool returns for them. */
static int state_error(int rc, const mpx_remote_error *err, bool not_ready)
{
    if (rc != MPX_EINVAL || err->kind != MPX_REMOTE_EXCEPTION || strcmp(err->type, "ValueError"))
        return rc;
    const char *t = err->text ? err->text : "";
    size_t n = strlen(t);
    if (strcmp(t, "Pool not running") == 0 || strcmp(t, "Pool is still running") == 0 ||
        (not_ready && n >= 9 && strcmp(t + n - 9, "not ready") == 0))
        return MPX_ESTATE;
    return rc;
}

/* method(args...) with the errors of the pool helpers: a '#ERROR' reply
 * leaves the exception value in *value (when asked for). */
static int call_pool(mpx_proxy *p, const char *method, const mpx_obj *args, mpx_obj **value,
                     mpx_proxy **proxy, bool not_ready)
{
    mpx_remote_error err;
    memset(&err, 0, sizeof err);
    int rc = mpx_proxy_callmethod(p, method, args, NULL, value, proxy, &err);
    if (rc) {
        rc = state_error(rc, &err, not_ready);
        if (rc != MPX_ESTATE && value && err.kind == MPX_REMOTE_EXCEPTION && err.exc)
            *value = mpx_obj_incref(err.exc);
    }
    mpx_remote_error_clear(&err);
    return rc;
}

/* method(f, first[, third]) with a value or a proxy result. */
static int pool_call(mpx_proxy *p, const char *method, const char *fn, const mpx_obj *first,
                     const mpx_obj *third, mpx_obj **value, mpx_proxy **proxy)
{
    if (value)
        *value = NULL;
    if (proxy)
        *proxy = NULL;
    if (!p || !fn || !fn[0] || (!value && !proxy))
        return MPX_EINVAL;
    mpx_obj *f = mpx_manager_function(fn);
    if (!f)
        return MPX_EINVAL;
    mpx_obj *empty = first ? NULL : mpx_obj_tuple(0); /* apply's args=() */
    const mpx_obj *a1 = first ? first : empty;
    mpx_obj *args = !a1 ? NULL
                    : third ? mpx_obj_build("(OOO)", f, a1, third)
                            : mpx_obj_build("(OO)", f, a1);
    mpx_obj_decref(empty);
    mpx_obj_decref(f);
    if (!args)
        return -ENOMEM;
    int rc = call_pool(p, method, args, value, proxy, false);
    mpx_obj_decref(args);
    return rc;
}

static int apply_like(mpx_proxy *p, const char *method, const char *fn, const mpx_obj *args,
                      const mpx_obj *kwds, mpx_obj **value, mpx_proxy **proxy)
{
    if (kwds && !args) { /* apply(f, (), kwds) */
        mpx_obj *empty = mpx_obj_tuple(0);
        int rc = empty ? pool_call(p, method, fn, empty, kwds, value, proxy) : -ENOMEM;
        mpx_obj_decref(empty);
        return rc;
    }
    return pool_call(p, method, fn, args, kwds, value, proxy);
}

MPX_API int mpx_proxy_pool_apply(mpx_proxy *p, const char *fn, const mpx_obj *args,
                                 const mpx_obj *kwds, mpx_obj **out)
{
    return out ? apply_like(p, "apply", fn, args, kwds, out, NULL) : MPX_EINVAL;
}

MPX_API int mpx_proxy_pool_apply_async(mpx_proxy *p, const char *fn, const mpx_obj *args,
                                       const mpx_obj *kwds, mpx_proxy **result)
{
    return result ? apply_like(p, "apply_async", fn, args, kwds, NULL, result) : MPX_EINVAL;
}

static int map_like(mpx_proxy *p, const char *method, const char *fn, const mpx_obj *items,
                    size_t chunksize, mpx_obj **value, mpx_proxy **proxy)
{
    if (value)
        *value = NULL;
    if (proxy)
        *proxy = NULL;
    if (!items || (!value && !proxy) || chunksize > (size_t)INT64_MAX)
        return MPX_EINVAL;
    mpx_obj *c = chunksize ? mpx_obj_int((int64_t)chunksize) : mpx_obj_incref(mpx_obj_none());
    int rc = c ? pool_call(p, method, fn, items, c, value, proxy) : -ENOMEM;
    mpx_obj_decref(c);
    return rc;
}

MPX_API int mpx_proxy_pool_map(mpx_proxy *p, const char *fn, const mpx_obj *items,
                               size_t chunksize, mpx_obj **out)
{
    return out ? map_like(p, "map", fn, items, chunksize, out, NULL) : MPX_EINVAL;
}

MPX_API int mpx_proxy_pool_map_async(mpx_proxy *p, const char *fn, const mpx_obj *items,
                                     size_t chunksize, mpx_proxy **result)
{
    return result ? map_like(p, "map_async", fn, items, chunksize, NULL, result) : MPX_EINVAL;
}

MPX_API int mpx_proxy_pool_starmap(mpx_proxy *p, const char *fn, const mpx_obj *items,
                                   size_t chunksize, mpx_obj **out)
{
    return out ? map_like(p, "starmap", fn, items, chunksize, out, NULL) : MPX_EINVAL;
}

MPX_API int mpx_proxy_pool_starmap_async(mpx_proxy *p, const char *fn, const mpx_obj *items,
                                         size_t chunksize, mpx_proxy **result)
{
    return result ? map_like(p, "starmap_async", fn, items, chunksize, NULL, result)
                  : MPX_EINVAL;
}

MPX_API int mpx_proxy_pool_imap(mpx_proxy *p, const char *fn, const mpx_obj *items,
                                size_t chunksize, mpx_proxy **it)
{
    return it ? map_like(p, "imap", fn, items, chunksize ? chunksize : 1, NULL, it)
              : MPX_EINVAL;
}

MPX_API int mpx_proxy_pool_imap_unordered(mpx_proxy *p, const char *fn, const mpx_obj *items,
                                          size_t chunksize, mpx_proxy **it)
{
    return it ? map_like(p, "imap_unordered", fn, items, chunksize ? chunksize : 1, NULL, it)
              : MPX_EINVAL;
}

static int no_args(mpx_proxy *p, const char *method)
{
    return p ? call_pool(p, method, NULL, NULL, NULL, false) : MPX_EINVAL;
}

MPX_API int mpx_proxy_pool_close(mpx_proxy *p)
{
    return no_args(p, "close");
}

MPX_API int mpx_proxy_pool_terminate(mpx_proxy *p)
{
    return no_args(p, "terminate");
}

MPX_API int mpx_proxy_pool_join(mpx_proxy *p)
{
    return no_args(p, "join");
}

/* ---- AsyncResult ---- */

/* (timeout,): None for MPX_FOREVER, else seconds (0 for <= 0: check once). */
static mpx_obj *timeout_args(mpx_duration timeout)
{
    if (timeout == MPX_FOREVER)
        return mpx_obj_build("(O)", mpx_obj_none());
    return mpx_obj_build("(d)", timeout <= 0 ? 0.0 : (double)timeout / 1000.0);
}

static bool is_timeout(int rc)
{
    return rc == MPX_ETIMEDOUT;
}

MPX_API int mpx_proxy_result_get(mpx_proxy *r, mpx_duration timeout, mpx_obj **out)
{
    if (!r || !out)
        return MPX_EINVAL;
    *out = NULL;
    mpx_obj *a = timeout_args(timeout);
    int rc = a ? call_pool(r, "get", a, out, NULL, false) : -ENOMEM;
    mpx_obj_decref(a);
    if (is_timeout(rc)) { /* TimeoutError: nothing in *out, as locally */
        mpx_obj_decref(*out);
        *out = NULL;
    }
    return rc;
}

static int yes_no(mpx_proxy *r, const char *method, const mpx_obj *args, bool not_ready)
{
    if (!r)
        return MPX_EINVAL;
    mpx_obj *v = NULL;
    mpx_remote_error err;
    memset(&err, 0, sizeof err);
    int rc = mpx_proxy_callmethod(r, method, args, NULL, &v, NULL, &err);
    if (rc)
        rc = state_error(rc, &err, not_ready);
    else
        rc = mpx_obj_truth(v);
    mpx_remote_error_clear(&err);
    mpx_obj_decref(v);
    return rc;
}

MPX_API int mpx_proxy_result_wait(mpx_proxy *r, mpx_duration timeout)
{
    if (!r)
        return MPX_EINVAL;
    mpx_obj *a = timeout_args(timeout);
    int rc = a ? mpx_proxy_call(r, "wait", a, NULL, NULL) : -ENOMEM;
    mpx_obj_decref(a);
    /* wait returns None (Python): ready() tells which way it ended */
    return rc ? rc : yes_no(r, "ready", NULL, false);
}

MPX_API int mpx_proxy_result_ready(mpx_proxy *r)
{
    return yes_no(r, "ready", NULL, false);
}

MPX_API int mpx_proxy_result_successful(mpx_proxy *r)
{
    return yes_no(r, "successful", NULL, true);
}
