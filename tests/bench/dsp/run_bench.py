#!/usr/bin/env python3
"""ecgresample vs scipy.signal.resample / resample_poly on the same data.

Usage: /usr/bin/python3 tests/bench/dsp/run_bench.py BUILD_DIR [records] [stream_seconds]
(BUILD_DIR configured with -Dbenchmarks=true).  Writes the data to a temp dir,
times scipy and the element alternately (best of 3 rounds, single thread, float32 input as the element gets it),
runs BUILD_DIR/tests/bench/dsp/bench_ecgresample on the same files, checks the
outputs have the same lengths, and prints time ratios (scipy / ecgresample:
above 1 means ecgresample is faster).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy
import scipy.signal as ss

build = sys.argv[1] if len(sys.argv) > 1 else "build"
R = int(sys.argv[2]) if len(sys.argv) > 2 else 100
STREAM_S = int(sys.argv[3]) if len(sys.argv) > 3 else 600
C, N, FS_IN, FS_OUT, CHUNK, CHUNK_BIG = 12, 5000, 500, 100, 50, 500
M = STREAM_S * FS_IN
g = np.gcd(FS_IN, FS_OUT)
UP, DOWN = FS_OUT // g, FS_IN // g
N_OUT = -(-N * UP // DOWN)

rng = np.random.default_rng(0)
t = np.arange(N) / FS_IN
rec = (np.sin(2 * np.pi * 1.2 * t)[None, :, None]
       + 0.1 * rng.standard_normal((R, N, C))).astype(np.float32)
stream = (0.1 * rng.standard_normal((M, C))).astype(np.float32)

def best(fn, reps=3):
    b = 1e30
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        b = min(b, time.perf_counter() - t0)
    return b

def sp_fft():
    return [ss.resample(rec[r], N_OUT, axis=0) for r in range(R)]

def sp_poly():
    return [ss.resample_poly(rec[r], UP, DOWN, axis=0) for r in range(R)]

def sp_stream():
    return ss.resample_poly(stream, UP, DOWN, axis=0)

ROUNDS = 3
with tempfile.TemporaryDirectory() as d:
    fr, fs = os.path.join(d, "rec.f32"), os.path.join(d, "stream.f32")
    rec.tofile(fr)
    stream.tofile(fs)
    exe = os.path.join(build, "tests", "bench", "dsp", "bench_ecgresample")
    env = dict(os.environ)
    env["GST_PLUGIN_PATH_1_0"] = os.path.join(build, "plugins")
    env["GST_PLUGIN_PATH"] = os.path.join(build, "plugins")
    env.setdefault("GST_REGISTRY_1_0", os.path.join(d, "registry.bin"))
    env["ETP_BENCH_REPS"] = "1"

    def run_c(chunk):
        out = subprocess.run([exe, fr, str(R), str(C), str(N), str(FS_IN), str(FS_OUT),
                              fs, str(M), str(chunk)], env=env, check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    # rounds alternate scipy and the element so that both see the same load
    t_sp_fft = t_sp_poly = t_sp_stream = 1e30
    c = c_big = None
    for _ in range(ROUNDS):
        t_sp_fft = min(t_sp_fft, best(sp_fft, 1))
        t_sp_poly = min(t_sp_poly, best(sp_poly, 1))
        t_sp_stream = min(t_sp_stream, best(sp_stream, 1))
        r1, r2 = run_c(CHUNK), run_c(CHUNK_BIG)
        if c is None:
            c, c_big = r1, r2
        else:
            for k in ("records_fft_s", "records_poly_s", "stream_poly_s"):
                c[k] = min(c[k], r1[k])
                c_big[k] = min(c_big[k], r2[k])

assert c["out_frames_fft"] == R * N_OUT, c
assert c["out_frames_poly"] == R * N_OUT, c
assert c["out_frames_stream"] == sp_stream().shape[0], c

print(f"scipy {scipy.__version__}, numpy {np.__version__}; data: {R} records x {C} leads x "
      f"{N} samples, {FS_IN}->{FS_OUT} Hz; stream {STREAM_S} s x {C} leads in {CHUNK}-frame buffers"
      f" (and {CHUNK_BIG}); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
rows = [("records, FFT (scipy.signal.resample)", t_sp_fft, c["records_fft_s"]),
        ("records, polyphase (resample_poly)", t_sp_poly, c["records_poly_s"]),
        ("stream, polyphase (resample_poly one-shot vs chunked element)", t_sp_stream,
         c["stream_poly_s"]),
        (f"stream, polyphase, {CHUNK_BIG}-frame buffers", t_sp_stream, c_big["stream_poly_s"])]
print(f"{'path':64s} {'scipy s':>9s} {'ecgresample s':>14s} {'ratio':>7s}")
for name, a, b in rows:
    print(f"{name:64s} {a:9.4f} {b:14.4f} {a / b:7.2f}x")
