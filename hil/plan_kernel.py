"""One-pass grouping of a per-cell DAC-code map into (level, line) pulses for `hil.plan`.

`compile_plan` needs, per polarity, the distinct amplitude codes and, per code, the lines
(rows, or columns for a column-wise scheme) holding a cell at that code.  Done with numpy
that is one full-array comparison per level; at 4 Mb and a dozen ISPP levels it was the
largest single cost of a write-verify round.  This kernel reads the map twice (codes
present, then lines per code) whatever the number of levels.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def level_lines(codes: np.ndarray, max_code: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the signed code map ``codes`` (lines x cells, |code| <= max_code): the distinct
    positive codes (ascending) and a (lines, n) bool presence matrix, and the same for the
    magnitudes of the negative codes."""
    seen = np.zeros((2, max_code + 1), np.bool_)
    n_lines, n_cells = codes.shape
    for i in range(n_lines):
        for j in range(n_cells):
            v = codes[i, j]
            if v > 0:
                seen[0, v] = True
            elif v < 0:
                seen[1, -v] = True
    lut = np.full((2, max_code + 1), -1, np.int64)
    n = np.zeros(2, np.int64)
    for p in range(2):
        for v in range(max_code + 1):
            if seen[p, v]:
                lut[p, v] = n[p]
                n[p] += 1
    pos = np.zeros((n_lines, n[0]), np.bool_)
    neg = np.zeros((n_lines, n[1]), np.bool_)
    for i in range(n_lines):
        for j in range(n_cells):
            v = codes[i, j]
            if v > 0:
                pos[i, lut[0, v]] = True
            elif v < 0:
                neg[i, lut[1, -v]] = True
    return np.flatnonzero(seen[0]), pos, np.flatnonzero(seen[1]), neg
