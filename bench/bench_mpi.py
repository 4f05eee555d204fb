"""bench/bench_mpi.py - the cpython column of the `mpi` group:
mpi4py.futures.MPIPoolExecutor.map doing the same jobs as bench/mpx_mpi.c
and bench/raw_mpi.c (bench/mpi_figs.h), under

    mpirun -n 4 /usr/bin/python3 -m mpi4py.futures bench/bench_mpi.py FIGURE [--quick]

Rank 0 runs this script and prints tasks/s; ranks 1..3 are the executor's
workers. Debian's python3-mpi4py works with Debian's /usr/bin/python3 only.
"""
import sys
import time

now = time.perf_counter

# name: (tasks, tasks with --quick, chunksize, task microseconds)
# mpi4py.futures does ~6k trivial tasks/s at chunksize 1: it maps fewer
# there (the figure is a rate).
FIGURES = {
    "mpi_map_small_chunk1": (20000, 5000, 1, 0),
    "mpi_map_small": (100000, 20000, 100, 0),
    "mpi_map_1ms": (1000, 200, 1, 1000),
}


def small(x):
    return x * x


def spin_1ms(x):
    end = now() + 0.001
    acc = x
    while now() < end:
        acc = (acc * 31 + 7) & 0xFFFFFFFF
    return x * x


def main():
    from mpi4py.futures import MPIPoolExecutor
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    quick = "--quick" in sys.argv[2:]
    if name not in FIGURES:
        print("nan unknown figure %s" % name)
        return
    n_full, n_quick, cs, us = FIGURES[name]
    n = n_quick if quick else n_full
    fn = spin_1ms if us else small
    with MPIPoolExecutor() as ex:
        list(ex.map(fn, range(min(n, 1000)), chunksize=cs))  # warm-up
        t = now()
        r = list(ex.map(fn, range(n), chunksize=cs))
        t = now() - t
    if r[-1] != (n - 1) * (n - 1):
        print("nan mpi4py: wrong result")
        return
    print("%.9g" % (n / t))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
