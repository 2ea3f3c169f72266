#!/usr/bin/python3
"""Golden files for tests/engine/test_resnet1d.c (run with Debian's python3-torch).

    /usr/bin/python3 tests/engine/golden_resnet/make_golden.py          # (re)write the files here
    /usr/bin/python3 tests/engine/golden_resnet/make_golden.py --check C_WRITTEN.safetensors [FEATURES.bin]
    /usr/bin/python3 tests/engine/golden_resnet/make_golden.py --export-full DIR   # full-size demo checkpoint

Each case uses a narrow ResNet18-1D (width 8: 8/16/32/64 channels; the code
path is the same as width 64) so the files stay small, random weights and
non-trivial BatchNorm statistics, and computes everything in float64:

  model_<case>.safetensors   the torch-written checkpoint (state_dict + __metadata__)
  golden_<case>.safetensors  inputs (x, x2, text); eval.features, eval.embeddings,
                             eval.text_embeddings; train.loss = [loss, loss_text, loss_ssl];
                             grad.<param> for every parameter after backward;
                             after.<tensor> for every state tensor after one Adam step
                             (lr 2e-3, weight decay 1e-5, torch.optim.Adam) incl. running stats.
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from etp_resnet1d import (ResNet18_1D, etp_loss, save_safetensors,  # noqa: E402
                          load_safetensors, state_dict_to_numpy, numpy_to_state_dict)

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = {
    # name: leads, width, embed, text_dim, batch, length, second view, ssl weight
    'a': dict(leads=12, width=8, embed_dim=32, text_dim=24, batch=3, length=257, view2=False, ssl=1.0),
    'b': dict(leads=12, width=8, embed_dim=32, text_dim=24, batch=2, length=250, view2=True, ssl=0.5),
}


def randomise(model, g):
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                c = mod.num_features
                mod.weight.copy_(0.5 + torch.rand(c, generator=g, dtype=torch.float64))
                mod.bias.copy_(0.2 * torch.randn(c, generator=g, dtype=torch.float64))
                mod.running_mean.copy_(0.3 * torch.randn(c, generator=g, dtype=torch.float64))
                mod.running_var.copy_(0.5 + torch.rand(c, generator=g, dtype=torch.float64))
                mod.num_batches_tracked.fill_(7)
        model.logit_scale.fill_(math.log(1 / 0.07))


def make_case(name, p):
    torch.manual_seed(1000 + ord(name))
    g = torch.Generator().manual_seed(2000 + ord(name))
    model = ResNet18_1D(p['leads'], p['width'], p['embed_dim'], p['text_dim']).double()
    randomise(model, g)
    B, L = p['batch'], p['length']
    x = torch.randn(B, p['leads'], L, generator=g, dtype=torch.float64)
    x2 = torch.randn(B, p['leads'], L, generator=g, dtype=torch.float64) if p['view2'] else None
    text = torch.randn(B, p['text_dim'], generator=g, dtype=torch.float64)
    # the model as stored in float32 is the reference
    st = state_dict_to_numpy(model)
    model.load_state_dict(numpy_to_state_dict(st, model), strict=True)
    meta = dict(format='etp-1', model='resnet18-1d', leads=p['leads'], width=p['width'],
                embed_dim=p['embed_dim'], text_dim=p['text_dim'], sample_rate=100, length=L)
    save_safetensors(os.path.join(HERE, 'model_%s.safetensors' % name), st, meta)

    x = x.float().double()
    text = text.float().double()
    if x2 is not None:
        x2 = x2.float().double()
    gold = {'x': x.numpy().astype(np.float32), 'text': text.numpy().astype(np.float32)}
    if x2 is not None:
        gold['x2'] = x2.numpy().astype(np.float32)

    model.eval()
    with torch.no_grad():
        gold['eval.features'] = model.features(x).numpy().astype(np.float32)
        gold['eval.embeddings'] = model.embed(x).numpy().astype(np.float32)
        gold['eval.text_embeddings'] = model.embed_text(text).numpy().astype(np.float32)

    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                           weight_decay=1e-5)
    opt.zero_grad()
    loss, lt, ls = etp_loss(model, x, text, x2, p['ssl'])
    loss.backward()
    gold['train.loss'] = np.array([loss.item(), lt.item(), ls.item()], dtype=np.float32)
    for k, v in model.named_parameters():
        gold['grad.' + k] = v.grad.numpy().astype(np.float32)
    opt.step()
    for k, v in state_dict_to_numpy(model).items():
        gold['after.' + k] = v
    save_safetensors(os.path.join(HERE, 'golden_%s.safetensors' % name), gold,
                     dict(ssl_weight=p['ssl'], batch=B, length=L))
    print('case %s: loss %.6f (text %.6f, ssl %.6f), %d parameters' % (
        name, loss.item(), lt.item(), ls.item(),
        sum(v.numel() for v in model.parameters())))


def check(path, feats_path=None):
    """Loads a gst-etp-written checkpoint into the torch module strictly."""
    tensors, meta = load_safetensors(path)
    model = ResNet18_1D(int(meta.get('leads', 12)), int(meta.get('width', 64)),
                        int(meta.get('embed_dim', 512)), int(meta.get('text_dim', 768)))
    sd = numpy_to_state_dict(tensors, model)
    model.load_state_dict(sd, strict=True)
    print('%s: load_state_dict(strict=True) OK (%d tensors, %d optim.*; metadata %s)' % (
        path, len(sd), sum(k.startswith('optim.') for k in tensors), meta))
    if feats_path:
        gold, _ = load_safetensors(os.path.join(HERE, 'golden_a.safetensors'))
        model.eval()
        with torch.no_grad():
            f = model.features(torch.from_numpy(gold['x'])).numpy()
        c = np.fromfile(feats_path, dtype='<f4').reshape(f.shape)
        err = np.abs(f - c).max() / np.abs(f).max()
        print('features of golden_a x: max rel diff torch vs gst-etp %.3g' % err)
        if err > 1e-4:
            sys.exit(1)


def export_full(outdir, seed=0, n=4, L=1000, rate=100):
    """A full-size (width 64) torch-initialised checkpoint, an input file of n
    ECGs as interleaved float32 (what filesrc ! rawaudioparse reads) and the
    features PyTorch computes for each 10 s window."""
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    model = ResNet18_1D(12, 64, 512, 768)
    randomise(model, g)
    model.eval()
    st = state_dict_to_numpy(model)
    save_safetensors(os.path.join(outdir, 'w.safetensors'), st,
                     dict(format='etp-1', model='resnet18-1d', leads=12, width=64, embed_dim=512,
                          text_dim=768, sample_rate=rate, length=L))
    x = torch.randn(n, 12, L, generator=g)
    x.permute(0, 2, 1).contiguous().numpy().astype('<f4').tofile(os.path.join(outdir, 'in.f32'))
    with torch.no_grad():
        f = model.features(x).numpy()
        e = model.embed(x).numpy()
    f.astype('<f4').tofile(os.path.join(outdir, 'features_torch.f32'))
    e.astype('<f4').tofile(os.path.join(outdir, 'embeddings_torch.f32'))
    print('wrote %s/{w.safetensors,in.f32,features_torch.f32,embeddings_torch.f32}' % outdir)


if __name__ == '__main__':
    torch.set_num_threads(1)
    if len(sys.argv) >= 3 and sys.argv[1] == '--check':
        check(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    elif len(sys.argv) >= 3 and sys.argv[1] == '--export-full':
        export_full(sys.argv[2])
    else:
        for k, v in CASES.items():
            make_case(k, v)
