#!/usr/bin/env bash
# The test suite: builds mpx, builds and runs the documentation's code
# examples (test/doc-examples), and runs every test under fork, spawn and
# forkserver (START=fork|spawn|forkserver|all), each test in its own process,
# and the tests of test/thread-subset with the "thread" context;
# then, where MPI is installed (scripts/deps.sh --mpi), the MPI backend's
# tests under mpirun (test/mpi/run; not when a PATTERN is given).
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
make -s -j"$(nproc)" all >/dev/null
# The code examples of the headers and the README compile and run (#13).
test/doc-examples --start "${START:-all}"
test/run-tests --start "${START:-all}" --jobs "${JOBS:-2}" "$@"
# The same calls on the "thread" context (multiprocessing.dummy): the
# tests of test/thread-subset with threads as the default backend.
if [ $# -eq 0 ] && [ "${START:-all}" = all ]; then
    test/run-tests --start thread --jobs "${JOBS:-2}"
fi
if [ $# -eq 0 ] && command -v mpirun >/dev/null 2>&1 && [ -x build/test/mpi/mpx_mpi_test ]; then
    test/mpi/run
fi
