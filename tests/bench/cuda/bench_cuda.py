#!/usr/bin/env python3
"""PyTorch + cuDNN peer of bench_cuda.c: the same ResNet18-1D + ETP heads
(shared/DESIGN.md), the same batch, the same training step (CLIP loss over
frozen text features, Adam lr 2e-3 wd 1e-5, batch copied from pinned host
memory every step) and the same inference (eval mode, embeddings out).

Prints one line per figure: "train L ecg_per_s", "infer L ecg_per_s",
"infer_bf16 L ecg_per_s". FP32 unless --tf32 (cuDNN's default would use TF32
for convolutions; it is switched off for a like-for-like FP32 comparison).

Needs a CUDA build of PyTorch (Debian's python3-torch is CPU-only): run
bench_cuda --python /path/to/venv/bin/python3, or ETP_BENCH_PYTHON=...
"""
import argparse
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv1d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(cout)
        self.conv2 = nn.Conv1d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv1d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm1d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        idt = x if self.downsample is None else self.downsample(x)
        return F.relu(out + idt)


class EtpNet(nn.Module):
    def __init__(self, leads=12, width=64, embed=512, text_dim=768):
        super().__init__()
        self.conv1 = nn.Conv1d(leads, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm1d(width)
        layers, cin = [], width
        for i, stride in enumerate((1, 2, 2, 2)):
            cout = width << i
            layers.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.ecg_proj = nn.Linear(cin, embed)
        self.text_proj = nn.Linear(text_dim, embed)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layers(h).mean(dim=-1)
        return F.normalize(self.ecg_proj(h), dim=-1)

    def loss(self, x, text):
        e = self.encode(x)
        t = F.normalize(self.text_proj(text), dim=-1)
        logits = self.logit_scale.exp() * e @ t.t()
        target = torch.arange(x.shape[0], device=x.device)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


def timed(fn, steps, warmup):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--lengths', default='5000,1000')
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--tf32', action='store_true')
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print('this PyTorch has no CUDA device (Debian python3-torch is CPU-only)', file=sys.stderr)
        sys.exit(3)
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    dev = torch.device('cuda')
    print(f'# torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, '
          f'{torch.cuda.get_device_name(0)}', flush=True)
    torch.manual_seed(0)
    for L in (int(v) for v in a.lengths.split(',')):
        model = EtpNet().to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-5)
        x_host = torch.randn(a.batch, 12, L).pin_memory()
        text_host = torch.randn(a.batch, 768).pin_memory()

        def train_step():
            x = x_host.to(dev, non_blocking=True)
            text = text_host.to(dev, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            loss = model.loss(x, text)
            loss.backward()
            opt.step()
            loss.item()          # the C side reads the loss back every step

        model.train()
        dt = timed(train_step, a.steps, a.warmup)
        print(f'train {L} {a.batch * a.steps / dt:.1f}', flush=True)

        model.eval()

        def infer_step(bf16=False):
            with torch.no_grad(), torch.autocast('cuda', dtype=torch.bfloat16, enabled=bf16):
                x = x_host.to(dev, non_blocking=True)
                model.encode(x).float().cpu()

        dt = timed(infer_step, a.steps, a.warmup)
        print(f'infer {L} {a.batch * a.steps / dt:.1f}', flush=True)
        dt = timed(lambda: infer_step(True), a.steps, a.warmup)
        print(f'infer_bf16 {L} {a.batch * a.steps / dt:.1f}', flush=True)
        del model, opt
        torch.cuda.empty_cache()


if __name__ == '__main__':
    main()
