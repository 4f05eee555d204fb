/*
 * fnref.c - function references across exec (see fnref.h).
 *
 * Fork-only form for now: the raw pointer, valid in a fork child. The
 * spawn/forkserver form (module + offset + build-id, and registered names)
 * replaces this file.
 */
#include "core/fnref.h"
#include "core/context_internal.h"

int mpx__fnref_encode(mpx_context *ctx, mpx__fnptr fn, mpx__buf *out)
{
    if (ctx && ctx->method != MPX__FORK && fn)
        return MPX_ERESOLVE;
    return mpx__buf_put_u64(out, (uint64_t)(uintptr_t)fn);
}

int mpx__fnref_decode(mpx__rd *in, mpx__fnptr *fn)
{
    uint64_t v;
    int rc = mpx__rd_u64(in, &v);
    if (!rc)
        *fn = (mpx__fnptr)(uintptr_t)v;
    return rc;
}
