#!/usr/bin/env python3
"""PyTorch peer of bench_ops.c: times conv1d forward, backward-data and
backward-weight for the given shapes. Args: batch L threads reps then
cpu_time(0/1) then c_in,c_out,k,stride,pad,l_in per shape. Prints "fwd bd bw" (best ms) per line."""
import sys
import time

import torch

batch, L, threads, reps, cpu_time = (int(a) for a in sys.argv[1:6])
clock = time.thread_time if cpu_time else time.perf_counter
torch.set_num_threads(threads)
torch.manual_seed(0)
for spec in sys.argv[6:]:
    ci, co, k, s, p, l = (int(v) for v in spec.split(','))
    x = torch.randn(batch, ci, l)
    w = torch.randn(co, ci, k) * 0.1
    best = [1e30, 1e30, 1e30]
    with torch.no_grad():
        for r in range(reps + 1):
            t0 = clock()
            y = torch.nn.functional.conv1d(x, w, None, s, p)
            t1 = clock()
            gx = torch.ops.aten.convolution_backward(y, x, w, None, [s], [p], [1], False, [0], 1,
                                                     [True, False, False])[0]
            t2 = clock()
            gw = torch.ops.aten.convolution_backward(y, x, w, None, [s], [p], [1], False, [0], 1,
                                                     [False, True, False])[1]
            t3 = clock()
            if r:
                best = [min(best[0], t1 - t0), min(best[1], t2 - t1), min(best[2], t3 - t2)]
    print(' '.join(f'{b * 1e3:.3f}' for b in best))
