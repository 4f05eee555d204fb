/*
 * bench/mpxb.h - helpers for the mpx sides (mpx_<group>.c): start a child
 * with mpx_process under the fork start method (the one every non-process
 * figure uses, whatever MPX_START_METHOD says), join it and check its exit
 * code. Needs only process.h and context.h, which are always there.
 */
#ifndef MPX_BENCH_MPXB_H
#define MPX_BENCH_MPXB_H

#include "figures.h"

#include <mpx.h>

/* Create and start a child running fn(a); a is consumed (copied by
 * create, then destroyed). */
static inline int mpxb_start(mpx_process **p, mpx_target_fn fn, mpx_args *a)
{
    mpx_process_opts o;
    memset(&o, 0, sizeof o);
    int rc = mpx_get_context(&o.ctx, "fork");
    if (!rc)
        rc = mpx_process_create(p, fn, a, &o);
    mpx_args_destroy(a);
    if (rc)
        return rc;
    rc = mpx_process_start(*p);
    if (rc) {
        mpx_process_destroy(*p);
        *p = NULL;
    }
    return rc;
}

/* A yes/no answer (1 yes, 0 no, negative error: docs/design.md) as an
 * action's status: 0 for yes, MPX_ETIMEDOUT for no, the error as it is. */
static inline int mpxb_yes(int r)
{
    return r == 1 ? 0 : r == 0 ? MPX_ETIMEDOUT : r;
}

/* Join and destroy; MPX_ESTATE when the child did not exit with 0. */
static inline int mpxb_finish(mpx_process *p)
{
    if (!p)
        return 0;
    int rc = mpxb_yes(mpx_process_join(p, MPX_FOREVER)), code = -1;
    if (!rc && mpx_process_exitcode(p, &code) == 1 && code != 0)
        rc = MPX_ESTATE;
    mpx_process_destroy(p);
    return rc;
}

#endif
