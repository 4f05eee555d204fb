/*
 * pool_remote.c - what a backend library (core/backend.h; libmpx_mpi)
 * reaches of libmpx: context registration, function references, the
 * pool's doorbell and spills, and running one task item outside a slot
 * (a worker rank runs the items it receives over the network with it).
 */
#include "core/backend.h"
#include "core/args.h"
#include "core/context_internal.h"
#include "core/fnref.h"

#include <string.h>

static int api_fnref_encode(mpx__fnptr fn, void *buf, size_t cap, size_t *len)
{
    mpx__buf b;
    mpx__buf_init(&b);
    /* NULL context: the portable form (module + offset + build-id) */
    int rc = mpx__fnref_encode(NULL, fn, &b);
    if (!rc && b.len > cap)
        rc = MPX_ETOOBIG;
    if (!rc) {
        memcpy(buf, b.data, b.len);
        *len = b.len;
    }
    mpx__buf_free(&b);
    return rc;
}

static int api_fnref_decode(const void *p, size_t len, mpx__fnptr *fn)
{
    mpx__rd rd = {p, len};
    mpx__fnptr f = NULL;
    int rc = mpx__fnref_decode(&rd, &f);
    if (!rc && rd.left)
        rc = MPX_EPROTO;
    if (!rc)
        *fn = f;
    return rc;
}

static int run_item(mpx_task_out **op, uint32_t kind, mpx__fnptr fn, const void *in, size_t len,
                    int *task_rc, const void **data, size_t *dlen)
{
    mpx_task_out *o = *op;
    if (!o) {
        o = calloc(1, sizeof *o);
        if (!o)
            return -ENOMEM;
        *op = o;
    }
    /* no slot area here: every output goes to the heap buffer */
    o->dst = NULL;
    o->cap = 0;
    o->len = 0;
    o->set = false;
    o->on_heap = false;
    free(o->msg);
    o->msg = NULL;
    *task_rc = 0;
    int rc = 0, trc = 0;
    if (!fn) {
        rc = MPX_ERESOLVE;
    } else if (kind == PX_K_STAR) {
        mpx__rd rd = {in, len};
        mpx_args *a = NULL;
        rc = mpx__args_import(&rd, NULL, 0, &a);
        if (!rc) {
            trc = ((mpx_star_fn)fn)(a, o);
            mpx_args_destroy(a);
        }
    } else if (kind == PX_K_BYTES) {
        trc = ((mpx_task_fn)fn)(in, len, o);
    } else {
        rc = MPX_EPROTO;
    }
    if (rc) {
        const char *m = mpx_strerror(rc);
        *task_rc = rc;
        *data = m;
        *dlen = strlen(m);
        return rc;
    }
    if (trc < 0) {
        const char *m = o->msg ? o->msg : mpx_strerror(trc);
        *task_rc = trc;
        *data = m;
        *dlen = strlen(m);
        return MPX_ETASK;
    }
    *data = o->set ? o->heap : NULL;
    *dlen = o->set ? o->len : 0;
    if (!*data)
        *dlen = 0;
    return 0;
}

static void task_out_free(mpx_task_out *o)
{
    if (!o)
        return;
    free(o->heap);
    free(o->msg);
    free(o);
}

static const mpx__backend_api api = {
    .abi = MPX__BACKEND_ABI,
    .size = sizeof(mpx__backend_api),
    .context_register = mpx__context_register,
    .fnref_encode = api_fnref_encode,
    .fnref_decode = api_fnref_decode,
    .ring_parent = mpx__pool_ring_parent,
    .read_spill = mpx__pool_read_spill,
    .run_item = run_item,
    .task_out_free = task_out_free,
};

MPX_API const mpx__backend_api *mpx_backend_api(int abi)
{
    mpx__global_init();
    return abi == MPX__BACKEND_ABI ? &api : NULL;
}
