#!/usr/bin/env bash
# The demonstration: builds mpx and runs the examples on real work.
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
make -s -j"$(nproc)" lib examples >/dev/null
exec examples/run-demo
