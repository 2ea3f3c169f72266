#!/usr/bin/env bash
# Set-up + the whole test suite: a normal build, an ASan+UBSan build, and the
# element tests under valgrind. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash pipelines/setup.sh build
[ -x /usr/local/cuda/bin/nvcc ] && export PATH=/usr/local/cuda/bin:$PATH

echo "== meson test (build)"
meson test -C build --print-errorlogs --num-processes 2

echo "== meson test (ASan + UBSan)"
if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
    -Dbuildtype=debugoptimized -Dcuda=disabled
fi
ninja -C build-asan
meson test -C build-asan --print-errorlogs --num-processes 2

echo "== element tests under valgrind"
meson test -C build --setup valgrind --suite elements --print-errorlogs --num-processes 2

# One closing line over the three runs (the meson test logs of this invocation).
passed=0; failed=0; skipped=0
for log in build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
    build/meson-logs/testlog-valgrind.json; do
  [ -f "$log" ] || continue
  passed=$((passed + $(grep -c '"result": "OK"' "$log" || true)))
  failed=$((failed + $(grep -c -E '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)))
  skipped=$((skipped + $(grep -c '"result": "SKIP"' "$log" || true)))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
