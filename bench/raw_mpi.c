/*
 * bench/raw_mpi.c - the raw column of the `mpi` group: a plain C MPI
 * dispatch loop (no mpx). Rank 0 sends chunks of `chunksize` int64 tasks
 * with MPI_Send, two chunks in flight per worker rank, and receives each
 * chunk's results with MPI_Recv(MPI_ANY_SOURCE), answering the rank that
 * replied with its next chunk; worker ranks MPI_Recv a chunk, run it and
 * MPI_Send the results back. Blocking calls throughout (Open MPI polls in
 * them). A warm-up map of 1,000 tasks precedes the timed one.
 *
 *   mpirun -n 4 bench/build/rawbench_mpi FIGURE [--quick]   (rank 0 prints tasks/s)
 */
#include "mpi_figs.h"

#include <mpi.h>

enum { TAG_WORK = 1, TAG_STOP = 2, TAG_DONE = 3 };
#define DEPTH 2

static int64_t *results;

/* One map of n tasks; returns 0 or -1 (a wrong result). */
static int dispatch(int size, long n, long cs, int us)
{
    int64_t *buf = malloc((size_t)cs * 8 + 8);
    int64_t *rbuf = malloc((size_t)cs * 8 + 8);
    long next = 0, outstanding = 0;
    for (int d = 0; d < DEPTH; d++)
        for (int r = 1; r < size && next < n; r++) {
            long k = n - next < cs ? n - next : cs;
            buf[0] = next;
            for (long i = 0; i < k; i++)
                buf[1 + i] = next + i;
            MPI_Send(buf, (int)(k + 1), MPI_INT64_T, r, TAG_WORK, MPI_COMM_WORLD);
            next += k;
            outstanding++;
        }
    while (outstanding) {
        MPI_Status st;
        MPI_Recv(rbuf, (int)cs + 1, MPI_INT64_T, MPI_ANY_SOURCE, TAG_DONE, MPI_COMM_WORLD, &st);
        int cnt;
        MPI_Get_count(&st, MPI_INT64_T, &cnt);
        memcpy(results + rbuf[0], rbuf + 1, (size_t)(cnt - 1) * 8);
        outstanding--;
        if (next < n) {
            long k = n - next < cs ? n - next : cs;
            buf[0] = next;
            for (long i = 0; i < k; i++)
                buf[1 + i] = next + i;
            MPI_Send(buf, (int)(k + 1), MPI_INT64_T, st.MPI_SOURCE, TAG_WORK, MPI_COMM_WORLD);
            next += k;
            outstanding++;
        }
    }
    free(buf);
    free(rbuf);
    return results[n - 1] == mpi_task(n - 1, 0) ? 0 : -1;
    (void)us;
}

static void work(long cs, int us)
{
    int64_t *buf = malloc((size_t)cs * 8 + 8);
    for (;;) {
        MPI_Status st;
        MPI_Recv(buf, (int)cs + 1, MPI_INT64_T, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        if (st.MPI_TAG == TAG_STOP)
            break;
        int cnt;
        MPI_Get_count(&st, MPI_INT64_T, &cnt);
        for (int i = 1; i < cnt; i++)
            buf[i] = mpi_task(buf[i], us);
        MPI_Send(buf, cnt, MPI_INT64_T, 0, TAG_DONE, MPI_COMM_WORLD);
    }
    free(buf);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const mpi_fig *f = argc > 1 ? mpi_fig_find(argv[1]) : NULL;
    int quick = argc > 2 && !strcmp(argv[2], "--quick");
    if (!f || size < 2) {
        if (rank == 0)
            printf("nan %s\n", f ? "needs mpirun -n 2 or more" : "unknown figure");
        MPI_Finalize();
        return 0;
    }
    long n = quick ? f->n_quick : f->n_full, cs = f->chunksize;
    long warm = 1000 < n ? 1000 : n;
    if (rank == 0) {
        results = malloc((size_t)n * 8);
        int rc = dispatch(size, warm, cs, f->task_us);
        double t = bench_now();
        if (!rc)
            rc = dispatch(size, n, cs, f->task_us);
        t = bench_now() - t;
        for (int r = 1; r < size; r++)
            MPI_Send(NULL, 0, MPI_INT64_T, r, TAG_STOP, MPI_COMM_WORLD);
        if (rc)
            printf("nan raw MPI loop: wrong result\n");
        else
            printf("%.9g\n", (double)n / t);
        free(results);
    } else {
        work(cs, f->task_us);
    }
    MPI_Finalize();
    return 0;
}
