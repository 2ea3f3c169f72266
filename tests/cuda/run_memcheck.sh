#!/bin/sh
# compute-sanitizer over the CUDA backend tests (GPU machine only).
#
#   tests/cuda/run_memcheck.sh [BUILD_DIR] [TOOL...]
#
# BUILD_DIR defaults to ./build (configured with -Dcuda=enabled or auto on a
# machine with nvcc); TOOLs default to memcheck (with leak check), racecheck,
# synccheck and initcheck. Each tool runs test_cuda; the script fails on the
# first report. Without a GPU it says so and exits 77 (skipped).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
tools=${*:-memcheck racecheck synccheck initcheck}
exe=$build/tests/cuda/test_cuda
[ -x "$exe" ] || { echo "no $exe: build first (ninja -C $build)" >&2; exit 2; }

export ETP_SOURCE_ROOT="$root"
export ETP_SHARED_DATA="${ETP_SHARED_DATA:-$root/../shared}"
export OPENBLAS_NUM_THREADS=2
unset ETP_CUDA_TF32

# Without a device the test skips every GPU case: nothing to sanitize.
if "$exe" -p /cuda/device-selection --verbose 2>&1 | grep -q "no CUDA device"; then
  echo "SKIP: no CUDA device on this machine" >&2
  exit 77
fi

cs=${COMPUTE_SANITIZER:-}
if [ -z "$cs" ]; then
  cs=$(command -v compute-sanitizer || true)
  [ -n "$cs" ] || cs=/usr/local/cuda/bin/compute-sanitizer
fi
[ -x "$cs" ] || { echo "compute-sanitizer not found (set COMPUTE_SANITIZER)" >&2; exit 2; }

for tool in $tools; do
  case $tool in
    memcheck) extra="--leak-check full" ;;
    *) extra="" ;;
  esac
  echo "== compute-sanitizer --tool $tool $extra"
  # shellcheck disable=SC2086
  "$cs" --tool "$tool" $extra --error-exitcode 99 --print-limit 20 "$exe"
done
echo "compute-sanitizer: $tools clean"
