#!/usr/bin/python3
"""Golden files for the text tests (run with Debian's python3: python3-torch, numpy).

    /usr/bin/python3 tests/text/make_golden.py [VOCAB]

Writes, next to this script:
  tokens_golden.json  token ids of >= 25 texts, both casings, with the real
                      cased BERT vocab (../shared/models/bert-base-cased-vocab.txt)
  tinybert/           a tiny random BERT as a Hugging Face folder: config.json,
                      vocab.txt (the real vocab), model.safetensors (written by
                      the small writer below, names with the `bert.` prefix)
  tinybert_golden.bin float32 outputs of the PyTorch module below for a padded
                      batch (see tinybert_golden.json for the layout)

`transformers` is not installed on these machines, so the reference tokenizer
here is an independent Python implementation of Hugging Face's BertTokenizer
(BasicTokenizer + WordpieceTokenizer) from its published algorithm, and the
BERT module is written with the same parameter names as transformers'
BertModel.
"""
import json
import math
import os
import struct
import sys
import unicodedata

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_VOCAB = os.path.join(ROOT, '..', 'shared', 'models', 'bert-base-cased-vocab.txt')

# --------------------------------------------------------------------------
# Reference tokenizer
# --------------------------------------------------------------------------
SPECIAL = ['[UNK]', '[SEP]', '[PAD]', '[CLS]', '[MASK]']


def load_vocab(path):
    vocab = {}
    with open(path, encoding='utf-8') as f:
        for i, line in enumerate(f):
            vocab[line.rstrip('\n')] = i
    return vocab


def _is_whitespace(ch):
    if ch in (' ', '\t', '\n', '\r'):
        return True
    return unicodedata.category(ch) == 'Zs'


def _is_control(ch):
    if ch in ('\t', '\n', '\r'):
        return False
    return unicodedata.category(ch).startswith('C')


def _is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith('P')


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text, lower):
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        out.append(' ' if _is_whitespace(ch) else ch)
    text = ''.join(out)
    out = []
    for ch in text:
        if _is_cjk(ord(ch)):
            out += [' ', ch, ' ']
        else:
            out.append(ch)
    text = unicodedata.normalize('NFC', ''.join(out))
    split = []
    for tok in text.strip().split():
        if lower:
            tok = tok.lower()
            tok = ''.join(c for c in unicodedata.normalize('NFD', tok)
                          if unicodedata.category(c) != 'Mn')
        cur = []
        for ch in tok:
            if _is_punctuation(ch):
                if cur:
                    split.append(''.join(cur))
                    cur = []
                split.append(ch)
            else:
                cur.append(ch)
        if cur:
            split.append(''.join(cur))
    return ' '.join(split).strip().split()


def wordpiece(tok, vocab):
    chars = list(tok)
    if len(chars) > 100:
        return ['[UNK]']
    pieces = []
    start = 0
    while start < len(chars):
        end = len(chars)
        cur = None
        while start < end:
            s = ''.join(chars[start:end])
            if start > 0:
                s = '##' + s
            if s in vocab:
                cur = s
                break
            end -= 1
        if cur is None:
            return ['[UNK]']
        pieces.append(cur)
        start = end
    return pieces


def split_special(text):
    """Hugging Face's added-token trie on the special tokens."""
    segs = []
    while text:
        best = None
        for s in SPECIAL:
            i = text.find(s)
            if i >= 0 and (best is None or i < best[0] or (i == best[0] and len(s) > len(best[1]))):
                best = (i, s)
        if best is None:
            segs.append((False, text))
            break
        if best[0] > 0:
            segs.append((False, text[:best[0]]))
        segs.append((True, best[1]))
        text = text[best[0] + len(best[1]):]
    return segs


def tokenize_ids(text, vocab, lower):
    ids = []
    for special, seg in split_special(text):
        if special:
            ids.append(vocab[seg])
            continue
        for w in basic_tokenize(seg, lower):
            ids += [vocab[p] for p in wordpiece(w, vocab)]
    return ids


def encode(text, vocab, lower, max_length):
    ids = tokenize_ids(text, vocab, lower)[:max_length - 2]
    return [vocab['[CLS]']] + ids + [vocab['[SEP]']]


TEXTS = [
    "Hello, my dog is cute",
    "sinusrhythmus periphere niederspannung",
    "Sinusrhythmus. Überdrehter Linkstyp, unvollständiger Rechtsschenkelblock.",
    "ST-Senkung in V4-V6, T-Negativierung in I, aVL; Vorhofflimmern!",
    "Kammerfrequenz 120/min, QRS 0.12 s, PQ 210ms (verlängert)",
    "sinus rhythm. left axis deviation. incomplete right bundle branch block",
    "Atrial fibrillation with rapid ventricular response",
    "this ECG indicates atrial fibrillation",
    "",
    "   \t  \n ",
    "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "a" * 101,
    "b" * 100,
    "心电图显示房颤 ECG 正常",
    "日本語のテキスト と 한국어",
    "Straße Größe Ärger Öl Übel ÄÖÜäöüß",
    "Café naïve résumé coöperate",
    "e\u0301 vs \u00e9 (NFD vs NFC)",
    "Zero\u200bwidth\u00adsoft\ufeffhyphen and \x07bell\x01soh",
    "“Smart quotes” — em dash – en dash … ellipsis ¿qué? ¡sí!",
    "price: $12.50 + 7% = ~13.38€; #tag @user ^caret |pipe ~tilde `tick`",
    "1.000,5 mV; 2,5mm; 12-Kanal-EKG; 10 s @ 500 Hz",
    "[CLS] already has a [SEP]in it[MASK]",
    "UPPER lower MiXeD ÉCOLE",
    "QTc 480 ms, LVH (Sokolow-Lyon positiv), V.a. Vorderwandinfarkt",
    "unvollst\u00e4ndiger rechtsschenkelblock\u00a0und\u2003linksanteriorer hemiblock",
    "tab\tsep\rcarriage\nnewline\u2028linesep\u2029parasep",
    "Ελληνικά κείμενο και русский текст",
    "emoji 😀 ❤️ 👍🏽 are symbols",
    "ok",
]

MAX_LEN = 32


def make_tokens(vocab_path):
    vocab = load_vocab(vocab_path)
    check = encode("Hello, my dog is cute", vocab, False, 512)
    assert check == [101, 8667, 117, 1139, 3676, 1110, 10509, 102], check
    items = []
    for t in TEXTS:
        items.append({
            'text': t,
            'cased': tokenize_ids(t, vocab, False),
            'uncased': tokenize_ids(t, vocab, True),
            'cased_max32': encode(t, vocab, False, MAX_LEN),
        })
    with open(os.path.join(HERE, 'tokens_golden.json'), 'w', encoding='utf-8') as f:
        json.dump({'vocab': 'bert-base-cased-vocab.txt', 'max_length': MAX_LEN, 'items': items},
                  f, ensure_ascii=False, separators=(",", ":"))
    print('tokens_golden.json: %d texts' % len(items))
    return vocab


# --------------------------------------------------------------------------
# Reference BERT (parameter names as transformers' BertModel)
# --------------------------------------------------------------------------
class Embeddings(torch.nn.Module):
    def __init__(s, c):
        super().__init__()
        s.word_embeddings = torch.nn.Embedding(c['vocab_size'], c['hidden_size'])
        s.position_embeddings = torch.nn.Embedding(c['max_position_embeddings'], c['hidden_size'])
        s.token_type_embeddings = torch.nn.Embedding(c['type_vocab_size'], c['hidden_size'])
        s.LayerNorm = torch.nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])

    def forward(s, ids):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        x = s.word_embeddings(ids) + s.position_embeddings(pos) + \
            s.token_type_embeddings(torch.zeros_like(ids))
        return s.LayerNorm(x)


class SelfAttn(torch.nn.Module):
    def __init__(s, c):
        super().__init__()
        h = c['hidden_size']
        s.query = torch.nn.Linear(h, h)
        s.key = torch.nn.Linear(h, h)
        s.value = torch.nn.Linear(h, h)
        s.nh = c['num_attention_heads']


class SelfOut(torch.nn.Module):
    def __init__(s, c):
        super().__init__()
        s.dense = torch.nn.Linear(c['hidden_size'], c['hidden_size'])
        s.LayerNorm = torch.nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])


class Attention(torch.nn.Module):
    def __init__(s, c):
        super().__init__()
        s.self = SelfAttn(c)
        s.output = SelfOut(c)

    def forward(s, x, addmask):
        B, T, H = x.shape
        nh = s.self.nh
        d = H // nh

        def heads(t):
            return t.view(B, T, nh, d).permute(0, 2, 1, 3)
        q, k, v = heads(s.self.query(x)), heads(s.self.key(x)), heads(s.self.value(x))
        sc = q @ k.transpose(-1, -2) / math.sqrt(d) + addmask
        p = torch.softmax(sc, dim=-1)
        ctx = (p @ v).permute(0, 2, 1, 3).reshape(B, T, H)
        return s.output.LayerNorm(s.output.dense(ctx) + x)


class Intermediate(torch.nn.Module):
    def __init__(s, c):
        super().__init__()
        s.dense = torch.nn.Linear(c['hidden_size'], c['intermediate_size'])


class Output(torch.nn.Module):
    def __init__(s, c):
        super().__init__()
        s.dense = torch.nn.Linear(c['intermediate_size'], c['hidden_size'])
        s.LayerNorm = torch.nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])


class Layer(torch.nn.Module):
    def __init__(s, c):
        super().__init__()
        s.attention = Attention(c)
        s.intermediate = Intermediate(c)
        s.output = Output(c)

    def forward(s, x, addmask):
        a = s.attention(x, addmask)
        i = torch.nn.functional.gelu(s.intermediate.dense(a))  # erf form
        return s.output.LayerNorm(s.output.dense(i) + a)


class Encoder(torch.nn.Module):
    def __init__(s, c):
        super().__init__()
        s.layer = torch.nn.ModuleList([Layer(c) for _ in range(c['num_hidden_layers'])])


class Pooler(torch.nn.Module):
    def __init__(s, c):
        super().__init__()
        s.dense = torch.nn.Linear(c['hidden_size'], c['hidden_size'])


class Bert(torch.nn.Module):
    def __init__(s, c):
        super().__init__()
        s.embeddings = Embeddings(c)
        s.encoder = Encoder(c)
        s.pooler = Pooler(c)

    def forward(s, ids, mask):
        x = s.embeddings(ids)
        addmask = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for l in s.encoder.layer:
            x = l(x, addmask)
        pooled = torch.tanh(s.pooler.dense(x[:, 0]))
        return x, pooled


class BertForPreTrainingShell(torch.nn.Module):
    """Only for names: checkpoints from the hub prefix everything with `bert.`."""

    def __init__(s, c):
        super().__init__()
        s.bert = Bert(c)


def save_safetensors(path, tensors, metadata=None, bf16=()):
    """Minimal safetensors writer: u64 header length, JSON header, raw data."""
    header = {}
    blobs = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        if name in bf16:
            b = t.to(torch.bfloat16).view(torch.int16).numpy().astype('<i2').tobytes()
            dt = 'BF16'
        else:
            b = t.to(torch.float32).numpy().astype('<f4').tobytes()
            dt = 'F32'
        header[name] = {'dtype': dt, 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(',', ':')).encode('utf-8')
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


TINY = {
    'architectures': ['BertModel'], 'model_type': 'bert',
    'vocab_size': 28996, 'hidden_size': 16, 'num_hidden_layers': 2,
    'num_attention_heads': 4, 'intermediate_size': 40,
    'max_position_embeddings': 64, 'type_vocab_size': 2,
    'layer_norm_eps': 1e-12, 'hidden_act': 'gelu',
}
BERT_TEXTS = [
    "sinusrhythmus periphere niederspannung",
    "this ECG indicates atrial fibrillation",
    "Hello, my dog is cute",
    "",
]


def make_tinybert(vocab):
    torch.manual_seed(1234)
    c = TINY
    shell = BertForPreTrainingShell(c)
    with torch.no_grad():
        for name, p in shell.named_parameters():
            if name.endswith('LayerNorm.weight'):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif name.endswith('bias'):
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(0.08 * torch.randn_like(p))
        # The word-embedding table (28996 x H) is the bulk of the file: store
        # it as BF16 (the reader converts), after rounding the PyTorch
        # parameter to BF16 values so both sides compute with equal weights.
        w = shell.bert.embeddings.word_embeddings.weight
        w.copy_(w.to(torch.bfloat16).to(torch.float32))
    d = os.path.join(HERE, 'tinybert')
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(c, f, indent=1)
    with open(os.path.join(d, 'tokenizer_config.json'), 'w') as f:
        json.dump({'do_lower_case': False}, f)
    save_safetensors(os.path.join(d, 'model.safetensors'), dict(shell.named_parameters()),
                     {'format': 'pt'}, bf16={'bert.embeddings.word_embeddings.weight'})
    with open(vocab_path_global, encoding='utf-8') as fi, \
            open(os.path.join(d, 'vocab.txt'), 'w', encoding='utf-8') as fo:
        fo.write(fi.read())

    enc = [encode(t, vocab, False, 64) for t in BERT_TEXTS]
    T = max(len(e) for e in enc)
    ids = torch.tensor([e + [0] * (T - len(e)) for e in enc])
    mask = torch.tensor([[1] * len(e) + [0] * (T - len(e)) for e in enc])
    shell.eval()
    with torch.no_grad():
        hidden, pooled = shell.bert(ids, mask)
    m = mask.unsqueeze(-1).float()
    mean = (hidden * m).sum(1) / m.sum(1)
    cls = hidden[:, 0]
    B = len(enc)
    H = c['hidden_size']
    blob = np.concatenate([
        hidden.numpy().reshape(-1), cls.numpy().reshape(-1),
        mean.numpy().reshape(-1), pooled.numpy().reshape(-1)]).astype('<f4')
    blob.tofile(os.path.join(HERE, 'tinybert_golden.bin'))
    with open(os.path.join(HERE, 'tinybert_golden.json'), 'w') as f:
        json.dump({'texts': BERT_TEXTS, 'batch': B, 'seq_len': T, 'hidden': H,
                   'ids': ids.tolist(), 'mask': mask.tolist(),
                   'layout': 'float32 LE: hidden[B][T][H], cls[B][H], mean[B][H], pooler[B][H]'},
                  f, indent=0)
    print('tinybert: B=%d T=%d H=%d' % (B, T, H))


if __name__ == '__main__':
    vocab_path_global = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_VOCAB
    v = make_tokens(vocab_path_global)
    make_tinybert(v)
