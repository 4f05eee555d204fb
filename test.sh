#!/usr/bin/env bash
# The test suite: builds mpx, builds and runs the documentation's code
# examples (test/doc-examples), and runs every test under fork, spawn and
# forkserver (START=fork|spawn|forkserver|all), each test in its own process.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
make -s -j"$(nproc)" all >/dev/null
# The code examples of the headers and the README compile and run (#13).
test/doc-examples --start "${START:-all}"
exec test/run-tests --start "${START:-all}" --jobs "${JOBS:-2}" "$@"
