/*
 * pool_obj.c - pools over values, the parent side of map, starmap and
 * apply (include/mpx/pool.h, "Values"; POOL-07..11, POOL-15/16,
 * ASYNC-01..05; #15). Layered on the public byte pool calls: every item is
 * encoded (core/pool_obj.h) into one buffer this result owns, submitted
 * with mpx_pool_map_async / mpx_pool_apply_async running
 * mpx__pool_obj_task, and decoded once when the result is ready.
 *
 * Lifetime of the inputs: the byte pool reads map items while it feeds
 * them, until the job is ready or cancelled (cancel takes the job's lock,
 * which the feeder holds while it reads), so the buffer is freed once the
 * result is ready, or after mpx_result_cancel.
 */
#include "core/pickle_internal.h"
#include "core/obj_internal.h"
#include "core/pool_obj.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define OR_MAGIC 0x6f627273u

enum { OR_APPLY = 1, OR_MAP = 2 };

struct mpx_obj_result {
    uint32_t magic;
    int kind;
    mpx_result *r;
    size_t n;
    mpx__buf in;      /* the encoded items (freed when ready) */
    mpx_bytes *items; /* into in */
    pthread_mutex_t mu;
    /* decoded once ready (mu) */
    bool decoded;
    mpx_obj *list; /* item i's value, or its error value; map's result */
    struct fail {
        size_t index;
        int code;
        bool own;     /* an error value from the task ('E' output) */
        mpx_obj *value;
        char *msg;    /* its text, made on demand */
    } *fails;         /* ascending index */
    size_t nfails, capfails;
    /* callbacks */
    mpx_obj_cb cb, ecb;
    void *udata;
    bool gone; /* destroyed by its user: no more callbacks */
};

/* ---- encoding ---------------------------------------------------------------- */

int mpx__po_check_items(const mpx_obj *items)
{
    switch (mpx_obj_typeof(items)) {
    case MPX_OBJ_TUPLE:
    case MPX_OBJ_LIST:
    case MPX_OBJ_SET:
    case MPX_OBJ_FROZENSET:
    case MPX_OBJ_DICT: return 0;
    default: return MPX_ETYPE;
    }
}

int mpx__po_encode_item(mpx__buf *b, const mpx__buf *hdr, int kind, const mpx_obj *v,
                        const mpx_obj *kwargs)
{
    size_t at = b->len;
    if (kind != MPX__PO_ONE) {
        mpx_obj_type t = mpx_obj_typeof(v);
        if (t != MPX_OBJ_TUPLE && t != MPX_OBJ_LIST)
            return MPX_ETYPE;
    }
    int rc = mpx__buf_append(b, hdr->data, hdr->len);
    if (!rc)
        rc = mpx__po_dump(b, v, NULL);
    if (!rc && kwargs)
        rc = mpx__po_dump(b, kwargs, NULL);
    if (rc)
        b->len = at;
    return rc;
}

/* A big input buffer is written once, front to back: with transparent
 * huge pages (madvise mode) it takes one page fault per 2 MiB instead of
 * one per 4 KiB, which is most of the cost of encoding small items. */
void mpx__po_hugepages(void *p, size_t len)
{
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1), hi = ((uintptr_t)p + len) & ~(huge - 1);
    if (len >= 2 * huge && hi > lo)
        (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
}

/* Encode every item of items into in; *items points into it. */
static int encode_all(mpx__buf *in, mpx_bytes **items, size_t *n, int kind, mpx__fnptr fn,
                      const mpx_obj *seq)
{
    int rc = mpx__po_check_items(seq);
    if (rc)
        return rc;
    int64_t len = mpx_obj_len(seq);
    if (len < 0)
        return (int)len;
    mpx__buf hdr;
    mpx__buf_init(&hdr);
    rc = mpx__pool_obj_header(&hdr, kind, fn);
    size_t *off = rc ? NULL : malloc(((size_t)len + 1) * sizeof *off);
    if (!rc && !off)
        rc = -ENOMEM;
    /* room for small items: no copy while the buffer grows */
    if (!rc && (size_t)len < SIZE_MAX / 64 / 2)
        rc = mpx__buf_reserve(in, (size_t)len * (hdr.len + 24));
    if (!rc)
        mpx__po_hugepages(in->data, in->cap);
    size_t pos = 0, k = 0;
    mpx_obj *v;
    while (!rc && mpx_obj_next(seq, &pos, &v) == 1 && k < (size_t)len) {
        off[k++] = in->len;
        rc = mpx__po_encode_item(in, &hdr, kind, v, NULL);
    }
    mpx__buf_free(&hdr);
    mpx_bytes *it = NULL;
    if (!rc) {
        it = malloc((k ? k : 1) * sizeof *it);
        if (!it)
            rc = -ENOMEM;
    }
    if (rc) {
        free(off);
        return rc;
    }
    off[k] = in->len;
    for (size_t i = 0; i < k; i++)
        it[i] = (mpx_bytes){in->data + off[i], off[i + 1] - off[i]};
    free(off);
    *items = it;
    *n = k;
    return 0;
}

/* ---- decoding ---------------------------------------------------------------- */

static int add_fail(mpx_obj_result *o, size_t i, int code, bool own, mpx_obj *value)
{
    if (o->nfails == o->capfails) {
        size_t cap = o->capfails ? o->capfails * 2 : 4;
        struct fail *f = realloc(o->fails, cap * sizeof *f);
        if (!f)
            return -ENOMEM;
        o->fails = f;
        o->capfails = cap;
    }
    o->fails[o->nfails++] = (struct fail){i, code, own, mpx_obj_incref(value), NULL};
    return 0;
}

static struct fail *find_fail(mpx_obj_result *o, size_t i)
{
    size_t lo = 0, hi = o->nfails;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->fails[mid].index < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < o->nfails && o->fails[lo].index == i ? &o->fails[lo] : NULL;
}

/* Decode every item once the byte result is ready (o->mu held): into one
 * list, values and error values alike, with a record per failed item. */
static int decode_locked(mpx_obj_result *o, mpx_result *r)
{
    if (o->decoded)
        return 0;
    size_t n = o->n;
    mpx_obj *list = mpx__v_list_new(n);
    if (!list)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc != -ENOMEM; i++) {
        const void *data;
        size_t len;
        mpx_obj *v = NULL;
        bool own = false;
        int code = mpx_result_item(r, i, &data, &len);
        if (code == 0) {
            int failed;
            code = mpx__pool_obj_output(data, len, &v, &failed);
            if (code == 0 && failed) {
                code = MPX_ETASK;
                own = true;
            }
        } else {
            mpx_task_error e;
            v = mpx__obj_exception_for(code, mpx_result_item_error(r, i, &e) == 0 ? e.message : NULL);
        }
        if (!v) {
            v = mpx_obj_none();
            code = code ? code : -ENOMEM;
        }
        if (code)
            rc = add_fail(o, i, code, own, v);
        if (!rc)
            rc = mpx_obj_list_append_new(list, v);
        else
            mpx_obj_decref(v);
    }
    if (rc) {
        for (size_t k = 0; k < o->nfails; k++)
            mpx_obj_decref(o->fails[k].value);
        o->nfails = 0;
        mpx_obj_decref(list);
        return rc;
    }
    o->list = list;
    o->decoded = true;
    /* nothing reads the inputs any more */
    mpx__buf_free(&o->in);
    free(o->items);
    o->items = NULL;
    return 0;
}

/* The value of the whole result (new reference), or its error. */
static int outcome_locked(mpx_obj_result *o, mpx_obj **out)
{
    if (o->nfails) {
        *out = mpx_obj_incref(o->fails[0].value);
        return o->fails[0].code;
    }
    if (o->kind == OR_APPLY) {
        *out = mpx_obj_incref(mpx_obj_item(o->list, 0));
        return *out ? 0 : MPX_ESTATE;
    }
    *out = mpx_obj_incref(o->list);
    return 0;
}

/* byte callbacks, in the pool's handler thread */
static void on_ready(mpx_result *r, void *udata)
{
    mpx_obj_result *o = udata;
    pthread_mutex_lock(&o->mu);
    mpx_obj *v = NULL;
    int rc = o->gone ? 0 : decode_locked(o, r);
    if (!o->gone && !rc)
        rc = outcome_locked(o, &v);
    bool call = !o->gone;
    mpx_obj_cb cb = rc == 0 ? o->cb : o->ecb;
    void *ud = o->udata;
    pthread_mutex_unlock(&o->mu);
    if (call && cb && v)
        cb(v, ud);
    mpx_obj_decref(v);
}

/* ---- calls ------------------------------------------------------------------- */

static void result_free(mpx_obj_result *o)
{
    for (size_t i = 0; i < o->nfails; i++) {
        mpx_obj_decref(o->fails[i].value);
        free(o->fails[i].msg);
    }
    free(o->fails);
    mpx_obj_decref(o->list);
    mpx__buf_free(&o->in);
    free(o->items);
    pthread_mutex_destroy(&o->mu);
    o->magic = 0;
    free(o);
}

static mpx_obj_result *result_new(int kind, const mpx_obj_call_opts *opts)
{
    mpx_obj_result *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->magic = OR_MAGIC;
    o->kind = kind;
    mpx__buf_init(&o->in);
    pthread_mutex_init(&o->mu, NULL);
    if (opts) {
        o->cb = opts->callback;
        o->ecb = opts->error_callback;
        o->udata = opts->udata;
    }
    return o;
}

void mpx__po_call_opts(const mpx_obj_call_opts *in, mpx_call_opts *out, void *udata, bool cbs)
{
    memset(out, 0, sizeof *out);
    if (!in)
        return;
    out->chunksize = in->chunksize;
    out->timeout = in->timeout;
    out->progress = in->progress;
    out->progress_udata = in->progress_udata;
    out->progress_bar = in->progress_bar;
    out->lookahead = in->lookahead;
    if (cbs && (in->callback || in->error_callback)) {
        out->callback = on_ready;
        out->error_callback = on_ready;
        out->udata = udata;
    }
}

static int submit(mpx_pool *p, mpx_obj_result *o, const mpx_obj_call_opts *opts,
                  mpx_obj_result **out)
{
    mpx_call_opts co;
    mpx__po_call_opts(opts, &co, o, true);
    int rc;
    mpx_result *r = NULL;
    if (o->kind == OR_APPLY)
        rc = mpx_pool_apply_async(p, mpx__pool_obj_task, o->in.data, o->in.len, &co, &r);
    else
        rc = mpx_pool_map_async(p, mpx__pool_obj_task, o->items, o->n, &co, &r);
    if (rc) {
        result_free(o);
        return rc;
    }
    o->r = r;
    if (o->kind == OR_APPLY) {
        /* apply copied its input (a callback may be decoding already) */
        pthread_mutex_lock(&o->mu);
        mpx__buf_free(&o->in);
        pthread_mutex_unlock(&o->mu);
    }
    *out = o;
    return 0;
}

static int map_common(mpx_pool *p, int kind, mpx__fnptr fn, const mpx_obj *items,
                      const mpx_obj_call_opts *opts, mpx_obj_result **out)
{
    if (!p || !fn || !items || !out)
        return MPX_EINVAL;
    mpx_obj_result *o = result_new(OR_MAP, opts);
    if (!o)
        return -ENOMEM;
    int rc = encode_all(&o->in, &o->items, &o->n, kind, fn, items);
    if (rc) {
        result_free(o);
        return rc;
    }
    return submit(p, o, opts, out);
}

static int wait_value(int rc, mpx_obj_result *o, mpx_obj **out)
{
    if (rc)
        return rc;
    rc = mpx_obj_result_get(o, MPX_FOREVER, out);
    mpx_obj_result_destroy(o);
    return rc;
}

MPX_API int mpx_pool_map_obj_async(mpx_pool *p, mpx_obj_fn fn, const mpx_obj *items,
                                   const mpx_obj_call_opts *opts, mpx_obj_result **out)
{
    return map_common(p, MPX__PO_ONE, (mpx__fnptr)fn, items, opts, out);
}

MPX_API int mpx_pool_map_obj(mpx_pool *p, mpx_obj_fn fn, const mpx_obj *items,
                             const mpx_obj_call_opts *opts, mpx_obj **out)
{
    if (out)
        *out = NULL;
    mpx_obj_result *o = NULL;
    int rc = map_common(p, MPX__PO_ONE, (mpx__fnptr)fn, items, opts, out ? &o : NULL);
    return wait_value(rc, o, out);
}

MPX_API int mpx_pool_starmap_obj_async(mpx_pool *p, mpx_obj_star_fn fn, const mpx_obj *items,
                                       const mpx_obj_call_opts *opts, mpx_obj_result **out)
{
    return map_common(p, MPX__PO_STAR, (mpx__fnptr)fn, items, opts, out);
}

MPX_API int mpx_pool_starmap_obj(mpx_pool *p, mpx_obj_star_fn fn, const mpx_obj *items,
                                 const mpx_obj_call_opts *opts, mpx_obj **out)
{
    if (out)
        *out = NULL;
    mpx_obj_result *o = NULL;
    int rc = map_common(p, MPX__PO_STAR, (mpx__fnptr)fn, items, opts, out ? &o : NULL);
    return wait_value(rc, o, out);
}

static int apply_common(mpx_pool *p, int kind, mpx__fnptr fn, const mpx_obj *arg,
                        const mpx_obj *kwargs, const mpx_obj_call_opts *opts, mpx_obj_result **out)
{
    if (!p || !fn || !out || (kind == MPX__PO_ONE && !arg))
        return MPX_EINVAL;
    if (kwargs) {
        if (mpx_obj_typeof(kwargs) != MPX_OBJ_DICT)
            return MPX_ETYPE;
        size_t pos = 0;
        mpx_obj *k;
        while (mpx_obj_next(kwargs, &pos, &k) == 1)
            if (mpx_obj_typeof(k) != MPX_OBJ_STR)
                return MPX_ETYPE; /* Python: keywords must be strings */
        if (mpx_obj_len(kwargs) == 0)
            kwargs = NULL;
    }
    if (kwargs)
        kind = MPX__PO_STARKW;
    mpx_obj_result *o = result_new(OR_APPLY, opts);
    if (!o)
        return -ENOMEM;
    o->n = 1;
    mpx_obj *empty = NULL;
    if (kind != MPX__PO_ONE && !arg)
        arg = empty = mpx_obj_tuple(0);
    mpx__buf hdr;
    mpx__buf_init(&hdr);
    int rc = arg ? mpx__pool_obj_header(&hdr, kind, fn) : -ENOMEM;
    if (!rc)
        rc = mpx__po_encode_item(&o->in, &hdr, kind, arg, kwargs);
    mpx__buf_free(&hdr);
    mpx_obj_decref(empty);
    if (rc) {
        result_free(o);
        return rc;
    }
    return submit(p, o, opts, out);
}

MPX_API int mpx_pool_apply_obj_async(mpx_pool *p, mpx_obj_fn fn, const mpx_obj *arg,
                                     const mpx_obj_call_opts *opts, mpx_obj_result **out)
{
    return apply_common(p, MPX__PO_ONE, (mpx__fnptr)fn, arg, NULL, opts, out);
}

MPX_API int mpx_pool_apply_obj(mpx_pool *p, mpx_obj_fn fn, const mpx_obj *arg,
                               const mpx_obj_call_opts *opts, mpx_obj **out)
{
    if (out)
        *out = NULL;
    mpx_obj_result *o = NULL;
    int rc = apply_common(p, MPX__PO_ONE, (mpx__fnptr)fn, arg, NULL, opts, out ? &o : NULL);
    return wait_value(rc, o, out);
}

MPX_API int mpx_pool_apply_star_obj_async(mpx_pool *p, mpx_obj_star_fn fn, const mpx_obj *args,
                                          const mpx_obj *kwargs, const mpx_obj_call_opts *opts,
                                          mpx_obj_result **out)
{
    return apply_common(p, MPX__PO_STAR, (mpx__fnptr)fn, args, kwargs, opts, out);
}

MPX_API int mpx_pool_apply_star_obj(mpx_pool *p, mpx_obj_star_fn fn, const mpx_obj *args,
                                    const mpx_obj *kwargs, const mpx_obj_call_opts *opts,
                                    mpx_obj **out)
{
    if (out)
        *out = NULL;
    mpx_obj_result *o = NULL;
    int rc = apply_common(p, MPX__PO_STAR, (mpx__fnptr)fn, args, kwargs, opts, out ? &o : NULL);
    return wait_value(rc, o, out);
}

/* ---- results ------------------------------------------------------------------ */

static bool res_ok(const mpx_obj_result *o)
{
    return o && o->magic == OR_MAGIC;
}

/* Ready (1) or not (0), whatever convention mpx_result_wait follows. */
static int is_ready(mpx_obj_result *o)
{
    return mpx_result_ready(o->r) == 1;
}

MPX_API int mpx_obj_result_wait(mpx_obj_result *o, mpx_duration timeout)
{
    if (!res_ok(o))
        return MPX_EINVAL;
    int rc = mpx_result_wait(o->r, timeout);
    if (rc < 0 && rc != MPX_ETIMEDOUT)
        return rc;
    return is_ready(o);
}

MPX_API int mpx_obj_result_ready(mpx_obj_result *o)
{
    if (!res_ok(o))
        return MPX_EINVAL;
    return is_ready(o);
}

/* Decoded (0), or MPX_ESTATE when not ready. */
static int ensure_decoded(mpx_obj_result *o)
{
    if (!is_ready(o))
        return MPX_ESTATE;
    pthread_mutex_lock(&o->mu);
    int rc = decode_locked(o, o->r);
    pthread_mutex_unlock(&o->mu);
    return rc;
}

MPX_API int mpx_obj_result_get(mpx_obj_result *o, mpx_duration timeout, mpx_obj **out)
{
    if (!res_ok(o) || !out)
        return MPX_EINVAL;
    int rc = mpx_obj_result_wait(o, timeout);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return MPX_ETIMEDOUT;
    pthread_mutex_lock(&o->mu);
    rc = decode_locked(o, o->r);
    if (!rc)
        rc = outcome_locked(o, out);
    pthread_mutex_unlock(&o->mu);
    return rc;
}

MPX_API int mpx_obj_result_successful(mpx_obj_result *o)
{
    if (!res_ok(o))
        return MPX_EINVAL;
    int rc = ensure_decoded(o);
    if (rc)
        return rc;
    pthread_mutex_lock(&o->mu);
    int v = o->nfails == 0;
    pthread_mutex_unlock(&o->mu);
    return v;
}

MPX_API size_t mpx_obj_result_count(mpx_obj_result *o)
{
    return res_ok(o) ? o->n : 0;
}

MPX_API int mpx_obj_result_item(mpx_obj_result *o, size_t i, mpx_obj **out)
{
    if (!res_ok(o) || !out)
        return MPX_EINVAL;
    int rc = ensure_decoded(o);
    if (rc)
        return rc;
    if (i >= o->n)
        return MPX_EINVAL;
    pthread_mutex_lock(&o->mu);
    struct fail *f = find_fail(o, i);
    *out = mpx_obj_incref(f ? f->value : mpx_obj_item(o->list, (int64_t)i));
    rc = f ? f->code : *out ? 0 : MPX_ESTATE; /* the list was changed by its user */
    pthread_mutex_unlock(&o->mu);
    return rc;
}

/* Details of a failed item for mpx_task_error (strings owned by *msgslot). */
int mpx__po_error_info(mpx_result *r, mpx_imap *it, size_t index, int code, bool own,
                       const mpx_obj *value, char **msgslot, mpx_task_error *err)
{
    if (!own) {
        int rc = r ? mpx_result_item_error(r, index, err) : mpx_imap_error(it, err);
        if (rc == 0)
            return 0;
    }
    memset(err, 0, sizeof *err);
    err->code = code;
    err->task_rc = code;
    err->index = index;
    if (!*msgslot)
        *msgslot = mpx__obj_exception_text(value);
    err->message = *msgslot ? *msgslot : mpx_strerror(code);
    return 0;
}

MPX_API int mpx_obj_result_error(mpx_obj_result *o, mpx_task_error *err)
{
    if (!res_ok(o) || !err)
        return MPX_EINVAL;
    int rc = ensure_decoded(o);
    if (rc)
        return rc;
    pthread_mutex_lock(&o->mu);
    struct fail *f = o->nfails ? &o->fails[0] : NULL;
    rc = f ? mpx__po_error_info(o->r, NULL, f->index, f->code, f->own, f->value, &f->msg, err)
           : MPX_EEMPTY;
    pthread_mutex_unlock(&o->mu);
    return rc;
}

MPX_API int mpx_obj_result_cancel(mpx_obj_result *o)
{
    if (!res_ok(o))
        return MPX_EINVAL;
    return mpx_result_cancel(o->r);
}

MPX_API void mpx_obj_result_destroy(mpx_obj_result *o)
{
    if (!res_ok(o))
        return;
    if (!is_ready(o)) {
        /* gone first: cancelling makes the result ready, and its callback
         * (in the handler thread) must then call nobody. After cancel the
         * pool reads no more items; a result with callbacks waits for the
         * running items, whose callback still names this object. */
        pthread_mutex_lock(&o->mu);
        o->gone = true;
        pthread_mutex_unlock(&o->mu);
        mpx_result_cancel(o->r);
        if (o->cb || o->ecb)
            mpx_result_wait(o->r, MPX_FOREVER);
    }
    mpx_result_destroy(o->r);
    result_free(o);
}
