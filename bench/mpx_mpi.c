/*
 * bench/mpx_mpi.c - the mpx column of the `mpi` group: a pool of the
 * "mpi" context (libmpx_mpi) over the 3 worker ranks of `mpirun -n 4`,
 * mpx_pool_map_array of int64 items with the figure's chunksize. The
 * pool is created and warmed up (a map of 1,000 tasks) before the clock.
 *
 *   mpirun -n 4 bench/build/mpxbench_mpi FIGURE [--quick]   (rank 0 prints tasks/s)
 */
#include "mpi_figs.h"

#include <mpx.h>
#include <mpx/mpi.h>

static int small_task(const void *in, size_t len, mpx_task_out *out)
{
    int64_t x;
    if (len != sizeof x)
        return mpx_task_fail(out, "bad input length %zu", len);
    memcpy(&x, in, sizeof x);
    x = mpi_task(x, 0);
    return mpx_task_out_set(out, &x, sizeof x);
}

static int ms_task(const void *in, size_t len, mpx_task_out *out)
{
    int64_t x;
    if (len != sizeof x)
        return mpx_task_fail(out, "bad input length %zu", len);
    memcpy(&x, in, sizeof x);
    x = mpi_task(x, MPI_TASK_1MS_US);
    return mpx_task_out_set(out, &x, sizeof x);
}

static int do_map(mpx_pool *p, mpx_task_fn fn, const int64_t *in, size_t n, size_t cs)
{
    mpx_call_opts co;
    memset(&co, 0, sizeof co);
    co.chunksize = cs;
    mpx_result *r = NULL;
    int rc = mpx_pool_map_array(p, fn, in, sizeof(int64_t), n, &co, &r);
    if (!rc) {
        const void *d;
        size_t len;
        rc = mpx_result_item(r, n - 1, &d, &len);
        int64_t v = 0;
        if (!rc && len == sizeof v)
            memcpy(&v, d, sizeof v);
        if (!rc && v != mpi_task(in[n - 1], 0))
            rc = MPX_ESTATE;
    }
    mpx_result_destroy(r);
    return rc;
}

int main(int argc, char **argv)
{
    const mpi_fig *f = argc > 1 ? mpi_fig_find(argv[1]) : NULL;
    int quick = argc > 2 && !strcmp(argv[2], "--quick");
    if (!f) {
        printf("nan unknown figure\n");
        return 0;
    }
    size_t n = (size_t)(quick ? f->n_quick : f->n_full);
    int64_t *in = malloc(n * sizeof *in);
    for (size_t i = 0; i < n; i++)
        in[i] = (int64_t)i;
    mpx_pool_opts o;
    memset(&o, 0, sizeof o);
    mpx_pool *p = NULL;
    int rc = mpx_get_context(&o.ctx, "mpi");
    if (!rc)
        rc = mpx_pool_create(&p, MPX_POOL_DEFAULT, &o);
    if (rc) {
        printf("nan mpx_pool_create (mpi): %s\n", mpx_strerror(rc));
        return 0;
    }
    mpx_task_fn fn = f->task_us ? ms_task : small_task;
    rc = do_map(p, fn, in, n < 1000 ? n : 1000, (size_t)f->chunksize); /* warm-up */
    double t = bench_now();
    if (!rc)
        rc = do_map(p, fn, in, n, (size_t)f->chunksize);
    t = bench_now() - t;
    mpx_pool_close(p);
    mpx_pool_join(p);
    mpx_pool_destroy(p);
    free(in);
    if (rc)
        printf("nan mpx mpi pool map failed: %s\n", mpx_strerror(rc));
    else
        printf("%.9g\n", (double)n / t);
    return 0;
}
