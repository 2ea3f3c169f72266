#!/usr/bin/env bash
# Live screening capacity benchmark: concurrent real-time feeds into one
# batched encoder, fp32 then bf16, then the encoder's offline ceiling next to
# PyTorch's (same machine, same threads, batch 32, L = 1000): the number of
# feeds one machine can hold cannot exceed the windows/s of that ceiling.
# Needs a build with -Dbenchmarks=true. The machine should be otherwise idle.
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
# offline encoder ceiling (windows/s = feeds at 1 s hop), gst-etp vs PyTorch
ENG=$BUILD/tests/bench/engine/bench_resnet1d
PEER=$ROOT/tests/bench/engine/bench_resnet1d_torch.py
if [ -x "$ENG" ] && [ -f "$PEER" ]; then
  export OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2
  echo "# encoder ceiling, batch 32, L=1000, 2 threads (ECG/s = windows/s):"
  "$ENG" --mode infer -L 1000 -b 32 -t 2 -n 3 | grep '^RESULT' || true
  "$ENG" --mode infer -L 1000 -b 32 -t 2 -n 3 -p bf16 | grep '^RESULT' || true
  /usr/bin/python3 "$PEER" --mode infer -L 1000 -b 32 -t 2 -n 3 | grep '^RESULT' || true
fi
