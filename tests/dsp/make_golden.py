#!/usr/bin/env python3
"""Golden files for the DSP tests (tests/dsp/test_dsp.c), made with scipy.

Run:  /usr/bin/python3 tests/dsp/make_golden.py   (python3-scipy from Debian)

Every file is little-endian float32, row-major (frames x channels, interleaved
like the audio/x-raw buffers).  Inputs are saved too, so the C test does not
need to reproduce numpy's random generator.  References are computed in float64
from the float32 inputs.
"""
import os
import numpy as np
import scipy
import scipy.signal as ss

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "golden")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20241125)


def save(name, arr):
    a = np.ascontiguousarray(np.asarray(arr, dtype=np.float32))
    a.tofile(os.path.join(OUT, name + ".bin"))


def ecg_like(n, ch, fs):
    t = np.arange(n) / fs
    x = np.zeros((n, ch))
    for c in range(ch):
        x[:, c] = (0.8 * np.sin(2 * np.pi * 1.2 * t + c)
                   + 0.3 * np.sin(2 * np.pi * 7.0 * t + 0.5 * c)
                   + 0.4 * np.sin(2 * np.pi * 0.2 * t)      # baseline wander
                   + 0.05 * np.sin(2 * np.pi * 50.0 * t)    # mains
                   + 0.1 * rng.standard_normal(n) + 0.3 * c)  # noise + offset
    return x.astype(np.float32)


# ---- FFT resampling (scipy.signal.resample) -------------------------------
# (n_in, n_out, channels): even/odd, up/down, Nyquist split/join cases.
FFT_CASES = [(1000, 200, 3), (999, 250, 3), (250, 1000, 2), (501, 1002, 2),
             (100, 37, 1), (37, 100, 1), (64, 48, 2), (48, 64, 2), (1000, 360, 3),
             (500, 100, 12)]
for n_in, n_out, ch in FFT_CASES:
    x = ecg_like(n_in, ch, 500.0)
    y = ss.resample(x.astype(np.float64), n_out, axis=0)
    save(f"fft_in_{n_in}_{n_out}_{ch}", x)
    save(f"fft_out_{n_in}_{n_out}_{ch}", y)

# ---- polyphase (scipy.signal.resample_poly) -------------------------------
# (n_in, up, down, channels) with up/down already reduced.
POLY_CASES = [(1000, 1, 5, 3), (1001, 1, 5, 3), (200, 5, 1, 2), (1000, 18, 25, 2),
              (777, 2, 3, 1), (300, 3, 2, 1), (500, 1, 5, 12), (400, 5, 2, 9)]
for n_in, up, down, ch in POLY_CASES:
    x = ecg_like(n_in, ch, 500.0)
    y = ss.resample_poly(x.astype(np.float64), up, down, axis=0)
    save(f"poly_in_{n_in}_{up}_{down}_{ch}", x)
    save(f"poly_out_{n_in}_{up}_{down}_{ch}", y)
for up, down in [(1, 5), (18, 25)]:
    m = max(up, down)
    h = ss.firwin(2 * 10 * m + 1, 1.0 / m, window=("kaiser", 5.0)) * up
    save(f"poly_taps_{up}_{down}", h)

# ---- filters ---------------------------------------------------------------
FS = 500.0
N, CH = 2000, 3
x = ecg_like(N, CH, FS)
save("filt_in", x)
designs = {
    "hp05o2": ss.butter(2, 0.5, btype="highpass", output="sos", fs=FS),
    "hp05o3": ss.butter(3, 0.5, btype="highpass", output="sos", fs=FS),
    "lp40o4": ss.butter(4, 40.0, btype="lowpass", output="sos", fs=FS),
    "lp100o5": ss.butter(5, 100.0, btype="lowpass", output="sos", fs=FS),
    "notch50": np.concatenate(ss.iirnotch(50.0, 30.0, fs=FS)).reshape(1, 6),
}
designs["chain"] = np.vstack([designs["hp05o2"], designs["lp40o4"], designs["notch50"]])
for name, sos in designs.items():
    xd = x.astype(np.float64)
    y = ss.sosfiltfilt(sos, xd, axis=0)
    save(f"filtfilt_{name}", y)
    zi = ss.sosfilt_zi(sos)
    y2 = np.empty_like(xd)
    for c in range(CH):
        y2[:, c], _ = ss.sosfilt(sos, xd[:, c], zi=zi * xd[0, c])
    save(f"sosfilt_{name}", y2)
    # frequency response magnitude on 64 frequencies (design check)
    w, hresp = ss.sosfreqz(sos, worN=np.linspace(0.1, FS / 2 - 0.1, 64), fs=FS)
    save(f"resp_{name}", np.abs(hresp))

print("scipy", scipy.__version__, "golden files in", OUT)
