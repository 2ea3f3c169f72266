#!/usr/bin/python3
"""Independent reference values for the record readers (tests/io/test_io.c).

Parses a few real records with numpy/scipy only (WFDB .hea + format-16 .dat,
PhysioNet/CinC MATLAB v4 .mat, CPSC2018 MATLAB v5 .mat via scipy.io.loadmat)
and writes, per record, the first and last 50 samples of every lead and the
per-lead sums (physical units, leads in PTB-XL order when the record has the
12 standard leads) to golden/<name>.json.

Run: /usr/bin/python3 tests/io/make_golden.py [ETP_SHARED_DATA]
"""
import json
import os
import sys

import numpy as np
import scipy.io

SHARED = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
    "ETP_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
DATA = os.path.join(SHARED, "data")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
STD = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
N_EDGE = 50


def parse_hea(path):
    lines = [l.strip() for l in open(path) if l.strip() and not l.startswith("#")]
    rec = lines[0].split()
    nsig, fs, nsamp = int(rec[1]), float(rec[2].split("/")[0]), int(rec[3])
    sigs = []
    for l in lines[1:1 + nsig]:
        f = l.split()
        gain_field = f[2]
        units = gain_field.split("/")[1] if "/" in gain_field else "mV"
        g = gain_field.split("/")[0]
        if "(" in g:
            gain, base = float(g.split("(")[0]), float(g.split("(")[1].rstrip(")"))
        else:
            gain, base = float(g), float(f[4])
        sigs.append(dict(file=f[0], fmt=f[1], gain=gain, base=base, units=units,
                         name=" ".join(f[8:])))
    return nsig, fs, nsamp, sigs


def read_wfdb(hea):
    nsig, fs, nsamp, sigs = parse_hea(hea)
    d = os.path.dirname(hea)
    out = np.zeros((nsamp, nsig))
    files = []
    for s in sigs:
        if s["file"] not in files:
            files.append(s["file"])
    for fn in files:
        idx = [i for i, s in enumerate(sigs) if s["file"] == fn]
        raw = open(os.path.join(d, fn), "rb").read()
        if fn.endswith(".mat"):
            # MATLAB v4: 5 int32 header words, name, then int16 column-major
            hdr = np.frombuffer(raw[:20], dtype="<i4")
            assert hdr[0] == 30, hdr  # little-endian int16 full matrix
            rows, cols, namlen = hdr[1], hdr[2], hdr[4]
            a = np.frombuffer(raw[20 + namlen:], dtype="<i2", count=rows * cols)
            a = a.reshape(cols, rows)
        else:
            assert sigs[idx[0]]["fmt"] == "16"
            a = np.frombuffer(raw, dtype="<i2", count=nsamp * len(idx)).reshape(nsamp, len(idx))
        for k, i in enumerate(idx):
            out[:, i] = (a[:, k].astype(np.float64) - sigs[i]["base"]) / sigs[i]["gain"]
    names = [s["name"] for s in sigs]
    return fs, names, out, sigs[0]["units"]


def to_std(names, x):
    low = [n.lower() for n in names]
    std_low = [s.lower() for s in STD]
    if len(names) == 12 and sorted(low) == sorted(std_low):
        order = [low.index(s) for s in std_low]
        return list(STD), x[:, order]
    return names, x


def dump(name, record_id, fs, names, x, units, source):
    names, x = to_std(names, x)
    g = dict(record=record_id, source=source, rate=fs, n_samples=int(x.shape[0]),
             n_leads=int(x.shape[1]), units=units, leads=names,
             first=[[round(float(v), 7) for v in x[:N_EDGE, c]] for c in range(x.shape[1])],
             last=[[round(float(v), 7) for v in x[-N_EDGE:, c]] for c in range(x.shape[1])],
             sums=[float(x[:, c].sum()) for c in range(x.shape[1])])
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(g, f)
    print(name, x.shape, names[:3])


def wfdb(name, rel):
    hea = os.path.join(DATA, rel)
    fs, names, x, units = read_wfdb(hea)
    dump(name, os.path.basename(rel)[:-4], fs, names, x, units, rel)


def cpsc(name, rel):
    m = scipy.io.loadmat(os.path.join(DATA, rel))
    x = m["ECG"]["data"][0, 0].astype(np.float64).T
    dump(name, os.path.basename(rel)[:-4], 500.0, list(STD), x, "mV", rel)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    wfdb("ptbxl_00001_lr", "ptbxl/records100/00000/00001_lr.hea")
    wfdb("ptbxl_00001_hr", "ptbxl/records500/00000/00001_hr.hea")
    wfdb("ptbxl_01005_lr_z", "ptbxl/records100/01000/01005_lr.hea")
    wfdb("ptbdb_s0010_re", "ptbdb/s0010_re.hea")
    cpsc("cpsc2018_A1980", "cpsc2018/TrainingSet/A1980.mat")
    for folder in sorted(os.listdir(os.path.join(DATA, "cinc"))):
        d = os.path.join(DATA, "cinc", folder)
        if not os.path.isdir(d):
            continue
        heas = sorted(f for f in os.listdir(d) if f.endswith(".hea"))
        wfdb("cinc_" + folder.replace("-", "_"), os.path.join("cinc", folder, heas[0]))
