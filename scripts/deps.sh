#!/usr/bin/env bash
# Make sure the build's Debian packages are present. As root with apt-get,
# install what is missing; otherwise print the exact apt-get line and fail.
# Usage: scripts/deps.sh [--ci] [--mpi]
#   --ci   adds the checking tools (valgrind, clang ...) and MPI
#   --mpi  adds MPI only: Open MPI (mpirun, mpicc) and Debian's mpi4py, for
#          libmpx_mpi, its tests (test/mpi/run) and `bench/run mpi`
#          (the core library never needs MPI; docs/mpi.md)
set -euo pipefail
need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_cmd cc || have_cmd gcc || need+=(gcc)
have_cmd make || need+=(make)
have_cmd pkg-config || need+=(pkg-config)
[ -f /usr/include/openssl/hmac.h ] || need+=(libssl-dev)
have_cmd python3 || need+=(python3)
ci=0 mpi=0
for a in "$@"; do
  case $a in --ci) ci=1; mpi=1 ;; --mpi) mpi=1 ;; esac
done
if [ $mpi = 1 ]; then
  have_cmd mpirun || need+=(openmpi-bin)
  { have_cmd mpicc && pkg-config --exists ompi 2>/dev/null; } || need+=(libopenmpi-dev)
  # Debian's mpi4py is built for Debian's own interpreter, /usr/bin/python3
  /usr/bin/python3 -c 'import mpi4py' >/dev/null 2>&1 || need+=(python3-mpi4py)
fi
if [ $ci = 1 ]; then
  have_cmd valgrind || need+=(valgrind)
  have_cmd clang || need+=(clang)
  ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || need+=(libclang-rt-dev)
  have_cmd c++ || need+=(g++)
  have_cmd ps || need+=(procps)
  have_cmd readelf || need+=(binutils)
  have_cmd curl || need+=(curl)  # examples/mp_webserver's HTTP client (else python3)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && have_cmd apt-get; then
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need[@]}" >&2
else
  echo "missing packages; run: apt-get install -y ${need[*]}" >&2
  exit 1
fi
