#!/usr/bin/python3
"""PyTorch peer of bench_resnet1d.c: the same ResNet18-1D (+ heads, CLIP loss,
Adam) with the same batch, length and threads; prints the same RESULT line."""
import argparse
import os
import resource
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'engine', 'golden_resnet'))
from etp_resnet1d import ResNet18_1D, etp_loss  # noqa: E402


def macs(length):
    m, L = 0, length
    L = (L + 6 - 7) // 2 + 1
    m += 64 * 12 * 7 * L
    cin = 64
    for s in range(4):
        cout = 64 << s
        for b in range(2):
            stride = 2 if (b == 0 and s > 0) else 1
            Lo = (L + 2 - 3) // stride + 1
            m += cout * cin * 3 * Lo + cout * cout * 3 * Lo
            if stride != 1 or cin != cout:
                m += cout * cin * Lo
            L, cin = Lo, cout
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--mode', default='infer')
    ap.add_argument('--length', '-L', type=int, default=1000)
    ap.add_argument('--batch', '-b', type=int, default=32)
    ap.add_argument('--threads', '-t', type=int, default=2)
    ap.add_argument('--iters', '-n', type=int, default=5)
    ap.add_argument('--warmup', '-w', type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = ResNet18_1D()
    x = torch.rand(a.batch, 12, a.length) * 2 - 1
    text = torch.rand(a.batch, 768) * 2 - 1
    train = a.mode == 'train'
    if train:
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-5)
    else:
        model.eval()
    t0 = None
    for it in range(a.warmup + a.iters):
        if it == a.warmup:
            t0 = time.perf_counter()
        if train:
            opt.zero_grad(set_to_none=True)
            loss, _, _ = etp_loss(model, x, text)
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                model.embed(x)
    secs = time.perf_counter() - t0
    ecg_s = a.batch * a.iters / secs
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print('RESULT impl=pytorch mode=%s L=%d batch=%d threads=%d ecg_per_s=%.2f gflops=%.1f '
          'peak_rss_mb=%.0f backend="torch %s"' % (
              a.mode, a.length, a.batch, a.threads, ecg_s,
              ecg_s * macs(a.length) * 2 * (3 if train else 1) / 1e9, rss, torch.__version__))


if __name__ == '__main__':
    main()
