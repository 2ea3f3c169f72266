#!/bin/bash
# Whole-model ResNet18-1D benchmark, gst-etp vs PyTorch (python3-torch), same
# machine, same run, same thread count, batch 32, L = 1000 and 5000:
# inference and training-step ECG/s, ratios, GFLOP/s, peak RSS.
#
#   bash tests/bench/engine/bench_resnet1d.sh BUILD_DIR [THREADS] [ITERS]
#
# LENGTHS="1000" limits the lengths (default "1000 5000").
# Extra: BF16=1 also runs gst-etp's bfloat16 inference (precision=bf16).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:?usage: $0 BUILD_DIR [THREADS] [ITERS]}"
threads="${2:-2}"
iters="${3:-5}"
lengths="${LENGTHS:-1000 5000}"
exe="$build/tests/bench/engine/bench_resnet1d"
py=/usr/bin/python3
[ -x "$exe" ] || { echo "build $exe first (meson -Dbenchmarks=true)"; exit 1; }
export OPENBLAS_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads"

lscpu | sed -n 's/^Model name: *//p' | head -1 | sed 's/^/cpu: /'
echo "threads $threads, batch 32, $iters timed iterations after 1 warm-up"
results=()
run() { local line; line=$("$@" | grep '^RESULT'); echo "$line"; results+=("$line"); }
for L in $lengths; do
  for mode in infer train; do
    run "$exe" --mode $mode -L $L -b 32 -t "$threads" -n "$iters"
    run $py "$here/bench_resnet1d_torch.py" --mode $mode -L $L -b 32 -t "$threads" -n "$iters"
    if [ "${BF16:-0}" = 1 ] && [ $mode = infer ]; then
      run "$exe" --mode infer -L $L -b 32 -t "$threads" -n "$iters" -p bf16
    fi
  done
done

echo
printf '%-6s %-6s %-14s %10s %9s %9s %8s\n' L mode impl ECG/s GFLOP/s RSS_MB "vs torch"
for L in $lengths; do
  for mode in infer train; do
    torch_rate=$(printf '%s\n' "${results[@]}" | grep "impl=pytorch mode=$mode L=$L " | sed 's/.*ecg_per_s=\([0-9.]*\).*/\1/')
    printf '%s\n' "${results[@]}" | grep "mode=$mode L=$L " | while read -r line; do
      impl=$(sed 's/.*impl=\([^ ]*\).*/\1/' <<<"$line")
      rate=$(sed 's/.*ecg_per_s=\([0-9.]*\).*/\1/' <<<"$line")
      gf=$(sed 's/.*gflops=\([0-9.]*\).*/\1/' <<<"$line")
      rss=$(sed 's/.*peak_rss_mb=\([0-9.]*\).*/\1/' <<<"$line")
      ratio=$(awk -v a="$rate" -v b="$torch_rate" 'BEGIN { printf "%.2fx", a / b }')
      printf '%-6s %-6s %-14s %10s %9s %9s %8s\n' "$L" "$mode" "$impl" "$rate" "$gf" "$rss" "$ratio"
    done
  done
done
