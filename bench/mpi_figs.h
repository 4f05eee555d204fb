/*
 * bench/mpi_figs.h - the `mpi` group's jobs, the same on every side
 * (bench/mpx_mpi.c, bench/raw_mpi.c, bench/bench_mpi.py): run under
 * `mpirun -n 4` (rank 0 dispatches, ranks 1..3 work).
 *
 *   mpi_map_small_chunk1  map of 100,000 trivial tasks (x*x), chunksize 1
 *   mpi_map_small         the same, chunksize 100
 *   mpi_map_1ms           map of 1,000 tasks of 1 ms each, chunksize 1
 *
 * Quick runs map fewer. mpi4py.futures maps fewer at chunksize 1 (it does
 * ~6k tasks/s: the figures are rates).
 */
#ifndef MPX_BENCH_MPI_FIGS_H
#define MPX_BENCH_MPI_FIGS_H

#include "bench.h"

#define MPI_RANKS 4
#define MPI_SMALL_FULL 100000L
#define MPI_SMALL_QUICK 20000L
#define MPI_1MS_FULL 1000L
#define MPI_1MS_QUICK 200L
#define MPI_TASK_1MS_US 1000

typedef struct mpi_fig {
    const char *name;
    long n_full, n_quick;
    long chunksize;
    int task_us; /* 0: x*x */
} mpi_fig;

static const mpi_fig MPI_FIGS[] = {
    {"mpi_map_small_chunk1", MPI_SMALL_FULL, MPI_SMALL_QUICK, 1, 0},
    {"mpi_map_small", MPI_SMALL_FULL, MPI_SMALL_QUICK, 100, 0},
    {"mpi_map_1ms", MPI_1MS_FULL, MPI_1MS_QUICK, 1, MPI_TASK_1MS_US},
};

static inline const mpi_fig *mpi_fig_find(const char *name)
{
    for (size_t i = 0; i < sizeof MPI_FIGS / sizeof MPI_FIGS[0]; i++)
        if (!strcmp(MPI_FIGS[i].name, name))
            return &MPI_FIGS[i];
    return NULL;
}

/* The task, identical on every side: x*x, after us microseconds of
 * spinning when us > 0. */
static inline int64_t mpi_task(int64_t x, int us)
{
    if (us) {
        double end = bench_now() + us * 1e-6;
        volatile int64_t acc = x;
        while (bench_now() < end)
            acc = acc * 31 + 7;
    }
    return x * x;
}

#endif
