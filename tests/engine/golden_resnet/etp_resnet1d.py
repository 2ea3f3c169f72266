"""The PyTorch twin of models/nets/resnet1d.c (ResNet18-1D + ETP heads).

Parameter and buffer names are torchvision's ResNet names applied to the 1-D
network, so `load_state_dict(strict=True)` works on gst-etp checkpoints (drop
the optional `optim.*` entries first) and gst-etp loads this module's
state_dict.  Also a dependency-free safetensors reader/writer (numpy only;
Debian has no python3-safetensors).
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv1d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv1d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv1d(cin, cout, 1, stride, bias=False), nn.BatchNorm1d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        idt = x if self.downsample is None else self.downsample(x)
        return self.relu(out + idt)


class ResNet18_1D(nn.Module):
    def __init__(self, leads=12, width=64, embed_dim=512, text_dim=768):
        super().__init__()
        self.conv1 = nn.Conv1d(leads, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm1d(width)
        self.relu = nn.ReLU(inplace=True)
        cin = width
        for s in range(4):
            cout = width << s
            stride = 1 if s == 0 else 2
            layer = nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1))
            setattr(self, 'layer%d' % (s + 1), layer)
            cin = cout
        self.avgpool = nn.AdaptiveAvgPool1d(1)
        self.ecg_proj = nn.Linear(8 * width, embed_dim)
        self.text_proj = nn.Linear(text_dim, embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        for mod in self.modules():  # torchvision's init
            if isinstance(mod, nn.Conv1d):
                nn.init.kaiming_normal_(mod.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(mod, nn.BatchNorm1d):
                nn.init.constant_(mod.weight, 1)
                nn.init.constant_(mod.bias, 0)

    def features(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)

    def embed(self, x):
        return F.normalize(self.ecg_proj(self.features(x)), dim=1)

    def embed_text(self, t):
        return F.normalize(self.text_proj(t), dim=1)


def clip_loss(a, b, logit_scale):
    logits = logit_scale.exp() * a @ b.t()
    tgt = torch.arange(a.shape[0])
    return (F.cross_entropy(logits, tgt) + F.cross_entropy(logits.t(), tgt)) / 2


def etp_loss(model, x, text, x2=None, ssl_weight=1.0):
    """ETP training loss as models/nets/resnet1d.c computes it."""
    n = x.shape[0]
    z = model.embed(x if x2 is None else torch.cat([x, x2]))
    zt = model.embed_text(text)
    lt = clip_loss(z[:n], zt, model.logit_scale)
    if x2 is None:
        return lt, lt, torch.zeros(())
    ls = clip_loss(z[:n], z[n:], model.logit_scale)
    return lt + ssl_weight * ls, lt, ls


_DT = {'F32': np.float32, 'F16': np.float16, 'F64': np.float64, 'I64': np.int64,
       'I32': np.int32}


def save_safetensors(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    for name, a in tensors.items():
        a = np.array(a, order="C", copy=True)
        code = {np.dtype(v): k for k, v in _DT.items()}[a.dtype]
        b = a.astype(a.dtype.newbyteorder('<')).tobytes()
        header[name] = {'dtype': code, 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (hl,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + hl])
    meta = header.pop('__metadata__', {})
    data = raw[8 + hl:]
    out = {}
    for name, e in header.items():
        b, en = e['data_offsets']
        if e['dtype'] == 'BF16':
            u = np.frombuffer(data[b:en], dtype='<u2').astype(np.uint32) << 16
            a = u.view(np.float32)
        else:
            a = np.frombuffer(data[b:en], dtype=np.dtype(_DT[e['dtype']]).newbyteorder('<'))
        out[name] = a.reshape(e['shape']).copy()
    return out, meta


def state_dict_to_numpy(model, dtype=np.float32):
    out = {}
    for k, v in model.state_dict().items():
        a = v.detach().cpu().numpy()
        out[k] = a.astype(np.int64) if k.endswith('num_batches_tracked') else a.astype(dtype)
    return out


def numpy_to_state_dict(tensors, ref_model):
    sd = {}
    ref = ref_model.state_dict()
    for k, a in tensors.items():
        if k.startswith('optim.'):
            continue
        t = torch.from_numpy(np.array(a))
        sd[k] = t.to(ref[k].dtype) if k in ref else t
    return sd
