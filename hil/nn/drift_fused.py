"""Fused CPU passes of `ReferenceDrift.sample` (numba), the same float32 operations in the
same order as its in-place torch formula, so the results agree bit for bit (checked in
tests/test_drift_sampler.py); the four normal draws stay torch's, whole-tensor, in order.

Pass A: g = ((G·1e6 + (c0 + c1·g)·n1) + µ) + σ·n2          (programming, drift)
torch:  r = log10(clamp(g, 1e-3))   (the clamp in pass A; torch's own log10)
Pass B: G = clamp((g + ((r·c)·f)·n3)·(n4·d + 1), lo, hi) / 1e6  (read noise, d2d, clip, to S)
"""
from __future__ import annotations

import numpy as np
from numba import njit

# torch rounds a Python-float scalar to float32 before a float32 tensor operation (and
# divides, it does not multiply by a reciprocal): the callers pass float32 scalars


@njit(cache=True, nogil=True)
def pass_a(G, n1, n2, out, to_uS, c0, c1, mu, sd, prog, drift, floor):  # pragma: no cover - numba
    """... and, with ``drift``, clamp(g, min=floor) into ``n1`` (its normal already used):
    torch's clamp is a max, so the log10 that follows reads the same values."""
    for i in range(G.size):
        g = G[i] * to_uS
        if prog:
            g = g + (g * c1 + c0) * n1[i]
        if drift:
            g = (g + mu) + n2[i] * sd
            n1[i] = max(g, floor)
        out[i] = g


@njit(cache=True, nogil=True)
def pass_b(out, r, n3, n4, rc, rf, d2d, lo, hi, uS_per_S, read, dev):  # pragma: no cover - numba
    one = np.float32(1.0)
    for i in range(out.size):
        g = out[i]
        if read:
            g = g + ((r[i] * rc) * rf) * n3[i]
        if dev:
            g = g * (n4[i] * d2d + one)
        g = min(max(g, lo), hi)
        out[i] = g / uS_per_S
