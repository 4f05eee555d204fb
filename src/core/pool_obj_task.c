/*
 * pool_obj_task.c - the worker side of pools over values: the byte task
 * mpx__pool_obj_task that decodes an item, finds the user's function
 * (cached per thread), calls it, and encodes its result or its error
 * value. Wire form: core/pool_obj.h.
 */
#include "core/pickle_internal.h"
#include "core/pool_obj.h"

#include <pthread.h>
#include <string.h>

/* ---- function references, resolved once per worker thread ---------------- */

#define FC_N 8
#define FC_MAX 280 /* every compact reference (core/fnref.h) */

typedef struct fc_ent {
    uint32_t len;
    mpx__fnptr fn;
    unsigned char ref[FC_MAX];
} fc_ent;

static __thread fc_ent fc[FC_N];
static __thread unsigned fc_next;

static int resolve(const unsigned char *ref, size_t len, mpx__fnptr *fn)
{
    for (unsigned i = 0; i < FC_N; i++)
        if (fc[i].len == len && fc[i].fn && memcmp(fc[i].ref, ref, len) == 0) {
            *fn = fc[i].fn;
            return 0;
        }
    mpx__rd rd = {ref, len};
    int rc = mpx__fnref_decode_compact(&rd, fn);
    if (!rc && (rd.left || !*fn))
        rc = MPX_EPROTO;
    if (rc)
        return rc;
    if (len <= FC_MAX) {
        fc_ent *e = &fc[fc_next++ % FC_N];
        e->len = (uint32_t)len;
        e->fn = *fn;
        memcpy(e->ref, ref, len);
    }
    return 0;
}

int mpx__pool_obj_header(mpx__buf *b, int kind, mpx__fnptr fn)
{
    size_t at = b->len;
    int rc = mpx__buf_put_u8(b, (uint8_t)kind);
    if (!rc)
        rc = mpx__buf_put_u8(b, 0);
    if (!rc)
        rc = mpx__buf_put_u8(b, 0);
    if (!rc)
        rc = mpx__fnref_encode_compact(fn, b);
    if (rc)
        return rc;
    size_t n = b->len - at - MPX__PO_HDR;
    if (n > 0xffff)
        return MPX_ETOOBIG;
    b->data[at + 1] = (unsigned char)n;
    b->data[at + 2] = (unsigned char)(n >> 8);
    return 0;
}

/* ---- the pickles ------------------------------------------------------- */

int mpx__po_dump(mpx__buf *b, const mpx_obj *v, mpx_obj_error *err)
{
    size_t at = b->len;
    int rc = mpx__pickle_dump(b, v, MPX__PO_PROTOCOL, 0, err);
    if (rc)
        return rc;
    /* Small pickles lose their PROTO header and their one FRAME: for one
     * int that is 11 of 17 bytes (and a result of at most 8 bytes is kept
     * by the byte pool without an allocation). */
    size_t n = b->len - at, cut = 2;
    unsigned char *p = b->data + at;
    if (n > 4096 || n < 3 || p[0] != 0x80)
        return 0;
    if (n >= 11 && p[2] == 0x95) {
        uint64_t flen;
        memcpy(&flen, p + 3, 8); /* little endian: elsewhere the FRAME stays, harmless */
        if (flen == n - 11)
            cut = 11;
    }
    memmove(p, p + cut, n - cut);
    b->len -= cut;
    return 0;
}

/* ---- the task ----------------------------------------------------------- */

/* The encoding buffer of a worker thread, kept between tasks (no malloc
 * per item); freed when a thread of a thread pool ends. Large ones are
 * not kept. */
static pthread_key_t outbuf_key;
static pthread_once_t outbuf_once = PTHREAD_ONCE_INIT;

static void outbuf_free(void *p)
{
    mpx__buf *b = p;
    mpx__buf_free(b);
    free(b);
}

static void outbuf_init(void)
{
    if (pthread_key_create(&outbuf_key, outbuf_free))
        outbuf_key = (pthread_key_t)-1;
}

#define OUTBUF_KEEP (64u * 1024u)

/* Set the output: tag + pickle of v. */
static int put_output(mpx_task_out *out, int tag, const mpx_obj *v, mpx_obj_error *err)
{
    pthread_once(&outbuf_once, outbuf_init);
    mpx__buf *b = outbuf_key != (pthread_key_t)-1 ? pthread_getspecific(outbuf_key) : NULL;
    if (!b && outbuf_key != (pthread_key_t)-1 && (b = malloc(sizeof *b)) != NULL) {
        mpx__buf_init(b);
        if (pthread_setspecific(outbuf_key, b)) {
            free(b);
            b = NULL;
        }
    }
    mpx__buf local;
    if (!b) {
        mpx__buf_init(&local);
        b = &local;
    }
    b->len = 0;
    int rc = mpx__buf_put_u8(b, (uint8_t)tag);
    if (!rc)
        rc = mpx__po_dump(b, v, err);
    if (!rc)
        rc = mpx_task_out_set(out, b->data, b->len);
    if (b == &local || b->cap > OUTBUF_KEEP) {
        mpx__buf_free(b);
        mpx__buf_init(b);
    }
    return rc;
}

/* An error value made here (the task could not run, or its result could
 * not be sent): as an 'E' output, or as a failure of the byte task when
 * even that is impossible. */
static int put_error(mpx_task_out *out, mpx_obj *exc, int code)
{
    int rc = exc ? put_output(out, MPX__PO_ERROR, exc, NULL) : -ENOMEM;
    mpx_obj_decref(exc);
    return rc ? mpx_task_fail(out, "%s", mpx_strerror(code)) : 0;
}

static mpx_obj *as_tuple(mpx_obj *args)
{
    if (mpx_obj_typeof(args) == MPX_OBJ_TUPLE)
        return args;
    mpx_obj *t = mpx_obj_tuple((size_t)mpx_obj_len(args));
    size_t pos = 0, i = 0;
    mpx_obj *it;
    while (t && mpx_obj_next(args, &pos, &it) == 1)
        mpx_obj_tuple_set_new(t, i++, mpx_obj_incref(it));
    mpx_obj_decref(args);
    return t;
}

int mpx__pool_obj_task(const void *in, size_t len, mpx_task_out *out)
{
    const unsigned char *p = in;
    if (len < MPX__PO_HDR)
        return mpx_task_fail(out, "value task: short input (%zu bytes)", len);
    int kind = p[0];
    size_t rlen = (size_t)p[1] | (size_t)p[2] << 8;
    if ((kind != MPX__PO_ONE && kind != MPX__PO_STAR && kind != MPX__PO_STARKW) ||
        rlen > len - MPX__PO_HDR)
        return mpx_task_fail(out, "value task: malformed input");
    mpx__fnptr fn;
    int rc = resolve(p + MPX__PO_HDR, rlen, &fn);
    if (rc)
        return put_error(out,
                         mpx_obj_exception("AttributeError",
                                           "cannot find the task function in this worker (%s): "
                                           "register it with mpx_register_function",
                                           mpx_strerror(rc)),
                         rc);
    const unsigned char *data = p + MPX__PO_HDR + rlen;
    size_t dlen = len - MPX__PO_HDR - rlen, used = 0;
    mpx_obj *arg = NULL, *kwargs = NULL, *error = NULL, *result;
    mpx_obj_error perr;
    perr.text[0] = 0;
    rc = mpx__pickle_load(&arg, data, dlen, NULL, NULL, &used, &perr);
    if (!rc && kind == MPX__PO_STARKW)
        rc = mpx__pickle_load(&kwargs, data + used, dlen - used, NULL, NULL, NULL, &perr);
    if (rc) {
        mpx_obj_decref(arg);
        return put_error(out, mpx_obj_exception("_pickle.UnpicklingError", "%s", perr.text), rc);
    }
    if (kind == MPX__PO_ONE) {
        result = ((mpx_obj_fn)fn)(arg, &error);
    } else {
        arg = as_tuple(arg);
        if (!arg) {
            mpx_obj_decref(kwargs);
            return put_error(out, mpx_obj_exception("MemoryError", NULL), -ENOMEM);
        }
        result = ((mpx_obj_star_fn)fn)(arg, kwargs, &error);
    }
    mpx_obj_decref(arg);
    mpx_obj_decref(kwargs);
    if (result) {
        mpx_obj_decref(error); /* a result wins over a stray error value */
        mpx_obj_error eerr;
        eerr.text[0] = 0;
        rc = put_output(out, MPX__PO_RESULT, result, &eerr);
        if (rc) {
            /* Python's MaybeEncodingError: the result could not be sent */
            const char *tn = mpx_obj_type_name(result);
            mpx_obj *args = mpx_obj_build("(ss)", eerr.text[0] ? eerr.text : mpx_strerror(rc), tn);
            mpx_obj_decref(result);
            return put_error(out, args ? mpx__obj_exception_v("multiprocessing.pool.MaybeEncodingError", args)
                                       : NULL,
                             rc);
        }
        mpx_obj_decref(result);
        return 0;
    }
    if (!error)
        return put_error(out,
                         mpx_obj_exception("SystemError",
                                           "task returned NULL without setting an error"),
                         MPX_ETASK);
    rc = put_output(out, MPX__PO_ERROR, error, NULL);
    if (rc) {
        char *t = mpx__obj_exception_text(error);
        mpx_obj_decref(error);
        int r2 = put_error(out,
                           mpx_obj_exception("multiprocessing.pool.MaybeEncodingError",
                                             "the task's error could not be sent (%s): %.200s",
                                             mpx_strerror(rc), t ? t : "?"),
                           rc);
        free(t);
        return r2;
    }
    mpx_obj_decref(error);
    return 0;
}

/* ---- outputs, read by the parent ----------------------------------------- */

int mpx__pool_obj_output(const void *data, size_t len, mpx_obj **value, int *failed)
{
    const unsigned char *p = data;
    *value = NULL;
    *failed = 1;
    if (len < 1 || (p[0] != MPX__PO_RESULT && p[0] != MPX__PO_ERROR)) {
        *value = mpx_obj_exception("_pickle.UnpicklingError", "malformed task output");
        return MPX_EPROTO;
    }
    mpx_obj_error err;
    err.text[0] = 0;
    mpx_obj_load_opts o = {.max_alloc = SIZE_MAX};
    int rc = mpx__pickle_load(value, p + 1, len - 1, NULL, &o, NULL, &err);
    if (rc) {
        *value = mpx_obj_exception(rc == -ENOMEM ? "MemoryError" : "_pickle.UnpicklingError", "%s",
                                   err.text);
        return rc;
    }
    *failed = p[0] == MPX__PO_ERROR;
    return 0;
}
