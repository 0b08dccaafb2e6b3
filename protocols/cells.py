"""Cell selections as text (for `--set cells=...` and run files) -> boolean masks.

Accepted forms:
  ``all``                    every cell
  ``3,4``                    one cell (row 3, column 4)
  ``0,0;1,2;5,5``            a list of cells
  ``0:4,2:6``                a block: rows 0..3, columns 2..5 (Python slice syntax, ends exclusive)
"""
from __future__ import annotations

import numpy as np

from hil.errors import ParameterError


def _index(part: str, size: int, what: str, spec: str) -> slice | int:
    part = part.strip()
    try:
        if ":" in part:
            lo, hi = part.split(":", 1)
            s = slice(int(lo) if lo.strip() else 0, int(hi) if hi.strip() else size)
            if not (0 <= s.start < s.stop <= size):
                raise ValueError
            return s
        i = int(part)
    except ValueError:
        raise ParameterError(
            f"cells={spec!r}: bad {what} {part!r}; the array has {what}s 0..{size - 1} "
            "(forms: all | R,C | R,C;R,C | R0:R1,C0:C1)") from None
    if not 0 <= i < size:
        raise ParameterError(f"cells={spec!r}: {what} {i} is outside 0..{size - 1}")
    return i


def parse_cells(spec: str, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of ``shape`` selecting the cells named by ``spec``."""
    rows, cols = shape
    mask = np.zeros(shape, dtype=bool)
    text = str(spec).strip()
    if text.lower() == "all":
        mask[:] = True
        return mask
    for item in filter(None, (s.strip() for s in text.split(";"))):
        parts = item.split(",")
        if len(parts) != 2:
            raise ParameterError(
                f"cells={spec!r}: {item!r} is not 'row,col'; forms: all | R,C | R,C;R,C | R0:R1,C0:C1")
        mask[_index(parts[0], rows, "row", spec), _index(parts[1], cols, "column", spec)] = True
    if not mask.any():
        raise ParameterError(f"cells={spec!r} selects no cell")
    return mask
