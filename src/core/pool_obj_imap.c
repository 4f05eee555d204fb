/*
 * pool_obj_imap.c - pools over values, the parent side of imap and
 * imap_unordered (POOL-12..14, ASYNC-06; #15), over a value's items
 * (encoded when the call is made) or over a generator (encoded one at a
 * time in the pool's handler thread as the byte pool asks for input).
 * Layered on mpx_pool_imap(_unordered)(_gen) running mpx__pool_obj_task.
 */
#include "core/pool_obj.h"

#include <string.h>

#define OI_MAGIC 0x6f62696du

struct mpx_obj_imap {
    uint32_t magic;
    mpx_imap *it;
    /* items form: the encoded items */
    mpx__buf in;
    mpx_bytes *items;
    size_t n;
    /* gen form (handler thread) */
    mpx_obj_gen_fn gen;
    void *state;
    mpx__buf hdr;
    mpx__buf cur; /* the item handed out last */
    /* the last item error returned by next */
    bool has_err, own;
    int code;
    size_t index;
    mpx_obj *errval;
    char *msg;
};

static void imap_free(mpx_obj_imap *o)
{
    mpx__buf_free(&o->in);
    free(o->items);
    mpx__buf_free(&o->hdr);
    mpx__buf_free(&o->cur);
    mpx_obj_decref(o->errval);
    free(o->msg);
    o->magic = 0;
    free(o);
}

/* The byte pool's generator: the next value of the user's, encoded. */
static int gen_tramp(void *state, mpx_bytes *item)
{
    mpx_obj_imap *o = state;
    mpx_obj *v = NULL;
    int rc = o->gen(o->state, &v);
    if (rc <= 0) {
        mpx_obj_decref(v);
        return rc;
    }
    o->cur.len = 0;
    rc = v ? mpx__po_encode_item(&o->cur, &o->hdr, MPX__PO_ONE, v, NULL) : -ENOMEM;
    mpx_obj_decref(v);
    if (rc)
        return rc;
    *item = (mpx_bytes){o->cur.data, o->cur.len};
    return 1;
}

static int imap_common(mpx_pool *p, bool unordered, mpx_obj_fn fn, const mpx_obj *items,
                       mpx_obj_gen_fn gen, void *state, const mpx_obj_call_opts *opts,
                       mpx_obj_imap **out)
{
    if (!p || !fn || !out || (!gen && !items))
        return MPX_EINVAL;
    if (!gen) {
        int rc = mpx__po_check_items(items);
        if (rc)
            return rc;
    }
    mpx_obj_imap *o = calloc(1, sizeof *o);
    if (!o)
        return -ENOMEM;
    o->magic = OI_MAGIC;
    mpx__buf_init(&o->in);
    mpx__buf_init(&o->hdr);
    mpx__buf_init(&o->cur);
    o->gen = gen;
    o->state = state;
    int rc = mpx__pool_obj_header(&o->hdr, MPX__PO_ONE, (mpx__fnptr)fn);
    if (!rc && !gen) {
        int64_t len = mpx_obj_len(items);
        size_t *off = malloc(((size_t)len + 1) * sizeof *off);
        rc = off ? 0 : -ENOMEM;
        size_t pos = 0, k = 0;
        mpx_obj *v;
        while (!rc && k < (size_t)len && mpx_obj_next(items, &pos, &v) == 1) {
            off[k++] = o->in.len;
            rc = mpx__po_encode_item(&o->in, &o->hdr, MPX__PO_ONE, v, NULL);
        }
        if (!rc) {
            o->items = malloc((k ? k : 1) * sizeof *o->items);
            rc = o->items ? 0 : -ENOMEM;
        }
        if (!rc) {
            off[k] = o->in.len;
            for (size_t i = 0; i < k; i++)
                o->items[i] = (mpx_bytes){o->in.data + off[i], off[i + 1] - off[i]};
            o->n = k;
        }
        free(off);
    }
    mpx_call_opts co;
    mpx__po_call_opts(opts, &co, NULL, false);
    if (!rc) {
        if (gen)
            rc = unordered ? mpx_pool_imap_unordered_gen(p, mpx__pool_obj_task, gen_tramp, o, &co,
                                                         &o->it)
                           : mpx_pool_imap_gen(p, mpx__pool_obj_task, gen_tramp, o, &co, &o->it);
        else
            rc = unordered ? mpx_pool_imap_unordered(p, mpx__pool_obj_task, o->items, o->n, &co,
                                                     &o->it)
                           : mpx_pool_imap(p, mpx__pool_obj_task, o->items, o->n, &co, &o->it);
    }
    if (rc) {
        imap_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

MPX_API int mpx_pool_imap_obj(mpx_pool *p, mpx_obj_fn fn, const mpx_obj *items,
                              const mpx_obj_call_opts *opts, mpx_obj_imap **out)
{
    return imap_common(p, false, fn, items, NULL, NULL, opts, out);
}

MPX_API int mpx_pool_imap_unordered_obj(mpx_pool *p, mpx_obj_fn fn, const mpx_obj *items,
                                        const mpx_obj_call_opts *opts, mpx_obj_imap **out)
{
    return imap_common(p, true, fn, items, NULL, NULL, opts, out);
}

MPX_API int mpx_pool_imap_obj_gen(mpx_pool *p, mpx_obj_fn fn, mpx_obj_gen_fn gen, void *state,
                                  const mpx_obj_call_opts *opts, mpx_obj_imap **out)
{
    if (!gen)
        return MPX_EINVAL;
    return imap_common(p, false, fn, NULL, gen, state, opts, out);
}

MPX_API int mpx_pool_imap_unordered_obj_gen(mpx_pool *p, mpx_obj_fn fn, mpx_obj_gen_fn gen,
                                            void *state, const mpx_obj_call_opts *opts,
                                            mpx_obj_imap **out)
{
    if (!gen)
        return MPX_EINVAL;
    return imap_common(p, true, fn, NULL, gen, state, opts, out);
}

static bool imap_ok(const mpx_obj_imap *o)
{
    return o && o->magic == OI_MAGIC;
}

static void set_error(mpx_obj_imap *o, int code, size_t index, bool own, mpx_obj *value)
{
    mpx_obj_decref(o->errval);
    free(o->msg);
    o->msg = NULL;
    o->errval = mpx_obj_incref(value);
    o->has_err = true;
    o->own = own;
    o->code = code;
    o->index = index;
}

MPX_API int mpx_obj_imap_next(mpx_obj_imap *o, mpx_duration timeout, mpx_obj **out,
                              size_t *index)
{
    if (!imap_ok(o) || !out)
        return MPX_EINVAL;
    const void *data;
    size_t len, idx = SIZE_MAX;
    int rc = mpx_imap_next(o->it, timeout, &data, &len, &idx);
    if (idx == SIZE_MAX)
        return rc; /* no item: the end, a timeout, the generator's error */
    if (index)
        *index = idx;
    mpx_obj *v = NULL;
    if (rc == 0) {
        int failed;
        rc = mpx__pool_obj_output(data, len, &v, &failed);
        if (rc == 0 && failed)
            rc = MPX_ETASK;
        if (rc)
            set_error(o, rc, idx, true, v);
    } else {
        mpx_task_error e;
        v = mpx__obj_exception_for(rc, mpx_imap_error(o->it, &e) == 0 ? e.message : NULL);
        set_error(o, rc, idx, false, v);
    }
    if (!v)
        return -ENOMEM;
    *out = v;
    return rc;
}

MPX_API int mpx_obj_imap_error(mpx_obj_imap *o, mpx_task_error *err)
{
    if (!imap_ok(o) || !err)
        return MPX_EINVAL;
    if (!o->has_err)
        return MPX_EEMPTY;
    return mpx__po_error_info(NULL, o->it, o->index, o->code, o->own, o->errval, &o->msg, err);
}

MPX_API int mpx_obj_imap_cancel(mpx_obj_imap *o)
{
    if (!imap_ok(o))
        return MPX_EINVAL;
    return mpx_imap_cancel(o->it);
}

MPX_API void mpx_obj_imap_destroy(mpx_obj_imap *o)
{
    if (!imap_ok(o))
        return;
    /* once cancel returns the pool neither reads items nor calls gen */
    mpx_imap_cancel(o->it);
    mpx_imap_destroy(o->it);
    imap_free(o);
}
