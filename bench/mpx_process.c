/*
 * bench/mpx_process.c - the mpx side of the process group: create,
 * start, join and destroy an mpx_process whose target does nothing, under
 * each start method (include/mpx/process.h, include/mpx/context.h).
 */
#include "figures.h"
#include "mpxb.h"

#include <mpx.h>

typedef struct {
    mpx_context *ctx;
    int err;
} proc_ctx;

static double run_start_join(void *c, long n)
{
    proc_ctx *pc = c;
    mpx_process_opts o;
    memset(&o, 0, sizeof o);
    o.ctx = pc->ctx;
    double t = bench_now();
    for (long i = 0; i < n; i++) {
        mpx_process *p;
        int rc = mpx_process_create(&p, NULL, NULL, &o);
        if (rc)
            return pc->err = rc, -1;
        rc = mpx_process_start(p);
        if (!rc)
            rc = mpxb_yes(mpx_process_join(p, MPX_FOREVER));
        int code = -1;
        if (!rc && mpx_process_exitcode(p, &code) == 1 && code != 0)
            rc = MPX_ESTATE;
        mpx_process_destroy(p);
        if (rc)
            return pc->err = rc, -1;
    }
    return bench_now() - t;
}

static int measure(const bench_cfg *cfg, const char *method, size_t resident, long n0, double *out,
                   char *why, size_t whylen)
{
    proc_ctx pc = {NULL, 0};
    int rc = mpx_get_context(&pc.ctx, method);
    if (rc)
        return BENCH_WHY("mpx: the %s start method is not available on this branch yet "
                         "(mpx_get_context: %s)",
                         method, mpx_err_name(rc));
    void *mem = NULL;
    if (resident && !(mem = bench_touch_resident(resident)))
        return BENCH_WHY("cannot map %zu bytes: %s", resident, strerror(errno));
    /* The first start of a method may set things up (the fork server is
     * started on first use): keep that out of the figure. */
    double s = run_start_join(&pc, 1) < 0 ? -1 : bench_calibrate(run_start_join, &pc, n0, 100000,
                                                                   cfg->target);
    if (mem)
        munmap(mem, resident);
    if (s < 0)
        return BENCH_WHY("mpx: %s start+join failed: %s", method, mpx_strerror(pc.err));
    *out = s * 1e6;
    return 0;
}

SIDE(mpxb_process_fork)
{
    return measure(cfg, "fork", 0, 20, out, why, whylen);
}

SIDE(mpxb_process_spawn)
{
    return measure(cfg, "spawn", 0, 5, out, why, whylen);
}

SIDE(mpxb_process_forkserver)
{
    return measure(cfg, "forkserver", 0, 20, out, why, whylen);
}

SIDE(mpxb_process_spawn_1g)
{
    return measure(cfg, "spawn", (size_t)1 << 30, 5, out, why, whylen);
}

SIDE(mpxb_process_fork_1g)
{
    return measure(cfg, "fork", (size_t)1 << 30, 2, out, why, whylen);
}
