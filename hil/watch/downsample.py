"""Server-side downsampling for the live view: a browser never receives more than a few
thousand points per trace or a few hundred pixels per map side, however large the run."""
from __future__ import annotations

import numpy as np

MAX_TRACE_POINTS = 4000
MAX_MAP_SIDE = 192


def decimate_minmax(y: np.ndarray, max_points: int = MAX_TRACE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(indices, values) of at most ``max_points`` samples of ``y`` that keep each bucket's
    minimum and maximum, so spikes and saturation stay visible (NaNs are dropped)."""
    y = np.asarray(y, dtype=np.float64)
    idx = np.flatnonzero(np.isfinite(y))
    if idx.size <= max_points:
        return idx, y[idx]
    n_buckets = max(1, max_points // 2)
    edges = np.linspace(0, idx.size, n_buckets + 1).astype(np.int64)
    keep = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi <= lo:
            continue
        seg = y[idx[lo:hi]]
        a, b = lo + int(np.argmin(seg)), lo + int(np.argmax(seg))
        keep += sorted({a, b})
    sel = idx[np.asarray(keep, dtype=np.int64)]
    return sel, y[sel]


def block_mean(G: np.ndarray, max_side: int = MAX_MAP_SIDE) -> tuple[np.ndarray, int]:
    """A map averaged over square blocks so that neither side exceeds ``max_side``; returns
    (map, block size).  NaN cells are ignored inside a block."""
    G = np.asarray(G, dtype=np.float64)
    rows, cols = G.shape
    k = max(1, -(-max(rows, cols) // max_side))
    if k == 1:
        return G, 1
    r2, c2 = -(-rows // k) * k, -(-cols // k) * k
    pad = np.full((r2, c2), np.nan)
    pad[:rows, :cols] = G
    blocks = pad.reshape(r2 // k, k, c2 // k, k)
    with np.errstate(invalid="ignore"):
        counts = np.isfinite(blocks).sum(axis=(1, 3))
        sums = np.nansum(blocks, axis=(1, 3))
        out = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return out, k
