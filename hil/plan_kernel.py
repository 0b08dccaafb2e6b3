"""One-pass kernels of `hil.plan.compile_plan` for per-cell amplitude maps.

`compile_plan` needs the masked DAC-code map and, per polarity, the distinct codes and,
per code, the lines (rows, or columns for a column-wise scheme) holding a cell at that
code.  Done with numpy that is several full-array temporaries plus one full-array
comparison per level; at 4 Mb and a dozen ISPP levels it was the largest single cost of a
write-verify round.  These kernels read the map a fixed number of times, without branches
on the data (the codes of a write-verify round are mixed in sign and level), rows in
parallel: every output is an exact integer, boolean or max reduction over per-row (or per
line block) partials, so it does not depend on the number of threads.
The row loops run on the kernel threads (`hil.threads.split_run`: ``nogil``
workers over row ranges, Python threads rather than ``parallel=True``, which a forked child
cannot use after its parent).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from hil.threads import split_run

#: blocks of lines whose code sets `level_lines` gathers in parallel (fixed: exact for any thread count)
LINE_BLOCKS = 16


@njit(cache=True, nogil=True)
def _codes_rows(i0, i1, amplitude_V, mask, resolution_V, out, row_finite, row_max):
    for i in range(i0, i1):
        amp, m, o = amplitude_V[i], mask[i], out[i]
        finite = True
        top = 0
        for j in range(amplitude_V.shape[1]):
            a = amp[j]
            finite &= np.isfinite(a)
            c = np.int32(np.rint(a / resolution_V)) if m[j] else np.int32(0)
            o[j] = c
            top = max(top, abs(np.int64(c)))
        row_finite[i] = finite
        row_max[i] = top


def masked_codes(amplitude_V: np.ndarray, mask: np.ndarray,
                 resolution_V: float) -> tuple[np.ndarray, bool, np.ndarray]:
    """``rint(amplitude_V / resolution_V)`` as int32 where ``mask``, 0 elsewhere (the same
    arithmetic as `hil.plan.dac_codes`), whether every amplitude is finite, and per row the
    largest |code| (int64)."""
    n_rows = amplitude_V.shape[0]
    out = np.empty(amplitude_V.shape, np.int32)
    row_finite = np.empty(n_rows, np.bool_)
    row_max = np.empty(n_rows, np.int64)
    split_run(_codes_rows, n_rows, amplitude_V.size, amplitude_V, mask, float(resolution_V), out,
              row_finite, row_max)
    return out, bool(row_finite.all()), row_max


@njit(cache=True, nogil=True)
def _seen_blocks(b0, b1, codes, max_code, seen_b):
    n_lines, n_blocks = codes.shape[0], seen_b.shape[0]
    for b in range(b0, b1):
        seen_local = seen_b[b]
        for i in range(b * n_lines // n_blocks, (b + 1) * n_lines // n_blocks):
            line = codes[i]
            for j in range(codes.shape[1]):
                seen_local[line[j] + max_code] = True


@njit(cache=True, nogil=True)
def _presence_rows(i0, i1, codes, max_code, col, on):
    for i in range(i0, i1):
        row, line = on[i], codes[i]
        for k in range(row.size):
            row[k] = False
        for j in range(codes.shape[1]):
            row[col[line[j] + max_code]] = True


@njit(cache=True, nogil=True)
def _columns(seen_b, max_code):
    span = 2 * max_code + 1
    seen = np.zeros(span, np.bool_)
    for b in range(seen_b.shape[0]):
        for v in range(span):
            seen[v] |= seen_b[b, v]
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
    return seen, col, n_pos, n_neg


def level_lines(codes: np.ndarray, max_code: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the signed code map ``codes`` (lines x cells, |code| <= max_code): the distinct
    positive codes (ascending) and a (lines, n) bool presence matrix, and the same for the
    magnitudes of the negative codes."""
    span = 2 * max_code + 1
    n_lines, n_cells = codes.shape
    # the codes present: per block of lines (blocks fixed, not per thread), then or-ed
    n_blocks = min(n_lines, LINE_BLOCKS)
    seen_b = np.zeros((n_blocks, span), np.bool_)
    split_run(_seen_blocks, n_blocks, codes.size, codes, max_code, seen_b)
    seen, col, n_pos, n_neg = _columns(seen_b, max_code)
    on = np.empty((n_lines, n_pos + n_neg + 1), np.bool_)
    split_run(_presence_rows, n_lines, codes.size, codes, max_code, col, on)
    ups = np.flatnonzero(seen[max_code + 1:]) + 1
    downs = np.flatnonzero(seen[:max_code][::-1]) + 1
    return ups, on[:, :n_pos], downs, on[:, n_pos:n_pos + n_neg]


@njit(cache=True, nogil=True)
def _extremes_rows(i0, i1, amplitude_V, mask, r_pos, r_neg, r_n, r_finite):
    for i in range(i0, i1):
        pos = 0.0
        neg = 0.0
        n = 0
        finite = True
        amp, m = amplitude_V[i], mask[i]
        for j in range(amplitude_V.shape[1]):
            if m[j]:
                a = amp[j]
                n += 1
                finite &= np.isfinite(a)
                pos = max(pos, a)
                neg = max(neg, -a)
        r_pos[i], r_neg[i], r_n[i], r_finite[i] = pos, neg, n, finite


def masked_extremes(amplitude_V: np.ndarray, mask: np.ndarray) -> tuple[float, float, int, bool]:
    """(largest positive amplitude, largest negative magnitude, cells selected, all selected
    amplitudes finite) over the cells where ``mask``; 0.0 where a polarity has none (and where
    an amplitude is not finite: the extremes are then meaningless, the caller rejects it)."""
    n_rows = amplitude_V.shape[0]
    r_pos, r_neg = np.empty(n_rows), np.empty(n_rows)
    r_n, r_finite = np.empty(n_rows, np.int64), np.empty(n_rows, np.bool_)
    split_run(_extremes_rows, n_rows, amplitude_V.size, amplitude_V, mask, r_pos, r_neg, r_n, r_finite)
    finite = bool(r_finite.all())
    if not finite:
        return 0.0, 0.0, int(r_n.sum()), False
    # max of the row maxima: exact in any order
    pos, neg = float(r_pos.max(initial=0.0)), float(r_neg.max(initial=0.0))
    return max(pos, 0.0), max(neg, 0.0), int(r_n.sum()), True


@njit(cache=True, nogil=True)
def _finite_rows(i0, i1, values, row_ok):
    for i in range(i0, i1):
        ok = True
        row = values[i]
        for j in range(values.shape[1]):
            ok &= np.isfinite(row[j])
        row_ok[i] = ok


def all_finite(values: np.ndarray) -> bool:
    """Whether every element of the 2-D float64 array ``values`` is finite."""
    row_ok = np.empty(values.shape[0], np.bool_)
    split_run(_finite_rows, values.shape[0], values.size, values, row_ok)
    return bool(row_ok.all())
