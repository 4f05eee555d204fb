#!/usr/bin/env bash
# The test suite: builds mpx and runs every test under fork, spawn and
# forkserver (START=fork|spawn|forkserver|all), each test in its own process.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
make -s -j"$(nproc)" all >/dev/null
exec test/run-tests --start "${START:-all}" --jobs "${JOBS:-2}" "$@"
