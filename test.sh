#!/usr/bin/env bash
# The test suite: builds mpx and runs every test under fork, spawn and
# forkserver (START=fork|spawn|forkserver|all), each test in its own process;
# then, where MPI is installed (scripts/deps.sh --mpi), the MPI backend's
# tests under mpirun (test/mpi/run; not when a PATTERN is given).
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
make -s -j"$(nproc)" all >/dev/null
test/run-tests --start "${START:-all}" --jobs "${JOBS:-2}" "$@"
if [ $# -eq 0 ] && command -v mpirun >/dev/null 2>&1 && [ -x build/test/mpi/mpx_mpi_test ]; then
    test/mpi/run
fi
