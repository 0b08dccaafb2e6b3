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
from hil.errors import ParameterError


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


def _program_extremes(mask: np.ndarray, amplitude_V: Any) -> tuple[float | None, float | None]:
    """(largest potentiation amplitude, largest depression magnitude) of a
    `Backend.pulse_cells` request (None where there is none; NaN for a non-finite one)."""
    m = np.asarray(mask, bool)
    a = np.asarray(amplitude_V, dtype=np.float64)
    if a.ndim == 2 and a.shape == m.shape:      # a per-cell map: one pass, no gathers
        from hil.plan_kernel import masked_extremes
        pos, neg, n, finite = masked_extremes(a, m)
        if n == 0:
            return None, None
        if not finite:
            return float("nan"), None
        return (pos if pos > 0 else None, neg if neg > 0 else None)
    sel = np.broadcast_to(a, m.shape)[m] if a.ndim else np.full(int(m.any()), float(a))
    if sel.size == 0:
        return None, None
    if not np.all(np.isfinite(sel)):
        return float("nan"), None
    pos, neg = sel[sel > 0], sel[sel < 0]
    return (float(pos.max()) if pos.size else None, float(-neg.min()) if neg.size else None)


def _row_pulses(mask: np.ndarray, amplitude_V: Any) -> int:
    """Physical pulses of a row-wise scheme: distinct (row, signed amplitude) pairs."""
    m = np.asarray(mask, bool)
    a = np.asarray(amplitude_V, dtype=np.float64)
    rows = np.nonzero(m)[0]
    if not a.ndim:
        return int(np.unique(rows).size)
    sel = np.round(np.broadcast_to(a, m.shape)[m], 3)
    return int(np.unique(np.stack([rows, sel]), axis=1).shape[1]) if rows.size else 0


def _guarded(name: str, fn: Any) -> Any:
    """``fn`` (a subclass's apply_pulse / pulse_cells / iv_sweep) preceded by the limit check
    of the Backend base, so that no backend can pass an unchecked request to a driver."""
    import functools

    check = getattr(Backend, f"_check_{name}")

    @functools.wraps(fn)
    def wrapper(self: "Backend", *args: Any, **kwargs: Any) -> Any:
        if getattr(self, "_limit_depth", 0):          # a subclass calling super(): checked
            return fn(self, *args, **kwargs)
        on_s = check(self, *args, **kwargs)
        self._limit_depth = 1
        try:
            return fn(self, *args, **kwargs)
        finally:
            self._limit_depth = 0
            if on_s:
                self._pulsed(on_s)

    wrapper._limit_checked = True  # type: ignore[attr-defined]
    return wrapper


class Backend(ABC):
    """A (simulated or real) memory array plus the instruments needed to use it.

    Implementations keep all mutable state (array state, RNG, open connections) inside the
    backend so that `state_dict()`/`load_state_dict()` is enough to resume a run exactly.

    Safety limits (`hil.limits.Limits`: the device card's range, tightened by the station)
    are checked here, in the base, before a subclass's ``apply_pulse``, ``pulse_cells`` or
    ``iv_sweep`` runs: `__init_subclass__` wraps those methods of every subclass.
    """

    #: short name stored in run files, e.g. "sim" or "lab"
    kind: str = "abstract"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("apply_pulse", "pulse_cells", "iv_sweep"):
            fn = cls.__dict__.get(name)
            if fn is not None and not getattr(fn, "_limit_checked", False) \
                    and not getattr(fn, "__isabstractmethod__", False):
                setattr(cls, name, _guarded(name, fn))

    # -- safety limits ---------------------------------------------------------------------
    @property
    def limits(self) -> Any:
        """The effective `hil.limits.Limits` (default: the device card's safe range)."""
        lim = getattr(self, "_limits", None)
        if lim is None:
            from hil.limits import Limits

            lim = self._limits = Limits.from_card(self.device)
        return lim

    def set_limits(self, limits: Any) -> None:
        """Install station limits (`hil.limits.Limits`, within the card's range)."""
        self._limits = limits

    def _family(self) -> Any:
        fam = getattr(self, "_limit_family", None)
        if fam is None:
            from hil.families import family_of

            fam = self._limit_family = family_of(self.device)
        return fam

    def _wait_duty(self) -> None:
        """Hold the next pulse until the station's duty limit allows it."""
        free = getattr(self, "_pulse_free_at", None)
        if free is not None:
            dt = free - self.clock.now()
            if dt > 0:
                self.clock.sleep(dt)

    def _pulsed(self, on_s: float) -> None:
        duty = self.limits.duty_max
        if duty < 1:
            self._pulse_free_at = self.clock.now() + on_s * (1.0 / duty - 1.0)

    def _check_apply_pulse(self, lines: "Lines", width_s: float) -> float:
        lim = self.limits
        lim.check_width(check_width(width_s))
        rows, cols = self.shape
        for kind in ("gate_rows", "select_cols", "drain", "source"):
            v = np.asarray(getattr(lines, kind), dtype=np.float64)
            if v.size:
                lim.check_line(kind, float(np.max(np.abs(v))) if np.all(np.isfinite(v)) else float("nan"))
        driven = np.abs(np.asarray(lines.gate_rows, float)) > 0
        d = np.asarray(lines.drain, float)
        if d.ndim == 1 and d.shape == (rows,):
            driven = driven | (np.abs(d) > 0)
        if driven.shape == (rows,):
            lim.check_cells(np.flatnonzero(driven), np.empty(0, int))
        if lim.duty_max >= 1:
            return 0.0
        self._wait_duty()
        return float(width_s)

    def _check_pulse_cells(self, mask: np.ndarray, amplitude_V: Any, width_s: float) -> float:
        lim = self.limits
        lim.check_width(check_width(width_s))
        m = np.asarray(mask)
        if m.shape != tuple(self.shape) or m.dtype != bool:
            return 0.0          # the backend rejects the mask itself, before any pulse
        try:
            pos, neg = _program_extremes(m, amplitude_V)
        except ValueError:      # does not broadcast: the backend's own error
            return 0.0
        if lim.rows is not None or lim.cols is not None:
            r, c = np.nonzero(m)
            lim.check_cells(r, c)
        if pos is not None or neg is not None:
            lim.check_program(self._family(), self.device, pos, neg)
        if lim.duty_max >= 1:
            return 0.0
        self._wait_duty()
        return _row_pulses(m, amplitude_V) * float(width_s)

    def _check_iv_sweep(self, cell: "Cell", v_V: Any, compliance_A: float) -> float:
        lim = self.limits
        v = np.asarray(v_V, dtype=np.float64)
        if v.size:
            lim.check_amplitude(float(v.max()), "sweep voltage")
            lim.check_amplitude(float(v.min()), "sweep voltage")
        try:
            lim.check_compliance(float(compliance_A))
            lim.check_cells(np.array([int(cell[0])]), np.array([int(cell[1])]))
        except (TypeError, ValueError, IndexError) as exc:
            if isinstance(exc, ParameterError):
                raise
        return 0.0

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
                    width_s: float) -> Any:
        """Program the cells where ``mask`` (bool, shape) is True.

        ``amplitude_V`` > 0 potentiates (raises G), < 0 depresses; scalar or one value per
        cell (broadcastable to ``shape``).  The backend uses its array's selection scheme
        (H-1E1T phases for ECRAM, V/2 or V/3 for 1T1R), possibly as several physical pulses.
        Returns what was applied: the request's `hil.plan.PulsePlan` (``n_pulses``, the
        line voltages of every pulse), the same plan on a simulator, a bench or a dry run.
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

    #: the device keeps its state when the host process stops (a bench, not a simulation):
    #: a resumed run continues from the device's measured state, not the checkpoint's copy
    device_persists: bool = False
    #: `pulse_count` survives reconnecting (a counter on the device, or restored with state)
    pulse_counter_persists: bool = False

    def pulse_count(self) -> int | None:
        """Physical pulses the device side has applied, as its counter reports them (None:
        no counter).  Must be cheap (no I/O in the steady state): the runner asks around
        every step to keep the run file's pulse ledger (/pulses)."""
        return None

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
