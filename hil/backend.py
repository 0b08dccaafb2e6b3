"""The backend interface every protocol talks to.

A protocol never imports a driver or a simulator class: it receives a `Backend` and calls
only the methods below.  Everything is SI (V, A, S, s) and numpy arrays.  Two families
implement it: `sim_backends.SimBackend` (vectorized physics) and `hil.lab.InstrumentBackend`
(drivers composed from a station file).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from hil.clock import Clock


@dataclass(frozen=True)
class Lines:
    """Voltages on every line of an array for one pulse (V).

    For an H-1E1T ECRAM array: ``gate_rows`` = EG per row, ``select_cols`` = TG per column,
    ``drain`` = ED, ``source`` = ES.  For a 1T1R RRAM array: ``gate_rows`` = word lines,
    ``select_cols`` = bit lines, ``source`` = source lines.  ``drain``/``source`` may be a
    scalar (all lines equal) or one value per line, as the array type documents.
    """

    gate_rows: np.ndarray
    select_cols: np.ndarray
    drain: np.ndarray | float = 0.0
    source: np.ndarray | float = 0.0
    extra: dict[str, np.ndarray] = field(default_factory=dict)


Cell = tuple[int, int]


def line_index(sel: Sequence[int] | np.ndarray | None, n: int, what: str) -> np.ndarray:
    """Validated integer indices of rows/cols for `Backend.read` (None: all; bool masks ok)."""
    from hil.errors import ParameterError

    if sel is None:
        return np.arange(n)
    idx = np.atleast_1d(np.asarray(sel))
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise ParameterError(f"{what} mask has shape {idx.shape}; expected ({n},)")
        return np.flatnonzero(idx)
    if not np.issubdtype(idx.dtype, np.integer):
        raise ParameterError(f"{what} {sel!r} must be integer indices")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ParameterError(f"{what} {idx.tolist()[:8]} outside 0..{n - 1}")
    return idx


def check_width(width_s: float) -> float:
    """A pulse width as float, or a ParameterError naming the bad value."""
    from hil.errors import ParameterError

    w = float(width_s)
    if not (np.isfinite(w) and w > 0):
        raise ParameterError(f"pulse width {width_s!r} s; allowed: a finite value > 0")
    return w


class Backend(ABC):
    """A (simulated or real) memory array plus the instruments needed to use it.

    Implementations keep all mutable state (array state, RNG, open connections) inside the
    backend so that `state_dict()`/`load_state_dict()` is enough to resume a run exactly.
    """

    #: short name stored in run files, e.g. "sim" or "lab"
    kind: str = "abstract"

    @property
    @abstractmethod
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the addressable array."""

    @property
    @abstractmethod
    def device(self) -> dict[str, Any]:
        """The device card (parsed TOML) of the devices in this array."""

    @property
    @abstractmethod
    def clock(self) -> Clock:
        """The clock that times this backend (virtual on sim, wall clock on a lab)."""

    @abstractmethod
    def read(self, rows: Sequence[int] | np.ndarray | None = None,
             cols: Sequence[int] | np.ndarray | None = None,
             v_read_V: float | None = None) -> np.ndarray:
        """Measure conductance G_S (float64, siemens) of the rows x cols sub-array.

        ``None`` means all rows / all columns; ``v_read_V`` defaults to the card's read
        voltage.  Includes read noise; does not disturb the state.
        """

    @abstractmethod
    def apply_pulse(self, lines: Lines, width_s: float) -> None:
        """Apply one pulse of ``width_s`` with the given voltage on every line.

        Each cell's update follows from the physics of its terminal voltages, so
        half-select disturb emerges rather than being a flag.
        """

    @abstractmethod
    def pulse_cells(self, mask: np.ndarray, amplitude_V: float | np.ndarray,
                    width_s: float) -> None:
        """Program the cells where ``mask`` (bool, shape) is True.

        ``amplitude_V`` > 0 potentiates (raises G), < 0 depresses; scalar or one value per
        cell (broadcastable to ``shape``).  The backend uses its array's selection scheme
        (H-1E1T phases for ECRAM, V/2 or V/3 for 1T1R), possibly as several physical pulses.
        """

    @abstractmethod
    def iv_sweep(self, cell: Cell, v_V: np.ndarray, compliance_A: float) -> np.ndarray:
        """Sweep the programming terminal of ``cell`` through ``v_V``; return current I_A.

        ECRAM: the gate is swept and the drain current at the read voltage is returned at
        each step (transfer curve; the state moves).  RRAM: the cell voltage is swept and
        the cell current (clipped at ``compliance_A``) is returned.
        """

    @abstractmethod
    def mtt_read(self, unit: Cell | None, v_read_H_V: float, v_ref_G_V: float,
                 v_drain_V: float) -> np.ndarray:
        """Read memory-transistor-transfer units; return I_ts (A).

        Unit (r, k) is built from the hidden devices in columns 2k (G_A+) and 2k+1 (G_A-)
        of row r.  ``None`` reads every unit: shape (rows, cols // 2).
        """

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass (virtual on sim: returns at once)."""
        if seconds < 0:
            raise ValueError(f"wait: seconds must be >= 0, got {seconds!r}")
        self.clock.sleep(seconds)

    def fault_events(self) -> list[str]:
        """Faults handled below the backend since the last call (retried reads, pulses
        confirmed after a lost reply), for the run file's log.  Simulators have none."""
        return []

    # -- resumability -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where we are (arrays and JSON-able values)."""
        return {"clock_t_s": self.clock.now()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self.clock.set(float(state["clock_t_s"]))

    def close(self) -> None:
        """Release instruments / files.  Idempotent."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
