"""One-pass kernels of `hil.plan.compile_plan` for per-cell amplitude maps.

`compile_plan` needs the masked DAC-code map and, per polarity, the distinct codes and,
per code, the lines (rows, or columns for a column-wise scheme) holding a cell at that
code.  Done with numpy that is several full-array temporaries plus one full-array
comparison per level; at 4 Mb and a dozen ISPP levels it was the largest single cost of a
write-verify round.  These kernels read the map a fixed number of times, without branches
on the data (the codes of a write-verify round are mixed in sign and level).
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def masked_codes(amplitude_V: np.ndarray, mask: np.ndarray, resolution_V: float) -> tuple[np.ndarray, bool]:
    """``rint(amplitude_V / resolution_V)`` as int32 where ``mask``, 0 elsewhere (the same
    arithmetic as `hil.plan.dac_codes`), and whether every amplitude is finite."""
    out = np.zeros(amplitude_V.shape, np.int32)
    finite = True
    for i in range(amplitude_V.shape[0]):
        for j in range(amplitude_V.shape[1]):
            a = amplitude_V[i, j]
            finite &= np.isfinite(a)
            out[i, j] = np.int32(np.rint(a / resolution_V)) if mask[i, j] else 0
    return out, finite


@njit(cache=True, nogil=True)
def level_lines(codes: np.ndarray, max_code: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the signed code map ``codes`` (lines x cells, |code| <= max_code): the distinct
    positive codes (ascending) and a (lines, n) bool presence matrix, and the same for the
    magnitudes of the negative codes."""
    span = 2 * max_code + 1
    seen = np.zeros(span, np.bool_)
    n_lines, n_cells = codes.shape
    for i in range(n_lines):
        for j in range(n_cells):
            seen[codes[i, j] + max_code] = True
    seen[max_code] = False                       # code 0: no pulse
    # columns: positive codes ascending, then negative magnitudes ascending, then a dummy
    col = np.full(span, -1, np.int64)
    n_pos = 0
    for v in range(1, max_code + 1):
        if seen[max_code + v]:
            col[max_code + v] = n_pos
            n_pos += 1
    n_neg = 0
    for v in range(1, max_code + 1):
        if seen[max_code - v]:
            col[max_code - v] = n_pos + n_neg
            n_neg += 1
    col[max_code] = n_pos + n_neg
    on = np.zeros((n_lines, n_pos + n_neg + 1), np.bool_)
    for i in range(n_lines):
        row = on[i]
        for j in range(n_cells):
            row[col[codes[i, j] + max_code]] = True
    ups = np.flatnonzero(seen[max_code + 1:]) + 1
    downs = np.flatnonzero(seen[:max_code][::-1]) + 1
    return ups, on[:, :n_pos], downs, on[:, n_pos:n_pos + n_neg]


@njit(cache=True, nogil=True)
def masked_extremes(amplitude_V: np.ndarray, mask: np.ndarray) -> tuple[float, float, int, bool]:
    """(largest positive amplitude, largest negative magnitude, cells selected, all selected
    amplitudes finite) over the cells where ``mask``; 0.0 where a polarity has none."""
    pos = 0.0
    neg = 0.0
    n = 0
    finite = True
    for i in range(amplitude_V.shape[0]):
        for j in range(amplitude_V.shape[1]):
            if mask[i, j]:
                a = amplitude_V[i, j]
                n += 1
                finite &= np.isfinite(a)
                pos = max(pos, a)
                neg = max(neg, -a)
    return pos, neg, n, finite
