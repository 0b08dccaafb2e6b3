"""Fused CPU pass of `ReferenceDrift.sample` (numba), the same float32 operations in the
same order as its in-place torch formula, so the results agree bit for bit (checked in
tests/test_drift_sampler.py); the four normal draws stay torch's, in order.

After the draws (n1..n3 into the scratch buffers, n4 into ``out``), block by block of
`BLOCK` cells in cache:
A:     g = ((G·1e6 + (c0 + c1·g)·n1) + µ) + σ·n2;  r = clamp(g, 1e-3)   (programming, drift)
torch: r = log10(r)                    (torch's own log10, as the formula's)
B:     G = clamp((g + ((r·c)·f)·n3)·(n4·d + 1), lo, hi) / 1e6  (read noise, d2d, clip, to S)

`run` overlaps the pass with the last draw: torch's CPU ``normal_`` is serial (one
generator), so the second kernel thread takes the last draw in chunks of `CHUNK` cells
(a multiple of 16: torch fills uniforms in order and Box-Mullers blocks of 16, so the
chunks give the numbers of one whole draw, tested) while this thread runs the pass on
the chunks already drawn.  Each value is computed by the same code from the same inputs.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from numba import njit

from hil.threads import PARALLEL_MIN_WORK, kernel_threads

# torch rounds a Python-float scalar to float32 before a float32 tensor operation (and
# divides, it does not multiply by a reciprocal): the callers pass float32 scalars


#: cells per block of the fused pass (its two temporaries, 2 x 256 kB, stay in L2)
BLOCK = 1 << 16
#: cells per chunk of the last draw on the second kernel thread (a multiple of 16)
CHUNK = 1 << 18


@njit(cache=True, nogil=True)
def pass_a(i0, i1, G, n1, n2, tg, tr, to_uS, c0, c1, mu, sd, prog, drift, floor):  # pragma: no cover - numba
    """Cells i0:i1 into the block temporaries: g into ``tg``, clamp(g, min=floor) into
    ``tr`` (torch's clamp is a max, so the log10 that follows reads the same values)."""
    # slices, not range(i0, i1): an index that may be negative (wraparound) stops LLVM
    # vectorizing the loop (about 3x slower)
    G, n1, n2 = G[i0:i1], n1[i0:i1], n2[i0:i1]
    for i in range(G.size):
        g = G[i] * to_uS
        if prog:
            g = g + (g * c1 + c0) * n1[i]
        if drift:
            g = (g + mu) + n2[i] * sd
            tr[i] = max(g, floor)
        tg[i] = g


@njit(cache=True, nogil=True)
def pass_b(i0, i1, tg, r, n3, out, rc, rf, d2d, lo, hi, uS_per_S, read, dev):  # pragma: no cover - numba
    """Cells i0:i1 from the block temporaries; ``out`` holds n4 (with ``dev``) on entry."""
    one = np.float32(1.0)
    n3, out = n3[i0:i1], out[i0:i1]
    for i in range(out.size):
        g = tg[i]
        if read:
            g = g + ((r[i] * rc) * rf) * n3[i]
        if dev:
            g = g * (out[i] * d2d + one)
        g = min(max(g, lo), hi)
        out[i] = g / uS_per_S


def chunks(n: int, size: int | None = None) -> list[tuple[int, int]]:
    """0:n in pieces of ``size`` cells (a multiple of 16), the last one longer rather than
    under 16 cells: ``normal_`` on each piece in order then gives one whole draw's numbers
    (torch recomputes a draw's last 16 values when its length is not a multiple of 16)."""
    cut = list(range(0, n, size or CHUNK)) + [n]
    if len(cut) > 2 and cut[-1] - cut[-2] < 16:
        del cut[-2]
    return list(zip(cut[:-1], cut[1:]))


_DRAWER: tuple[int, ThreadPoolExecutor] | None = None   # (owner pid, one thread)


def _drawer() -> ThreadPoolExecutor:
    """The thread that takes the last draw (made anew in a forked child, which keeps no
    threads)."""
    global _DRAWER
    if _DRAWER is None or _DRAWER[0] != os.getpid():
        _DRAWER = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="drift-draw"))
    return _DRAWER[1]


def run(G: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, out: torch.Tensor,
        gen: torch.Generator | None, ka: tuple, kb: tuple, prog: bool, drift: bool,
        dev: bool) -> None:
    """The fused sample of 1-D contiguous float32 CPU tensors: targets ``G`` (S) to ``out``
    (S, not sharing memory with ``G``), scratch ``a``, ``b``, ``c``; ``ka`` = (to_uS, c0,
    c1, µ, σ, floor) of pass A and ``kb`` = (rc, rf, d2d, lo, hi, uS_per_S) of pass B,
    float32.

    The draws n1 (into a), n2 (b), n3 (c), n4 (out) are taken one after the other, as the
    formula's; the last one, in chunks, on the second kernel thread while this thread runs
    the pass (torch's log10 on this thread's torch settings, as the formula's).  Small
    tensors, or one kernel thread, stay on this thread."""
    n = G.numel()
    g, o, an, bn, cn = G.numpy(), out.numpy(), a.numpy(), b.numpy(), c.numpy()
    draws = [x for x, on in ((a, prog), (b, drift), (c, drift), (out, dev)) if on]
    for x in draws[:-1]:
        x.normal_(generator=gen)
    jobs: list = []         # (first cell, future) of the last draw's chunks, in order
    if draws and n >= PARALLEL_MIN_WORK and kernel_threads() > 1:
        last, pool = draws[-1], _drawer()   # one thread: the chunks run in order
        jobs = [(j0, pool.submit(last[j0:j1].normal_, generator=gen)) for j0, j1 in chunks(n)]
    elif draws:
        draws[-1].normal_(generator=gen)
    m = min(n, BLOCK)
    tg, tr_t = np.empty(m, np.float32), torch.empty(m)
    tr = tr_t.numpy()
    try:
        k = 0
        for i0 in range(0, n, BLOCK):
            i1 = min(i0 + BLOCK, n)
            while k < len(jobs) and jobs[k][0] < i1:  # the chunks that cells i0:i1 need
                jobs[k][1].result()
                k += 1
            pass_a(i0, i1, g, an, bn, tg, tr, *ka[:5], prog, drift, ka[5])
            if drift:
                tr_t[:i1 - i0].log10_()
            pass_b(i0, i1, tg, tr, cn, o, *kb, drift, dev)
    finally:                # the draws end before the call does, whatever happens here
        for _, job in jobs:
            job.exception()
