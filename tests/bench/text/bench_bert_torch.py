#!/usr/bin/python3
"""PyTorch peer of bench_bert (run by it; not standalone-useful).

    bench_bert_torch.py MODEL_DIR BATCHES.bin THREADS REPS OUT.bin

Loads MODEL_DIR/model.safetensors into the reference BERT module of
tests/text/make_golden.py (same parameter names as transformers' BertModel),
runs the padded batches of BATCHES.bin (int32: n_batches, then per batch B, T,
ids[B*T], mask[B*T]) REPS times with torch.set_num_threads(THREADS) under
torch.inference_mode(), prints one line per batch "torch <tag> <wall s> <process CPU s>"
and writes the CLS vectors of the first rep to OUT.bin (float32).
"""
import json
import os
import struct
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'text'))
import make_golden as mg  # noqa: E402


def load_st(path):
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    base = 8 + n
    sd = {}
    for k, v in h.items():
        if k == '__metadata__':
            continue
        a, b = v['data_offsets']
        assert v['dtype'] == 'F32'
        sd[k] = torch.from_numpy(np.frombuffer(raw, dtype='<f4', count=(b - a) // 4,
                                               offset=base + a).copy()).reshape(v['shape'])
    return sd


def main():
    d, batches, threads, reps, out = sys.argv[1:6]
    torch.set_num_threads(int(threads))
    cfg = json.load(open(os.path.join(d, 'config.json')))
    model = mg.BertForPreTrainingShell(cfg)
    sd = load_st(os.path.join(d, 'model.safetensors'))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    model.eval()
    data = np.fromfile(batches, dtype='<i4')
    nb = int(data[0])
    pos = 1
    items = []
    for _ in range(nb):
        tag, B, T = int(data[pos]), int(data[pos + 1]), int(data[pos + 2])
        pos += 3
        ids = torch.from_numpy(data[pos:pos + B * T].reshape(B, T).astype(np.int64))
        pos += B * T
        mask = torch.from_numpy(data[pos:pos + B * T].reshape(B, T).astype(np.int64))
        pos += B * T
        items.append((tag, ids, mask))
    cls_out = []
    times = {}
    with torch.inference_mode():
        model.bert(items[0][1], items[0][2])   # warm-up
        for r in range(int(reps)):
            for tag, ids, mask in items:
                t0 = time.perf_counter()
                c0 = time.process_time()
                h, _ = model.bert(ids, mask)
                w, c = times.get(tag, (0.0, 0.0))
                times[tag] = (w + time.perf_counter() - t0, c + time.process_time() - c0)
                if r == 0:
                    cls_out.append(h[:, 0].numpy().astype('<f4'))
    np.concatenate([c.reshape(-1) for c in cls_out]).tofile(out)
    for tag, (w, c) in sorted(times.items()):
        print('torch %d %.6f %.6f' % (tag, w / int(reps), c / int(reps)))


if __name__ == '__main__':
    main()
