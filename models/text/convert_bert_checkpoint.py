#!/usr/bin/python3
"""Convert a Hugging Face BERT checkpoint (pytorch_model.bin) to model.safetensors.

    /usr/bin/python3 models/text/convert_bert_checkpoint.py DIR [--dtype f32|bf16|f16] [--keep-heads]
    /usr/bin/python3 models/text/convert_bert_checkpoint.py IN.bin OUT.safetensors

Needs only Debian's python3-torch (no `safetensors` package): the file format
(u64 little-endian header length, JSON header {name: {dtype, shape,
data_offsets}}, `__metadata__`, then the raw little-endian tensor bytes) is
written here. With a folder, DIR/pytorch_model.bin becomes DIR/model.safetensors
(written to a temporary file and renamed). Tensor names are kept as they are
(with or without the `bert.` prefix: the C loader accepts both); the
pre-training heads (`cls.*`) are dropped unless --keep-heads. Old TF-style
LayerNorm names gamma/beta are renamed to weight/bias.

A typical BioClinicalBERT download (emilyalsentzer/Bio_ClinicalBERT) has
config.json, vocab.txt and pytorch_model.bin; after this script the folder is
what `textencoder model=DIR` loads. Add tokenizer_config.json with
{"do_lower_case": false} to pin the casing (the element defaults to cased).
"""
import argparse
import json
import os
import struct
import sys
import tempfile

import torch

DTYPES = {
    'f32': (torch.float32, 'F32'),
    'f16': (torch.float16, 'F16'),
    'bf16': (torch.bfloat16, 'BF16'),
}
TORCH_TO_ST = {
    torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16',
    torch.float64: 'F64', torch.int64: 'I64', torch.int32: 'I32',
}


def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.view(torch.int16).numpy().astype('<i2').tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder('<')).tobytes()


def write_safetensors(path, tensors, metadata):
    header = {}
    off = 0
    names = sorted(tensors)
    for name in names:
        t = tensors[name]
        n = t.numel() * t.element_size()
        header[name] = {'dtype': TORCH_TO_ST[t.dtype], 'shape': list(t.shape),
                        'data_offsets': [off, off + n]}
        off += n
    header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(',', ':')).encode('utf-8')
    h += b' ' * ((8 - len(h) % 8) % 8)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.model.safetensors.', dir=d)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(struct.pack('<Q', len(h)))
            f.write(h)
            for name in names:
                f.write(tensor_bytes(tensors[name]))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def convert(src, dst, dtype='f32', keep_heads=False):
    sd = torch.load(src, map_location='cpu')
    if isinstance(sd, dict) and 'state_dict' in sd and isinstance(sd['state_dict'], dict):
        sd = sd['state_dict']
    out = {}
    for name, t in sd.items():
        if not torch.is_tensor(t):
            continue
        if not keep_heads and (name.startswith('cls.') or name.endswith('position_ids')):
            continue
        if name.endswith('LayerNorm.gamma'):
            name = name[:-len('gamma')] + 'weight'
        elif name.endswith('LayerNorm.beta'):
            name = name[:-len('beta')] + 'bias'
        if t.is_floating_point():
            t = t.to(DTYPES[dtype][0])
        out[name] = t
    if not any(n.endswith('embeddings.word_embeddings.weight') for n in out):
        sys.exit('%s: no embeddings.word_embeddings.weight: not a BERT checkpoint' % src)
    write_safetensors(dst, out, {'format': 'pt', 'source': os.path.basename(src)})
    return len(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('src', help='a folder with pytorch_model.bin, or the .bin file')
    ap.add_argument('dst', nargs='?', help='output .safetensors (default: next to the .bin)')
    ap.add_argument('--dtype', choices=sorted(DTYPES), default='f32')
    ap.add_argument('--keep-heads', action='store_true', help='keep cls.* pre-training heads')
    a = ap.parse_args()
    src = a.src
    if os.path.isdir(src):
        src = os.path.join(src, 'pytorch_model.bin')
    dst = a.dst or os.path.join(os.path.dirname(os.path.abspath(src)), 'model.safetensors')
    n = convert(src, dst, a.dtype, a.keep_heads)
    print('%s: %d tensors -> %s' % (src, n, dst))


if __name__ == '__main__':
    main()
