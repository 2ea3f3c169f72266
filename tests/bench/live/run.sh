#!/usr/bin/env bash
# Live screening capacity benchmark: concurrent real-time feeds into one
# batched encoder, fp32 then bf16. Needs a build with -Dbenchmarks=true.
# Usage: tests/bench/live/run.sh [BUILD_DIR] [extra bench_live options...]
#   e.g. tests/bench/live/run.sh build --feeds 50,100,200 --seconds 15
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${1:-$ROOT/build}; shift || true
BIN=$BUILD/tests/bench/live/bench_live
[ -x "$BIN" ] || { echo "build with: meson configure $BUILD -Dbenchmarks=true && ninja -C $BUILD" >&2; exit 1; }
export GST_PLUGIN_PATH=$BUILD/plugins
echo "# machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN" --precision fp32 "$@"
"$BIN" --precision bf16 "$@"
