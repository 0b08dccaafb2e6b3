"""Configurable array faults: stuck-at-on / stuck-at-off cells and dead (open) lines.

Config (a station's ``[backend.faults]`` table or a dict)::

    stuck_on = [[r, c], ...]        # explicit cells
    stuck_off = [[r, c], ...]
    stuck_on_fraction = 0.001       # plus a random fraction of all cells
    stuck_off_fraction = 0.001
    dead_rows = [3]                 # open row lines: no programming voltage, reads give 0 S
    dead_cols = [7]

Random faults are drawn from their own stream seeded by (seed, 0xFA17), so adding faults
does not change the physics random stream.  Stuck cells read their device's on/off
conductance whatever their state; dead lines deliver 0 V and carry no read current.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from hil.errors import ParameterError

_KEYS = {"stuck_on", "stuck_off", "stuck_on_fraction", "stuck_off_fraction",
         "dead_rows", "dead_cols"}


@dataclass
class FaultMap:
    """Boolean masks of the faults of one array."""

    stuck_on: np.ndarray
    stuck_off: np.ndarray
    dead_rows: np.ndarray
    dead_cols: np.ndarray

    @property
    def any(self) -> bool:
        """Whether there is any fault (computed once: the masks are fixed after building;
        the single-cell read path asks on every call)."""
        cached = self.__dict__.get("_any")
        if cached is None:
            cached = self.__dict__["_any"] = bool(self.stuck_on.any() or self.stuck_off.any()
                                                  or self.dead_rows.any() or self.dead_cols.any())
        return cached

    def dead_cells(self) -> np.ndarray:
        """(rows, cols) mask of cells on a dead line."""
        return self.dead_rows[:, None] | self.dead_cols[None, :]


def _cells(value: Any, key: str, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for item in value or []:
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            raise ParameterError(f"faults.{key}: entry {item!r} is not a [row, col] pair")
        r, c = int(item[0]), int(item[1])
        if not (0 <= r < shape[0] and 0 <= c < shape[1]):
            raise ParameterError(f"faults.{key}: cell {[r, c]} outside the {shape[0]}x{shape[1]} array")
        mask[r, c] = True
    return mask


def _lines(value: Any, key: str, n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for item in value or []:
        i = int(item)
        if not 0 <= i < n:
            raise ParameterError(f"faults.{key}: line {i} outside 0..{n - 1}")
        mask[i] = True
    return mask


def _fraction(cfg: Mapping[str, Any], key: str) -> float:
    f = float(cfg.get(key, 0.0))
    if not 0.0 <= f <= 1.0:
        raise ParameterError(f"faults.{key} = {f!r}; allowed: a fraction in [0, 1]")
    return f


def build_faults(cfg: Mapping[str, Any] | None, shape: tuple[int, int], seed: int) -> FaultMap:
    """FaultMap for ``shape`` from a faults config (None: no faults)."""
    cfg = dict(cfg or {})
    unknown = set(cfg) - _KEYS
    if unknown:
        raise ParameterError(f"unknown fault keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    on = _cells(cfg.get("stuck_on"), "stuck_on", shape)
    off = _cells(cfg.get("stuck_off"), "stuck_off", shape)
    f_on, f_off = _fraction(cfg, "stuck_on_fraction"), _fraction(cfg, "stuck_off_fraction")
    if f_on or f_off:
        u = np.random.default_rng([int(seed), 0xFA17]).random(shape, dtype=np.float32)
        on |= u < f_on
        off |= (u >= f_on) & (u < f_on + f_off)
    off &= ~on
    return FaultMap(on, off, _lines(cfg.get("dead_rows"), "dead_rows", shape[0]),
                    _lines(cfg.get("dead_cols"), "dead_cols", shape[1]))


def apply_read_faults(g_S: np.ndarray, faults: FaultMap, index: tuple, g_on_S: np.ndarray,
                      g_off_S: np.ndarray) -> np.ndarray:
    """Override read conductances of the sub-array ``index`` (an np.ix_ tuple) for faults."""
    if not faults.any:
        return g_S
    g = np.where(faults.stuck_on[index], g_on_S, g_S)
    g = np.where(faults.stuck_off[index], g_off_S, g)
    return np.where(faults.dead_cells()[index], 0.0, g)
