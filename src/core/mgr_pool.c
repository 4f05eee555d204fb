/*
 * mgr_pool.c - SyncManager.Pool (#16, MGR-16): a process pool living in
 * the manager, used through a PoolProxy, with AsyncResult objects for
 * apply_async/map_async/starmap_async and Iterator objects for imap and
 * imap_unordered, as CPython's multiprocessing.managers registers them.
 *
 * A function crosses the wire as a global reference (pickle's
 * module.qualname, what CPython sends for pool.map(f, ...)); the server
 * runs the function registered under qualname with mpx_register_function
 * (docs/manager.md, "Pool"): an mpx_obj_fn (f(x)) for map, map_async,
 * imap and imap_unordered; an mpx_obj_star_fn (f(*args, **kwds)) for
 * apply, apply_async, starmap and starmap_async.
 *
 * The pool's calls wait for results in slices of 100 ms, checking whether
 * the client went away (mpx_manager_call_aborted): a client killed in the
 * middle of pool.map leaves no thread behind; its tasks are cancelled.
 */
#include "core/mgr_internal.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define SLICE_MS 100

typedef struct mpool {
    pthread_mutex_t mu;
    mpx_pool *pool;
    bool closed; /* close() or terminate() was called */
    int refs;    /* the Pool object and every result or iterator made from it */
} mpool;

static mpool *pool_ref(mpool *p)
{
    __atomic_fetch_add(&p->refs, 1, __ATOMIC_RELAXED);
    return p;
}

/* The last reference: the pool goes (terminated when not closed, as
 * Pool.__del__). */
static void pool_unref(mpool *p)
{
    if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    mpx_pool_destroy(p->pool);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* ---- helpers ------------------------------------------------------------------------- */

/* The function a value names: a global reference module.qualname whose
 * qualname is a registered function; a str is taken as the name too. */
static int func_of(mpx_manager_call *call, const mpx_obj *v, mpx_fn *out)
{
    const char *mod = NULL, *name = NULL;
    if (v && mpx_obj_typeof(v) == MPX_OBJ_STR)
        name = mpx_obj_str_value(v);
    else if (!v || mpx_obj_class_name(v, &mod, &name) != 0)
        return mpx_manager_raise(call, MPX_ETYPE, "'%s' object is not callable",
                                 v ? mpx_obj_type_name(v) : "NoneType");
    if (!name || mpx_lookup_function(name, out) != 0)
        return mpx_manager_raise(call, MPX_EINVAL,
                                 "no function registered as '%s' in the manager's program "
                                 "(mpx_register_function)",
                                 name ? name : "?");
    return 0;
}

/* A Python timeout (None or seconds) as a deadline: None is no limit; a
 * negative or zero timeout only checks (threading.Event.wait(-1) returns
 * at once, as AsyncResult.get / wait and IMapIterator.next use it). */
static int deadline_of(mpx_manager_call *call, const mpx_obj *v, mpx__deadline *out)
{
    *out = MPX__NEVER;
    if (!v || mpx_obj_typeof(v) == MPX_OBJ_NONE)
        return 0;
    double s;
    if (mpx_obj_typeof(v) == MPX_OBJ_STR || mpx_obj_get_float(v, &s))
        return mpx_manager_raise(call, MPX_ETYPE, "'%s' object cannot be interpreted as a timeout",
                                 mpx_obj_type_name(v));
    if (isnan(s))
        return mpx_manager_raise(call, MPX_EINVAL, "Invalid value NaN (not a number)");
    if (s > 9.2e9)
        return 0;
    *out = mpx__now_ns() + (s > 0 ? (int64_t)(s * 1e9) : 0);
    return 0;
}

/* The next wait of a sliced wait until d: at most SLICE_MS, MPX_NOWAIT
 * once d has passed. */
static mpx_duration slice_of(mpx__deadline d)
{
    int64_t left = mpx__deadline_left_ns(d);
    if (left < 0)
        return SLICE_MS;
    if (left == 0)
        return MPX_NOWAIT;
    int64_t ms = (left + 999999) / 1000000;
    return ms < SLICE_MS ? ms : SLICE_MS;
}

/* chunksize: None or a positive int. */
static int chunk_of(mpx_manager_call *call, const mpx_obj *v, size_t *out)
{
    *out = 0;
    if (!v || mpx_obj_typeof(v) == MPX_OBJ_NONE)
        return 0;
    int64_t n;
    if (mpx_obj_typeof(v) != MPX_OBJ_INT || mpx_obj_get_int(v, &n))
        return mpx_manager_raise(call, MPX_ETYPE, "chunksize must be an int");
    if (n < 1)
        return mpx_manager_raise(call, MPX_EINVAL, "Chunksize must be 1+, not %lld", (long long)n);
    *out = (size_t)n;
    return 0;
}

/* A failed item: raise its error value in the client (Python re-raises
 * the task's exception), or the code when there is none. */
static int raise_item(mpx_manager_call *call, int rc, mpx_obj *err)
{
    if (err) {
        int r = mpx_manager_raise_exc(call, err);
        mpx_obj_decref(err);
        return r;
    }
    return mpx_manager_raise(call, rc, "%s", mpx_strerror(rc));
}

/* A submission the pool refused: after close or terminate that is
 * Python's ValueError("Pool not running"). */
static int submit_failed(mpx_manager_call *call, int rc)
{
    if (rc == MPX_ESTATE)
        return mpx_manager_raise(call, MPX_EINVAL, "Pool not running");
    return mpx_manager_raise(call, rc, "%s", mpx_strerror(rc));
}

static mpx_pool *pool_of(mpool *p, mpx_manager_call *call, int *rc)
{
    pthread_mutex_lock(&p->mu);
    mpx_pool *pool = p->closed ? NULL : p->pool;
    pthread_mutex_unlock(&p->mu);
    *rc = pool ? 0 : mpx_manager_raise(call, MPX_EINVAL, "Pool not running");
    return pool;
}

/* ---- AsyncResult ----------------------------------------------------------------------- */

typedef struct mresult {
    mpx_obj_result *r;
    mpool *pool; /* kept alive while the result is */
} mresult;

/* Wait until r is ready or d passes, in slices; 1 ready, 0 timed out,
 * MPX_ECLOSED (the client went away or the server stops). */
static int wait_ready(mpx_obj_result *r, mpx__deadline d, mpx_manager_call *call)
{
    for (;;) {
        int rc = mpx_obj_result_wait(r, slice_of(d));
        if (rc != 0)
            return rc;
        if (mpx__deadline_expired(d))
            return 0;
        if (mpx_manager_call_aborted(call))
            return MPX_ECLOSED;
    }
}

/* multiprocessing.context.TimeoutError, as get and next raise it. */
static int raise_timeout(mpx_manager_call *call)
{
    mpx_obj *e = mpx_manager_exception("multiprocessing.context", "TimeoutError", NULL);
    int rc = e ? mpx_manager_raise_exc(call, e) : -ENOMEM;
    mpx_obj_decref(e);
    return rc;
}

static int ar_get(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                  mpx_manager_call *call)
{
    mresult *m = self;
    static const char *const names[] = {"timeout"};
    const mpx_obj *a[1];
    mpx__deadline d;
    int rc = mpx__mgr_bind(call, "get", args, kwds, 0, 1, names, a);
    if (!rc)
        rc = deadline_of(call, a[0], &d);
    if (rc)
        return rc;
    rc = wait_ready(m->r, d, call);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return raise_timeout(call);
    mpx_obj *v = NULL;
    rc = mpx_obj_result_get(m->r, MPX_NOWAIT, &v);
    if (rc)
        return raise_item(call, rc, v);
    *result = v;
    return 0;
}

static int ar_wait(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    mresult *m = self;
    static const char *const names[] = {"timeout"};
    const mpx_obj *a[1];
    mpx__deadline d;
    int rc = mpx__mgr_bind(call, "wait", args, kwds, 0, 1, names, a);
    if (!rc)
        rc = deadline_of(call, a[0], &d);
    if (!rc)
        rc = wait_ready(m->r, d, call);
    return rc < 0 ? rc : 0; /* None, as Python's wait */
}

static int ar_ready(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                    mpx_manager_call *call)
{
    mresult *m = self;
    int rc = mpx__mgr_bind(call, "ready", args, kwds, 0, 0, NULL, NULL);
    if (rc)
        return rc;
    rc = mpx_obj_result_ready(m->r);
    return rc < 0 ? rc : mpx__mgr_ret(result, mpx_obj_bool(rc));
}

static int ar_successful(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                         mpx_manager_call *call)
{
    mresult *m = self;
    int rc = mpx__mgr_bind(call, "successful", args, kwds, 0, 0, NULL, NULL);
    if (rc)
        return rc;
    rc = mpx_obj_result_successful(m->r);
    if (rc == MPX_ESTATE)
        return mpx_manager_raise(call, MPX_EINVAL, "%s", "<AsyncResult> not ready");
    return rc < 0 ? rc : mpx__mgr_ret(result, mpx_obj_bool(rc));
}

static void ar_release(void *self)
{
    mresult *m = self;
    mpx_obj_result_destroy(m->r);
    pool_unref(m->pool);
    free(m);
}

static char *ar_repr(void *self)
{
    char *s = NULL;
    return asprintf(&s, "<multiprocessing.pool.ApplyResult object at %p>", self) < 0 ? NULL : s;
}

static const mpx_manager_method ar_methods[] = {{"get", ar_get},
                                                {"wait", ar_wait},
                                                {"ready", ar_ready},
                                                {"successful", ar_successful},
                                                {NULL, NULL}};
static const mpx_manager_class result_class = {"ApplyResult", ar_methods, ar_release, ar_repr,
                                               NULL, 1, 0};

static int return_result(mpx_manager_call *call, mpool *p, mpx_obj_result *r)
{
    mresult *m = calloc(1, sizeof *m);
    if (!m) {
        mpx_obj_result_destroy(r);
        return -ENOMEM;
    }
    m->r = r;
    m->pool = pool_ref(p);
    mpx_referent *ref;
    int rc = mpx_referent_create(&ref, &result_class, m);
    if (rc) {
        ar_release(m);
        return rc;
    }
    return mpx_manager_return_object(call, ref);
}

/* ---- the iterator of imap / imap_unordered ----------------------------------------------- */

typedef struct mimap {
    pthread_mutex_t mu; /* one consumer at a time */
    mpx_obj_imap *it;
    mpool *pool;
} mimap;

static int im_next(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    mimap *m = self;
    static const char *const names[] = {"timeout"};
    const mpx_obj *a[1];
    mpx__deadline d;
    int rc = mpx__mgr_bind(call, "next", args, kwds, 0, 1, names, a);
    if (!rc)
        rc = deadline_of(call, a[0], &d);
    if (rc)
        return rc;
    pthread_mutex_lock(&m->mu);
    mpx_obj *v = NULL;
    for (;;) {
        rc = mpx_obj_imap_next(m->it, slice_of(d), &v, NULL);
        if (rc != MPX_ETIMEDOUT || mpx__deadline_expired(d))
            break;
        if (mpx_manager_call_aborted(call)) {
            rc = MPX_ECLOSED;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    if (rc == 0) {
        *result = v;
        return 0;
    }
    if (rc == MPX_EEOF)
        return mpx_manager_raise(call, MPX_EEOF, NULL);
    if (rc == MPX_ETIMEDOUT)
        return raise_timeout(call);
    if (rc == MPX_ECLOSED)
        return rc;
    return raise_item(call, rc, v);
}

static void im_release(void *self)
{
    mimap *m = self;
    mpx_obj_imap_destroy(m->it);
    pool_unref(m->pool);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static char *im_repr(void *self)
{
    char *s = NULL;
    return asprintf(&s, "<multiprocessing.pool.IMapIterator object at %p>", self) < 0 ? NULL : s;
}

static const mpx_manager_method im_methods[] = {{"__next__", im_next}, {"next", im_next},
                                                {NULL, NULL}};
static const mpx_manager_class imap_class = {"IMapIterator", im_methods, im_release, im_repr,
                                             NULL, 1, 0};

static int return_imap(mpx_manager_call *call, mpool *p, mpx_obj_imap *it)
{
    mimap *m = calloc(1, sizeof *m);
    if (!m) {
        mpx_obj_imap_destroy(it);
        return -ENOMEM;
    }
    pthread_mutex_init(&m->mu, NULL);
    m->it = it;
    m->pool = pool_ref(p);
    mpx_referent *ref;
    int rc = mpx_referent_create(&ref, &imap_class, m);
    if (rc) {
        im_release(m);
        return rc;
    }
    return mpx_manager_return_object(call, ref);
}

/* ---- Pool's methods -------------------------------------------------------------------- */

/* Wait for an async result made for a blocking call, return its value. */
static int finish(mpx_manager_call *call, mpx_obj_result *r, mpx_obj **result)
{
    int rc = wait_ready(r, MPX__NEVER, call);
    if (rc == 1) {
        mpx_obj *v = NULL;
        rc = mpx_obj_result_get(r, MPX_NOWAIT, &v);
        if (rc)
            rc = raise_item(call, rc, v);
        else
            *result = v;
    }
    mpx_obj_result_destroy(r); /* cancels what is left when the client went away */
    return rc;
}

/* apply(func, args=(), kwds={}) and apply_async(func, args=(), kwds={}, callback=None,
 * error_callback=None). */
static int do_apply(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                    mpx_manager_call *call, bool async)
{
    static const char *const names[] = {"func", "args", "kwds", "callback", "error_callback"};
    const mpx_obj *a[5];
    int rc = mpx__mgr_bind(call, async ? "apply_async" : "apply", args, kwds, 1, async ? 5 : 3,
                           names, a);
    if (rc)
        return rc;
    for (int i = 3; async && i < 5; i++)
        if (a[i] && mpx_obj_typeof(a[i]) != MPX_OBJ_NONE)
            return mpx_manager_raise(call, MPX_ENOTSUP,
                                     "callbacks run in the manager: not supported");
    mpx_fn fn;
    if ((rc = func_of(call, a[0], &fn)))
        return rc;
    const mpx_obj *fa = a[1] && mpx_obj_typeof(a[1]) != MPX_OBJ_NONE ? a[1] : NULL;
    const mpx_obj *fk = a[2] && mpx_obj_typeof(a[2]) != MPX_OBJ_NONE ? a[2] : NULL;
    mpx_pool *pool = pool_of(self, call, &rc);
    if (!pool)
        return rc;
    mpx_obj_result *r;
    rc = mpx_pool_apply_star_obj_async(pool, (mpx_obj_star_fn)fn, fa, fk, NULL, &r);
    if (rc)
        return submit_failed(call, rc);
    return async ? return_result(call, self, r) : finish(call, r, result);
}

static int p_apply(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    return do_apply(self, args, kwds, result, call, false);
}

static int p_apply_async(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                         mpx_manager_call *call)
{
    return do_apply(self, args, kwds, result, call, true);
}

enum { MAP, STARMAP, IMAP, IMAP_UNORDERED };

/* map/starmap(func, iterable, chunksize=None), their _async forms (with
 * callback, error_callback), imap/imap_unordered(func, iterable,
 * chunksize=1). */
static int do_map(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                  mpx_manager_call *call, int kind, bool async)
{
    static const char *const names[] = {"func", "iterable", "chunksize", "callback",
                                        "error_callback"};
    static const char *const fnames[] = {"map", "starmap", "imap", "imap_unordered"};
    const mpx_obj *a[5];
    int rc = mpx__mgr_bind(call, fnames[kind], args, kwds, 2, async ? 5 : 3, names, a);
    if (rc)
        return rc;
    for (int i = 3; async && i < 5; i++)
        if (a[i] && mpx_obj_typeof(a[i]) != MPX_OBJ_NONE)
            return mpx_manager_raise(call, MPX_ENOTSUP,
                                     "callbacks run in the manager: not supported");
    mpx_fn fn;
    mpx_obj_call_opts o;
    memset(&o, 0, sizeof o);
    if ((rc = func_of(call, a[0], &fn)) || (rc = chunk_of(call, a[2], &o.chunksize)))
        return rc;
    mpx_obj *items;
    if ((rc = mpx__mgr_items_of(call, a[1], &items)))
        return rc;
    mpx_pool *pool = pool_of(self, call, &rc);
    if (!pool) {
        mpx_obj_decref(items);
        return rc;
    }
    mpx_obj_result *r = NULL;
    mpx_obj_imap *it = NULL;
    if (kind == MAP)
        rc = mpx_pool_map_obj_async(pool, (mpx_obj_fn)fn, items, &o, &r);
    else if (kind == STARMAP)
        rc = mpx_pool_starmap_obj_async(pool, (mpx_obj_star_fn)fn, items, &o, &r);
    else if (kind == IMAP)
        rc = mpx_pool_imap_obj(pool, (mpx_obj_fn)fn, items, &o, &it);
    else
        rc = mpx_pool_imap_unordered_obj(pool, (mpx_obj_fn)fn, items, &o, &it);
    mpx_obj_decref(items);
    if (rc)
        return submit_failed(call, rc);
    if (it)
        return return_imap(call, self, it);
    return async ? return_result(call, self, r) : finish(call, r, result);
}

#define MAP_METHOD(name, kind, async)                                                          \
    static int name(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,   \
                    mpx_manager_call *call)                                                    \
    {                                                                                          \
        return do_map(self, args, kwds, result, call, kind, async);                            \
    }
MAP_METHOD(p_map, MAP, false)
MAP_METHOD(p_map_async, MAP, true)
MAP_METHOD(p_starmap, STARMAP, false)
MAP_METHOD(p_starmap_async, STARMAP, true)
MAP_METHOD(p_imap, IMAP, false)
MAP_METHOD(p_imap_unordered, IMAP_UNORDERED, false)

static int p_close(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                   mpx_manager_call *call)
{
    mpool *p = self;
    int rc = mpx__mgr_bind(call, "close", args, kwds, 0, 0, NULL, NULL);
    if (rc)
        return rc;
    pthread_mutex_lock(&p->mu);
    p->closed = true;
    rc = mpx_pool_close(p->pool);
    pthread_mutex_unlock(&p->mu);
    return rc == MPX_ESTATE ? 0 : rc; /* after terminate: nothing to do, as in Python */
}

static int p_terminate(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                       mpx_manager_call *call)
{
    mpool *p = self;
    int rc = mpx__mgr_bind(call, "terminate", args, kwds, 0, 0, NULL, NULL);
    if (rc)
        return rc;
    pthread_mutex_lock(&p->mu);
    p->closed = true;
    pthread_mutex_unlock(&p->mu);
    rc = mpx_pool_terminate(p->pool);
    return rc == MPX_ESTATE ? 0 : rc;
}

static int p_join(void *self, const mpx_obj *args, const mpx_obj *kwds, mpx_obj **result,
                  mpx_manager_call *call)
{
    mpool *p = self;
    int rc = mpx__mgr_bind(call, "join", args, kwds, 0, 0, NULL, NULL);
    if (rc)
        return rc;
    pthread_mutex_lock(&p->mu);
    bool closed = p->closed;
    pthread_mutex_unlock(&p->mu);
    if (!closed) /* Python asserts the state: ValueError("Pool is still running") */
        return mpx_manager_raise(call, MPX_EINVAL, "Pool is still running");
    return mpx_pool_join(p->pool);
}

static void p_release(void *self)
{
    pool_unref(self);
}

static char *p_repr(void *self)
{
    mpool *p = self;
    char *s = NULL;
    pthread_mutex_lock(&p->mu);
    int r = asprintf(&s, "<multiprocessing.pool.Pool state=%s pool_size=%d>",
                     p->closed ? "CLOSE" : "RUN", mpx_pool_processes(p->pool));
    pthread_mutex_unlock(&p->mu);
    return r < 0 ? NULL : s;
}

static const mpx_manager_method pool_methods[] = {
    {"apply", p_apply},         {"apply_async", p_apply_async},
    {"map", p_map},             {"map_async", p_map_async},
    {"starmap", p_starmap},     {"starmap_async", p_starmap_async},
    {"imap", p_imap},           {"imap_unordered", p_imap_unordered},
    {"close", p_close},         {"terminate", p_terminate},
    {"join", p_join},           {NULL, NULL}};
static const mpx_manager_class pool_class = {"Pool", pool_methods, p_release, p_repr, NULL, 1, 0};

/* Pool(processes=None, initializer=None, initargs=(), maxtasksperchild=None) */
int mpx__mgr_pool_create(const mpx_obj *args, const mpx_obj *kwds, mpx_referent **out,
                         mpx_manager_call *call)
{
    static const char *const names[] = {"processes", "initializer", "initargs",
                                        "maxtasksperchild"};
    const mpx_obj *a[4];
    int rc = mpx__mgr_bind(call, "Pool", args, kwds, 0, 4, names, a);
    if (rc)
        return rc;
    int64_t n = MPX_POOL_DEFAULT, maxt = 0;
    if (a[0] && mpx_obj_typeof(a[0]) != MPX_OBJ_NONE) {
        if (mpx_obj_typeof(a[0]) != MPX_OBJ_INT || mpx_obj_get_int(a[0], &n))
            return mpx_manager_raise(call, MPX_ETYPE, "processes must be an int");
        if (n < 1)
            return mpx_manager_raise(call, MPX_EINVAL, "Number of processes must be at least 1");
        if (n > INT_MAX)
            return mpx_manager_raise(call, MPX_EINVAL, "too many processes: %lld", (long long)n);
    }
    if (a[1] && mpx_obj_typeof(a[1]) != MPX_OBJ_NONE)
        return mpx_manager_raise(call, MPX_ENOTSUP, "a manager's Pool takes no initializer");
    if (a[3] && mpx_obj_typeof(a[3]) != MPX_OBJ_NONE) {
        if (mpx_obj_typeof(a[3]) != MPX_OBJ_INT || mpx_obj_get_int(a[3], &maxt) || maxt < 1 ||
            maxt > INT_MAX)
            return mpx_manager_raise(call, MPX_EINVAL,
                                     "maxtasksperchild must be a positive int or None");
    }
    mpool *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    p->refs = 1;
    mpx_pool_opts o;
    memset(&o, 0, sizeof o);
    o.maxtasksperchild = (int)maxt;
    rc = mpx_pool_create(&p->pool, (int)n, &o);
    if (rc) {
        pthread_mutex_destroy(&p->mu);
        free(p);
        return mpx_manager_raise(call, rc, "cannot start the pool: %s", mpx_strerror(rc));
    }
    rc = mpx_referent_create(out, &pool_class, p);
    if (rc)
        p_release(p);
    return rc;
}
