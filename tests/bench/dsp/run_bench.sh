#!/usr/bin/env bash
# ecgresample vs scipy benchmark. Usage: tests/bench/dsp/run_bench.sh [BUILD_DIR] [records] [stream_seconds]
# Configures BUILD_DIR with -Dbenchmarks=true if needed, builds, runs run_bench.py.
set -euo pipefail
cd "$(dirname "$0")/../../.."
BUILD_DIR=${1:-build}
[ -f "$BUILD_DIR/build.ninja" ] || meson setup "$BUILD_DIR" -Dbenchmarks=true
meson configure "$BUILD_DIR" -Dbenchmarks=true >/dev/null
ninja -C "$BUILD_DIR" tests/bench/dsp/bench_ecgresample plugins/libgstetp.so >/dev/null
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
exec /usr/bin/python3 tests/bench/dsp/run_bench.py "$BUILD_DIR" "${2:-100}" "${3:-600}"
