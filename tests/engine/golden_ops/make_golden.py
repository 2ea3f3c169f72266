#!/usr/bin/env python3
"""Golden files for the engine's ops (tests/engine/test_ops.c).

Run with Debian's python3-torch:  /usr/bin/python3 make_golden.py
Writes ops.json (the index: one entry per case with its op, parameters and
tensors as [offset, count, shape] into ops.bin) and ops.bin (little-endian
float32). Inputs are random float32; references are computed by PyTorch in
float64 from those float32 inputs and rounded to float32.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(1234)
rng = np.random.default_rng(1234)

blob = []
offset = 0
cases = []


def put(case, name, t):
    global offset
    a = np.ascontiguousarray(t.detach().to(torch.float32).numpy() if torch.is_tensor(t) else np.asarray(t, dtype=np.float32), dtype='<f4')
    case['tensors'][name] = [offset, int(a.size), list(a.shape)]
    blob.append(a.ravel())
    offset += a.size


def rnd(*shape, scale=1.0, shift=0.0):
    return torch.from_numpy((rng.standard_normal(shape) * scale + shift).astype(np.float32))


def d(t):
    """float64 leaf with grad from a float32 tensor"""
    return t.double().clone().requires_grad_(True)


def case(op, name, **params):
    c = {'op': op, 'name': name, 'params': params, 'tensors': {}}
    cases.append(c)
    return c


# ---------------------------------------------------------------- conv1d
conv_shapes = [
    # n, c_in, l_in, c_out, k, stride, pad, bias
    (2, 3, 17, 4, 3, 1, 1, True),
    (2, 4, 20, 5, 7, 2, 3, False),     # stem-like
    (3, 5, 13, 6, 1, 2, 0, False),     # downsample-like (1x1, stride 2)
    (2, 6, 11, 4, 1, 1, 0, True),      # direct 1x1 path
    (1, 3, 9, 2, 3, 2, 1, False),
    (2, 12, 101, 16, 7, 2, 3, False),  # odd length, 12 leads
    (3, 7, 30, 5, 3, 2, 1, True),
    (2, 4, 10, 3, 5, 3, 0, True),      # stride 3, no padding
    (1, 128, 270, 4, 3, 1, 1, False),  # two time tiles (long reduction)
    (3, 16, 64, 32, 3, 2, 1, False),
]
for i, (n, ci, l, co, k, s, p, b) in enumerate(conv_shapes):
    c = case('conv1d', f'conv{i}', n=n, c_in=ci, l_in=l, c_out=co, kernel=k, stride=s,
             padding=p, bias=int(b))
    x = rnd(n, ci, l)
    w = rnd(co, ci, k, scale=1.0 / math.sqrt(ci * k))
    bias = rnd(co) if b else None
    xd, wd = d(x), d(w)
    bd = d(bias) if b else None
    y = F.conv1d(xd, wd, bd, stride=s, padding=p)
    dy = rnd(*y.shape)
    y.backward(dy.double())
    put(c, 'x', x); put(c, 'w', w)
    if b:
        put(c, 'b', bias); put(c, 'db', bd.grad)
    put(c, 'y', y); put(c, 'dy', dy); put(c, 'dx', xd.grad); put(c, 'dw', wd.grad)

# ------------------------------------------------------------- batchnorm
for i, (n, ch, l) in enumerate([(2, 3, 7), (4, 5, 33), (3, 4, 1), (4, 2, 600), (5, 6, 17)]):
    c = case('batchnorm', f'bn{i}', n=n, c=ch, l=l, momentum=0.1, eps=1e-5)
    x = rnd(n, ch, l, scale=2.0, shift=0.5)
    gamma = rnd(ch, scale=0.5, shift=1.0)
    beta = rnd(ch, scale=0.5)
    rm = rnd(ch, scale=0.3)
    rv = torch.from_numpy(rng.uniform(0.5, 2.0, ch).astype(np.float32))
    res = rnd(n, ch, l)
    dy = rnd(n, ch, l)
    put(c, 'x', x); put(c, 'gamma', gamma); put(c, 'beta', beta)
    put(c, 'running_mean', rm); put(c, 'running_var', rv); put(c, 'residual', res); put(c, 'dy', dy)
    # eval (uses the running stats before the update), plain and fused
    ye = F.batch_norm(x.double(), rm.double(), rv.double(), gamma.double(), beta.double(),
                      training=False, eps=1e-5)
    put(c, 'y_eval', ye)
    put(c, 'y_eval_fused', torch.relu(ye + res.double()))
    # train, plain
    xd, gd, bd = d(x), d(gamma), d(beta)
    rmd, rvd = rm.double().clone(), rv.double().clone()
    y = F.batch_norm(xd, rmd, rvd, gd, bd, training=True, momentum=0.1, eps=1e-5)
    y.backward(dy.double())
    var = x.double().var(dim=(0, 2), unbiased=False)
    put(c, 'y', y); put(c, 'rm_new', rmd); put(c, 'rv_new', rvd)
    put(c, 'save_mean', x.double().mean(dim=(0, 2)))
    put(c, 'save_invstd', 1.0 / torch.sqrt(var + 1e-5))
    put(c, 'dx', xd.grad); put(c, 'dgamma', gd.grad); put(c, 'dbeta', bd.grad)
    # train, fused: z = relu(bn(x) + residual)
    xd, gd, bd, resd = d(x), d(gamma), d(beta), d(res)
    z = torch.relu(F.batch_norm(xd, rm.double().clone(), rv.double().clone(), gd, bd,
                                training=True, momentum=0.1, eps=1e-5) + resd)
    z.backward(dy.double())
    put(c, 'y_fused', z); put(c, 'dx_fused', xd.grad); put(c, 'dgamma_fused', gd.grad)
    put(c, 'dbeta_fused', bd.grad); put(c, 'dres_fused', resd.grad)

# --------------------------------------------------------------- avgpool
for i, (n, ch, l) in enumerate([(2, 3, 7), (3, 8, 125)]):
    c = case('avgpool', f'pool{i}', n=n, c=ch, l=l)
    x = rnd(n, ch, l)
    xd = d(x)
    y = F.adaptive_avg_pool1d(xd, 1).squeeze(-1)
    dy = rnd(n, ch)
    y.backward(dy.double())
    put(c, 'x', x); put(c, 'y', y); put(c, 'dy', dy); put(c, 'dx', xd.grad)

# ---------------------------------------------------------------- linear
for i, (b, fin, fout, bias) in enumerate([(3, 5, 4, True), (7, 33, 17, False), (16, 256, 32, True)]):
    c = case('linear', f'linear{i}', b=b, fin=fin, fout=fout, bias=int(bias))
    x = rnd(b, fin)
    w = rnd(fout, fin, scale=1.0 / math.sqrt(fin))
    bb = rnd(fout) if bias else None
    xd, wd = d(x), d(w)
    bd = d(bb) if bias else None
    y = F.linear(xd, wd, bd)
    dy = rnd(b, fout)
    y.backward(dy.double())
    put(c, 'x', x); put(c, 'w', w); put(c, 'y', y); put(c, 'dy', dy)
    put(c, 'dx', xd.grad); put(c, 'dw', wd.grad)
    if bias:
        put(c, 'b', bb); put(c, 'db', bd.grad)

# ---------------------------------------------------------------- l2norm
for i, (b, dim) in enumerate([(3, 10), (9, 512)]):
    c = case('l2norm', f'l2norm{i}', b=b, d=dim, eps=1e-12)
    x = rnd(b, dim, scale=3.0)
    xd = d(x)
    y = F.normalize(xd, dim=1, eps=1e-12)
    dy = rnd(b, dim)
    y.backward(dy.double())
    put(c, 'x', x); put(c, 'y', y); put(c, 'dy', dy); put(c, 'dx', xd.grad)

# ---------------------------------------------------------- softmax xent
for i, (b, k) in enumerate([(5, 7), (32, 9)]):
    c = case('xent', f'xent{i}', b=b, c=k)
    z = rnd(b, k, scale=3.0)
    t = torch.from_numpy(rng.integers(0, k, b))
    zd = d(z)
    loss = F.cross_entropy(zd, t)
    loss.backward()
    put(c, 'logits', z); put(c, 'targets', t.float()); put(c, 'loss', loss.reshape(1))
    put(c, 'dlogits', zd.grad)

# ------------------------------------------------------------- clip loss
for i, (b, dim, learn) in enumerate([(6, 8, True), (32, 64, True), (5, 16, False)]):
    c = case('clip', f'clip{i}', b=b, d=dim, learnable=int(learn))
    a = F.normalize(rnd(b, dim), dim=1).float()
    bb = F.normalize(rnd(b, dim), dim=1).float()
    ls = torch.tensor([math.log(1 / 0.07)], dtype=torch.float32)
    ad, bd, lsd = d(a), d(bb), d(ls)
    logits = lsd.exp() * ad @ bd.t()
    lab = torch.arange(b)
    loss = (F.cross_entropy(logits, lab) + F.cross_entropy(logits.t(), lab)) / 2
    loss.backward()
    put(c, 'a', a); put(c, 'b', bb); put(c, 'logit_scale', ls); put(c, 'loss', loss.reshape(1))
    put(c, 'logits', logits); put(c, 'da', ad.grad); put(c, 'db', bd.grad)
    put(c, 'dlogit_scale', lsd.grad)

# ------------------------------------------------------------------ adam
for i, (n, wd, decoupled) in enumerate([(50, 1e-2, False), (50, 1e-2, True), (37, 0.0, False)]):
    steps = 3
    c = case('adam', f'adam{i}', n=n, lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8,
             weight_decay=wd, decoupled=int(decoupled), steps=steps)
    p0 = rnd(n)
    grads = rnd(steps, n)
    p = p0.double().clone().requires_grad_(True)
    opt = (torch.optim.AdamW if decoupled else torch.optim.Adam)(
        [p], lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
    for s in range(steps):
        opt.zero_grad()
        p.grad = grads[s].double().clone()
        opt.step()
    st = opt.state[p]
    put(c, 'p0', p0); put(c, 'grads', grads); put(c, 'p', p)
    put(c, 'm', st['exp_avg']); put(c, 'v', st['exp_avg_sq'])

data = np.concatenate(blob).astype('<f4')
data.tofile(os.path.join(HERE, 'ops.bin'))
with open(os.path.join(HERE, 'ops.json'), 'w') as f:
    json.dump({'format': 'etp-golden-ops-1', 'torch': torch.__version__, 'cases': cases}, f, indent=1)
print(f'{len(cases)} cases, {data.size * 4} bytes')
