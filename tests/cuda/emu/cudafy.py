#!/usr/bin/env python3
"""Rewrites a .cu file for the CPU emulation (tests/cuda/emu): kernel
launches NAME<<<grid, block, shmem, stream>>> (args) become
etp_emu_launch (dim3 (grid), dim3 (block), shmem, [=] () { NAME (args); }),
and `extern __shared__ T name[];` becomes a pointer to the launch's dynamic
shared memory. Usage: cudafy.py in.cu out.cpp"""
import re
import sys


def split_top(s):
    parts, depth, cur = [], 0, ''
    for ch in s:
        if ch in '([{':
            depth += 1
        elif ch in ')]}':
            depth -= 1
        if ch == ',' and depth == 0:
            parts.append(cur.strip())
            cur = ''
        else:
            cur += ch
    parts.append(cur.strip())
    return parts


def main():
    src = open(sys.argv[1]).read()
    src = re.sub(r'extern\s+__shared__\s+(\w+)\s+(\w+)\s*\[\s*\]\s*;',
                 r'\1 *\2 = (\1 *) etp_emu_dyn_smem ();', src)
    out, pos = [], 0
    pat = re.compile(r'([A-Za-z_]\w*(?:<[^<>;()]*>)?)\s*<<<')
    while True:
        m = pat.search(src, pos)
        if not m:
            out.append(src[pos:])
            break
        end_cfg = src.index('>>>', m.end())
        cfg = split_top(src[m.end():end_cfg])
        p = src.index('(', end_cfg)
        depth, q = 0, p
        while True:
            if src[q] == '(':
                depth += 1
            elif src[q] == ')':
                depth -= 1
                if depth == 0:
                    break
            q += 1
        args = src[p + 1:q]
        while len(cfg) < 4:
            cfg.append('0')
        out.append(src[pos:m.start()])
        out.append(f'etp_emu_launch (dim3 ({cfg[0]}), dim3 ({cfg[1]}), (size_t) ({cfg[2]}), '
                   f'[=] () {{ {m.group(1)} ({args}); }})')
        pos = q + 1
    open(sys.argv[2], 'w').write('#include "cuda_emu.h"\n#line 1 "' + sys.argv[1] + '"\n'
                                 + ''.join(out))


if __name__ == '__main__':
    main()
