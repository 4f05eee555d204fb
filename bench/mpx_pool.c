/*
 * bench/mpx_pool.c - the mpx side of the pool group (include/mpx/pool.h):
 * a pool of 2 worker processes (fork), created and warmed up before the
 * clock starts.
 *
 *   pool_map_chunk1   mpx_pool_map_array of 1,000,000 int64 items (quick
 *                     200,000), task x*x, chunksize 1
 *   pool_map_default  the same with the default chunksize
 *   pool_apply_async  n mpx_pool_apply_async of x*x, then get of each
 *   pool_array_10us   mpx_pool_map_fixed over 10 us tasks (the fast path)
 *   pool_apply_latency    one mpx_pool_apply (x*x) and reading its result
 *   pool_map10_latency    one mpx_pool_map_array of 10 items, default chunksize
 *                         (both: the median of single calls, bench_call_median)
 *   mem_pool{2,32}_parent PSS of the parent of an idle pool of 2 (32) workers
 *   mem_pool{2,32}_worker the workers' mean PSS
 */
#include "mpxb.h"

#include <mpx/pool.h>

static int square_task(const void *in, size_t len, mpx_task_out *out)
{
    int64_t x;
    if (len != sizeof x)
        return mpx_task_fail(out, "bad input length %zu", len);
    memcpy(&x, in, sizeof x);
    x = bench_task_square(x);
    return mpx_task_out_set(out, &x, sizeof x);
}

static int spin_elem(const void *in, void *out, const void *shared)
{
    int64_t x;
    memcpy(&x, in, sizeof x);
    x = bench_task_spin(x, POOL_TASK_US);
    memcpy(out, &x, sizeof x);
    return 0;
}

static int make_pool_n(mpx_pool **p, int workers)
{
    mpx_pool_opts o;
    memset(&o, 0, sizeof o);
    int rc = mpx_get_context(&o.ctx, "fork");
    return rc ? rc : mpx_pool_create(p, workers, &o);
}

static int make_pool(mpx_pool **p)
{
    return make_pool_n(p, POOL_WORKERS);
}

static void end_pool(mpx_pool *p)
{
    mpx_pool_close(p);
    mpx_pool_join(p);
    mpx_pool_destroy(p);
}

/* map n items of in with chunksize; checks the last result */
static int do_map(mpx_pool *p, const int64_t *in, size_t n, size_t chunksize)
{
    mpx_call_opts co;
    memset(&co, 0, sizeof co);
    co.chunksize = chunksize;
    mpx_result *r = NULL;
    int rc = mpx_pool_map_array(p, square_task, in, sizeof(int64_t), n, &co, &r);
    if (!rc) {
        const void *d;
        size_t len;
        rc = mpx_result_item(r, n - 1, &d, &len);
        int64_t v = 0;
        if (!rc && len == sizeof v)
            memcpy(&v, d, sizeof v);
        if (!rc && v != bench_task_square(in[n - 1]))
            rc = MPX_ESTATE;
    }
    mpx_result_destroy(r);
    return rc;
}

static int map_side(const bench_cfg *cfg, size_t chunksize, double *out, char *why, size_t whylen)
{
    size_t n = (size_t)(cfg->quick ? POOL_TASKS_QUICK : POOL_TASKS_FULL);
    int64_t *in = malloc(n * sizeof *in);
    if (!in)
        return BENCH_WHY("out of memory");
    for (size_t i = 0; i < n; i++)
        in[i] = (int64_t)i;
    mpx_pool *p;
    int rc = make_pool(&p);
    if (rc) {
        free(in);
        return BENCH_WHY("mpx_pool_create: %s", mpx_strerror(rc));
    }
    rc = do_map(p, in, 1000, 1); /* warm-up */
    double t = bench_now();
    if (!rc)
        rc = do_map(p, in, n, chunksize);
    t = bench_now() - t;
    end_pool(p);
    free(in);
    if (rc)
        return BENCH_WHY("mpx pool map failed: %s", mpx_strerror(rc));
    *out = (double)n / t;
    return 0;
}

SIDE(mpxb_pool_map_chunk1)
{
    return map_side(cfg, 1, out, why, whylen);
}

SIDE(mpxb_pool_map_default)
{
    return map_side(cfg, 0, out, why, whylen);
}

typedef struct {
    mpx_pool *p;
    int err;
} apply_ctx;

static double run_apply(void *c, long n)
{
    apply_ctx *ac = c;
    mpx_result **rs = calloc((size_t)n, sizeof *rs);
    if (!rs)
        return ac->err = -ENOMEM, -1;
    int rc = 0;
    double t = bench_now();
    long k = 0;
    for (; k < n && !rc; k++) {
        int64_t x = k;
        rc = mpx_pool_apply_async(ac->p, square_task, &x, sizeof x, NULL, &rs[k]);
    }
    for (long i = 0; i < k && !rc; i++) {
        const void *d;
        size_t len;
        rc = mpx_result_get(rs[i], MPX_FOREVER, &d, &len);
        int64_t v = -1;
        if (!rc && len == sizeof v)
            memcpy(&v, d, sizeof v);
        if (!rc && v != bench_task_square(i))
            rc = MPX_ESTATE;
    }
    t = bench_now() - t;
    for (long i = 0; i < k; i++)
        mpx_result_destroy(rs[i]);
    free(rs);
    if (rc)
        return ac->err = rc, -1;
    return t;
}

SIDE(mpxb_pool_apply_async)
{
    apply_ctx ac = {NULL, 0};
    int rc = make_pool(&ac.p);
    if (rc)
        return BENCH_WHY("mpx_pool_create: %s", mpx_strerror(rc));
    double s = run_apply(&ac, 100) < 0 ? -1 : bench_calibrate(run_apply, &ac, 1000, 4000000L, cfg->target);
    end_pool(ac.p);
    if (s < 0)
        return BENCH_WHY("mpx apply_async failed: %s", mpx_strerror(ac.err));
    *out = 1 / s;
    return 0;
}

SIDE(mpxb_pool_array_10us)
{
    size_t n = (size_t)(cfg->quick ? POOL_ARRAY_ITEMS_QUICK : POOL_ARRAY_ITEMS_FULL);
    int64_t *in = malloc(n * sizeof *in), *res = malloc(n * sizeof *res);
    if (!in || !res) {
        free(in);
        free(res);
        return BENCH_WHY("out of memory");
    }
    for (size_t i = 0; i < n; i++)
        in[i] = (int64_t)i;
    mpx_pool *p;
    int rc = make_pool(&p);
    if (rc) {
        free(in);
        free(res);
        return BENCH_WHY("mpx_pool_create: %s", mpx_strerror(rc));
    }
    rc = mpx_pool_map_fixed(p, spin_elem, in, sizeof *in, res, sizeof *res, 100, NULL, NULL);
    double t = bench_now();
    if (!rc)
        rc = mpx_pool_map_fixed(p, spin_elem, in, sizeof *in, res, sizeof *res, n, NULL, NULL);
    t = bench_now() - t;
    end_pool(p);
    free(in);
    free(res);
    if (rc)
        return BENCH_WHY("mpx_pool_map_fixed failed: %s", mpx_strerror(rc));
    *out = (double)n / t;
    return 0;
}

/* ---- the interactive case: one call at a time ---- */

typedef struct {
    mpx_pool *p;
    int map; /* 0: apply, 1: map of POOL_LATENCY_MAP_ITEMS */
    int64_t next;
    int64_t in[POOL_LATENCY_MAP_ITEMS];
} lat_ctx;

static int one_apply(mpx_pool *p, int64_t x)
{
    mpx_result *r = NULL;
    int rc = mpx_pool_apply(p, square_task, &x, sizeof x, NULL, &r);
    if (!rc) {
        const void *d;
        size_t len;
        int64_t v = -1;
        rc = mpx_result_get(r, MPX_FOREVER, &d, &len);
        if (!rc && len == sizeof v)
            memcpy(&v, d, sizeof v);
        if (!rc && v != bench_task_square(x))
            rc = MPX_ESTATE;
    }
    mpx_result_destroy(r);
    return rc;
}

static int one_call(void *c)
{
    lat_ctx *lc = c;
    return lc->map ? do_map(lc->p, lc->in, POOL_LATENCY_MAP_ITEMS, 0) : one_apply(lc->p, lc->next++);
}

static int latency_side(const bench_cfg *cfg, int map, double *out, char *why, size_t whylen)
{
    lat_ctx lc;
    memset(&lc, 0, sizeof lc);
    lc.map = map;
    for (int i = 0; i < POOL_LATENCY_MAP_ITEMS; i++)
        lc.in[i] = i;
    int rc = make_pool(&lc.p);
    if (rc)
        return BENCH_WHY("mpx_pool_create: %s", mpx_strerror(rc));
    double s = bench_call_median(one_call, &lc, 100, cfg->target, &rc);
    end_pool(lc.p);
    if (s < 0)
        return BENCH_WHY("mpx pool %s failed: %s", map ? "map" : "apply", mpx_strerror(rc));
    *out = s * 1e6;
    return 0;
}

SIDE(mpxb_pool_apply_latency)
{
    return latency_side(cfg, 0, out, why, whylen);
}

SIDE(mpxb_pool_map10_latency)
{
    return latency_side(cfg, 1, out, why, whylen);
}

/* ---- memory of an idle pool ---- */

/* PSS in KiB of the parent (worker 0) or the workers' mean (worker 1) of
 * a pool of n workers that has run one map of 4n tasks (chunksize 1) and
 * is idle. */
static int mem_side(int n, int worker, double *out, char *why, size_t whylen)
{
    int64_t in[4 * MEM_POOL_BIG];
    for (int i = 0; i < 4 * n; i++)
        in[i] = i;
    mpx_pool *p;
    int rc = make_pool_n(&p, n);
    if (rc)
        return BENCH_WHY("mpx_pool_create(%d): %s", n, mpx_strerror(rc));
    rc = do_map(p, in, (size_t)(4 * n), 1);
    /* a worker's pid is known once it runs (it stores it at start-up) */
    pid_t pids[MEM_POOL_BIG];
    int got = 0;
    for (double end = bench_now() + 30; !rc && got < n && bench_now() < end;) {
        got = mpx_pool_worker_pids(p, pids, n);
        if (got < n)
            usleep(1000);
    }
    long v = 0;
    if (!rc && got == n) {
        if (!worker)
            v = bench_smaps_kib(0, "Pss");
        else
            for (int i = 0; i < n && v >= 0; i++) {
                long k = bench_smaps_kib(pids[i], "Pss");
                v = k < 0 ? -1 : v + k;
            }
    }
    end_pool(p);
    if (rc)
        return BENCH_WHY("mpx pool map failed: %s", mpx_strerror(rc));
    if (got != n)
        return BENCH_WHY("mpx_pool_worker_pids: %d of %d workers", got, n);
    if (v < 0)
        return BENCH_WHY("cannot read smaps_rollup: %s", strerror(errno));
    *out = worker ? (double)v / n : (double)v;
    return 0;
}

SIDE(mpxb_mem_pool2_parent)
{
    return mem_side(POOL_WORKERS, 0, out, why, whylen);
}

SIDE(mpxb_mem_pool2_worker)
{
    return mem_side(POOL_WORKERS, 1, out, why, whylen);
}

SIDE(mpxb_mem_pool32_parent)
{
    return mem_side(MEM_POOL_BIG, 0, out, why, whylen);
}

SIDE(mpxb_mem_pool32_worker)
{
    return mem_side(MEM_POOL_BIG, 1, out, why, whylen);
}
