"""Pin map of an H-1E1T array behind a switch matrix: shared by the lab wiring
(`hil.lab.matrix`) and the emulated bench (`sim_backends.emulators.bench`).

Matrix outputs (1-based, in this order) of a rows x cols array: ``G0..G{rows-1}`` gate per
row (EG), ``T0..T{cols-1}`` selector gate per column (TG), ``D0..D{rows-1}`` drain per row
(ED), ``S0..S{cols-1}`` source per column (ES).  Matrix inputs default to `DEFAULT_INPUTS`
(a station may name others in ``[backend] matrix_inputs``).
"""
from __future__ import annotations

import numpy as np

#: matrix inputs of the default bench: B1500 channels as in REFERENCE §8 (UNT?), two
#: pulse-generator outputs
DEFAULT_INPUTS = ("GNDU", "SMU4", "SMU5", "SMU6", "SMU7", "SPGU101", "SPGU102", "PG1", "PG2")


def pin_names(rows: int, cols: int) -> list[str]:
    """Matrix output names; output k (1-based) is ``pin_names(rows, cols)[k - 1]``."""
    return ([f"G{r}" for r in range(rows)] + [f"T{c}" for c in range(cols)]
            + [f"D{r}" for r in range(rows)] + [f"S{c}" for c in range(cols)])


def split_pins(v: np.ndarray, rows: int, cols: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-pin values in `pin_names` order -> (EG per row, TG per column, ED per row, ES per
    column)."""
    v = np.asarray(v)
    return v[:rows], v[rows:rows + cols], v[rows + cols:2 * rows + cols], v[2 * rows + cols:]
