#!/bin/sh
# Runs the CUDA backend tests (tests/cuda/test_cuda*.c) on the CPU: the
# backend's host code (models/cuda/cuda_backend.c) and its kernels
# (models/cuda/*.cu, rewritten by cudafy.py) are built against the CPU
# emulation of CUDA/cuBLAS in this folder, with ASan + UBSan, and linked with
# libetp from a build WITHOUT the CUDA backend. This checks the kernels'
# indexing, barriers, the chunking / split-K / workspace logic and the cuBLAS
# argument use without a GPU. It does not check timing, races between blocks
# or real-hardware numerics: the GPU run is still needed (docs/cuda.md).
#
#   tests/cuda/emu/run_emulated.sh BUILD_DIR [TEST_ARGS...]
#
# BUILD_DIR: a configured and built -Dcuda=disabled build (e.g. build-asan).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
build=$(cd "${1:?usage: run_emulated.sh BUILD_DIR [TEST_ARGS...]}" && pwd)
shift
lib=$build/models/libetp.a
[ -f "$lib" ] || { echo "no $lib: build $build first" >&2; exit 2; }
if grep -q "define ETP_HAVE_CUDA 1" "$build/config.h"; then
  echo "$build has the real CUDA backend; use a -Dcuda=disabled build" >&2
  exit 2
fi
out=${ETP_EMU_OUT:-$build/cuda-emu}
mkdir -p "$out"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
deps="glib-2.0 json-glib-1.0 fftw3f fftw3 matio"
cflags="$(pkg-config --cflags $deps) -I$build -I$root -I$root/models -I$here/include"
libs="$(pkg-config --libs $deps) -lopenblas -ledf -lm -lpthread"

for cu in cuda_kernels cuda_bert; do
  python3 "$here/cudafy.py" "$root/models/cuda/$cu.cu" "$out/$cu.cpp"
  g++ -std=c++17 -O1 -g $san -w -I"$here" -I"$here/include" -I"$root/models/cuda" \
    -c "$out/$cu.cpp" -o "$out/$cu.o"
done
g++ -std=c++17 -O1 -g $san -Wall -Wextra -Werror -I"$here" -I"$here/include" \
  -c "$here/emu_runtime.cpp" -o "$out/emu_runtime.o"
for c in models/engine/engine.c models/cuda/cuda_backend.c tests/cuda/test_cuda.c \
    tests/cuda/test_cuda_bert.c; do
  gcc -std=c11 -D_GNU_SOURCE -DETP_CUDA_BACKEND=1 -O1 -g $san -Wall -Wextra -Werror \
    -Wno-unused-parameter -Wno-missing-field-initializers $cflags \
    -c "$root/$c" -o "$out/$(basename "$c" .c).o"
done
common="$out/engine.o $out/cuda_backend.o $out/cuda_kernels.o $out/cuda_bert.o $out/emu_runtime.o"
g++ $san -o "$out/test_cuda" "$out/test_cuda.o" $common "$lib" $libs
g++ $san -o "$out/test_cuda_bert" "$out/test_cuda_bert.o" $common "$lib" $libs

export ETP_SOURCE_ROOT="$root"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export OPENBLAS_NUM_THREADS=1
"$out/test_cuda" "$@"
"$out/test_cuda_bert" "$@"
