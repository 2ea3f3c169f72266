#!/usr/bin/python3
"""How much German/Swedish is left in the PTB-XL reports after the normaliser.

    /usr/bin/python3 models/text/lexicon_coverage.py BUILD_DIR [PTBXL_DIR] [--show N]

Runs BUILD_DIR/models/text/etp-reportnorm (the C normaliser, same code as
`textencoder normalize-reports=true`) over every report of
PTBXL_DIR/ptbxl_database.csv (default ../shared/data/ptbxl) and prints, over
all word tokens (letter runs, lower-cased, umlauts folded), the fraction that
is non-English before and after normalisation.

A token counts as non-English when
  * it is a source word of the lexicon whose English side differs from it, or
  * it is not in the English vocabulary: the 100,000 most frequent GloVe words
    (~/.cache/gst-etp/glove-6b-100d.etpwv, see pipelines/fetch-wordvectors.sh),
    the words of scp_statements.csv (codes and descriptions), the English side
    of the lexicon, lead names, single letters and a few British clinical
    spellings, minus a list of German/Swedish function words that GloVe also
    holds.
With --show N the N most frequent remaining non-English tokens are listed
(the next candidates for the lexicon).
"""
import collections
import csv
import os
import re
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FOREIGN_FUNCTION_WORDS = set('''
oder und mit ohne bei auf fuer nicht kein keine ueber unter nach vor von zur zum als
sehr etwas nur mehr wie bis um der die das des dem den ein eine einer eines sonst typ
och eller med som vid paa ej inte samt kan bor foer
'''.split())
BRITISH_AND_LEADS = set('''
ischaemia ischaemic hypokalaemia oedema haemorrhage ischaem
infarct infarcts digoxin trifascicular pericarditis precordial cardiological tracings holter
i ii iii avr avl avf aVR v1 v2 v3 v4 v5 v6 qrs qt qtc pq pr st rs rsr qs
'''.split())


def fold(s):
    s = s.lower()
    for a, b in (('ä', 'ae'), ('ö', 'oe'), ('ü', 'ue'), ('ß', 'ss')):
        s = s.replace(a, b)
    return s


WORD = re.compile(r'[^\W\d_]+', re.UNICODE)


def words(s):
    return WORD.findall(fold(s))


def glove_words(path, top):
    with open(path, 'rb') as f:
        data = f.read()
    if data[:8] != b'ETPWV001':
        raise SystemExit('%s is not a .etpwv file' % path)
    n, = struct.unpack_from('<Q', data, 16)
    ro, so, sto = struct.unpack_from('<QQQ', data, 32)
    out = set()
    for i in range(n):
        rank, = struct.unpack_from('<I', data, ro + 4 * i)
        if rank >= top:
            continue
        a, b = struct.unpack_from('<QQ', data, so + 8 * i)
        out.add(fold(data[sto + a:sto + b].decode('utf-8')))
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith('--')]
    show = 0
    if '--show' in sys.argv:
        show = int(sys.argv[sys.argv.index('--show') + 1])
        args = [a for a in args if a != str(show)]
    if not args:
        raise SystemExit(__doc__)
    build = args[0]
    ptbxl = args[1] if len(args) > 1 else os.path.join(ROOT, '..', 'shared', 'data', 'ptbxl')
    tool = os.path.join(build, 'models', 'text', 'etp-reportnorm')
    glove = os.path.join(os.path.expanduser('~'), '.cache', 'gst-etp', 'glove-6b-100d.etpwv')
    if not os.path.exists(glove):
        raise SystemExit('need %s (pipelines/fetch-wordvectors.sh)' % glove)

    english = glove_words(glove, 100000)
    with open(os.path.join(ptbxl, 'scp_statements.csv'), encoding='utf-8') as f:
        for row in csv.reader(f):
            for cell in row:
                english.update(words(cell))
    english.update(BRITISH_AND_LEADS)
    english.update(chr(c) for c in range(ord('a'), ord('z') + 1))
    lexicon = set()
    with open(os.path.join(HERE, 'de_en_ecg_lexicon.tsv'), encoding='utf-8') as f:
        for line in f:
            if line.startswith('#') or '\t' not in line:
                continue
            src, en = line.rstrip('\n').split('\t', 1)
            english.update(words(en))
            sw = words(src)
            if len(sw) == 1 and sw != words(en):
                lexicon.update(sw)
    english -= FOREIGN_FUNCTION_WORDS
    english -= lexicon

    def foreign(w):
        return w in lexicon or w not in english

    with open(os.path.join(ptbxl, 'ptbxl_database.csv'), encoding='utf-8') as f:
        reports = [r['report'].replace('\n', ' ') for r in csv.DictReader(f)]
    out = subprocess.run([tool], input='\n'.join(reports) + '\n', capture_output=True,
                         text=True, check=True).stdout.split('\n')[:len(reports)]
    before = collections.Counter()
    after = collections.Counter()
    nb = na = 0
    for r, o in zip(reports, out):
        wb, wa = words(r), words(o)
        nb += len(wb)
        na += len(wa)
        before.update(w for w in wb if foreign(w))
        after.update(w for w in wa if foreign(w))
    fb, fa = sum(before.values()), sum(after.values())
    print('reports: %d' % len(reports))
    print('non-English tokens before: %d / %d = %.1f%%' % (fb, nb, 100.0 * fb / max(nb, 1)))
    print('non-English tokens after:  %d / %d = %.1f%%' % (fa, na, 100.0 * fa / max(na, 1)))
    print('untranslated fraction of the German/Swedish tokens: %.1f%%' % (100.0 * fa / max(fb, 1)))
    if show:
        print('most frequent remaining:', ' '.join('%s:%d' % kv for kv in after.most_common(show)))


if __name__ == '__main__':
    main()
