"""`SimBackend`: the `hil.backend.Backend` interface on vectorized simulated arrays.

The array object (``SimBackend.array``) holds all physics state; the backend validates
arguments, dispatches, advances the virtual clock by the pulse time, and packs state for
checkpoints.  Array types: ``"h1e1t"`` (ECRAM, `H1E1TArray`) and ``"1t1r"`` (RRAM,
`RRAM1T1RArray`).  Array methods other code (emulators) may call directly:
``read(rows, cols, v_read_V)`` -> G_S with noise; ``conductance(rows, cols)`` noise-free;
``apply_lines(lines, width_s)`` / ``program(mask, amp, width_s)`` -> number of physical
pulses (the caller advances the clock by n * width_s, as `apply_pulse`/`pulse_cells` do);
``sweep(cell, v_V, compliance_A)`` -> (I_A, duration_s); ``mtt_currents(unit, ...)``;
``state_dict``/``load_state_dict``; attributes ``x`` (ECRAM ionic state) or ``w`` (RRAM
filament state), ``t_prog_s`` (time each cell was last programmed), ``dev`` / ``g_on_S``.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from hil.backend import Backend, Cell, Lines
from hil.cards import load_card
from hil.clock import Clock, VirtualClock
from hil.errors import ParameterError

ARRAY_TYPES = ("h1e1t", "1t1r")
_DEFAULT_DEVICE = {"h1e1t": "ecram_wox_lipon", "1t1r": "rram_hfox_1t1r"}


def _make_array(array: str, shape: tuple[int, int], card: dict[str, Any], seed: int,
                clock: Clock, faults: Mapping[str, Any] | None) -> Any:
    if array == "h1e1t":
        from sim_backends.arrays.h1e1t import H1E1TArray
        return H1E1TArray(shape, card, seed=seed, clock=clock, faults=faults)
    if array == "1t1r":
        from sim_backends.arrays.rram_1t1r import RRAM1T1RArray
        return RRAM1T1RArray(shape, card, seed=seed, clock=clock, faults=faults)
    raise ParameterError(f"array type {array!r} unknown; allowed: {', '.join(ARRAY_TYPES)}")


class SimBackend(Backend):
    """Simulated array backend (virtual clock by default; seeded and reproducible)."""

    kind = "sim"

    def __init__(self, shape: Sequence[int] = (8, 8), device: str | None = None,
                 array: str = "h1e1t", seed: int = 0,
                 faults: Mapping[str, Any] | None = None, clock: Clock | None = None,
                 **array_options: Any) -> None:
        if array not in ARRAY_TYPES:
            raise ParameterError(f"array type {array!r} unknown; allowed: {', '.join(ARRAY_TYPES)}")
        self._clock = clock if clock is not None else VirtualClock()
        self._card = load_card(device or _DEFAULT_DEVICE[array])
        self.array_type = array
        self.seed = int(seed)
        self.array = _make_array(array, tuple(shape), self._card, self.seed, self._clock, faults)
        for key, value in array_options.items():
            self.array.set_option(key, value)

    # -- properties -----------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self.array.shape

    @property
    def device(self) -> dict[str, Any]:
        return self._card

    @property
    def clock(self) -> Clock:
        return self._clock

    # -- Backend interface --------------------------------------------------------------------
    def read(self, rows: Sequence[int] | np.ndarray | None = None,
             cols: Sequence[int] | np.ndarray | None = None,
             v_read_V: float | None = None) -> np.ndarray:
        return np.asarray(self.array.read(rows, cols, v_read_V), dtype=np.float64)

    def apply_pulse(self, lines: Lines, width_s: float) -> None:
        n = self.array.apply_lines(lines, width_s)
        self._clock.advance(n * float(width_s))

    def pulse_cells(self, mask: np.ndarray, amplitude_V: float | np.ndarray,
                    width_s: float) -> None:
        n = self.array.program(mask, amplitude_V, width_s)
        self._clock.advance(n * float(width_s))

    def iv_sweep(self, cell: Cell, v_V: np.ndarray, compliance_A: float) -> np.ndarray:
        if not (np.isfinite(compliance_A) and compliance_A > 0):
            raise ParameterError(f"compliance_A {compliance_A!r}; allowed: a finite value > 0")
        i, dt = self.array.sweep(cell, np.asarray(v_V, dtype=np.float64), float(compliance_A))
        self._clock.advance(dt)
        return i

    def mtt_read(self, unit: Cell | None, v_read_H_V: float, v_ref_G_V: float,
                 v_drain_V: float) -> np.ndarray:
        for name, v in (("v_read_H_V", v_read_H_V), ("v_ref_G_V", v_ref_G_V),
                        ("v_drain_V", v_drain_V)):
            if not np.isfinite(v) or abs(v) > 5.0:
                raise ParameterError(f"{name} = {v!r} V; allowed: finite, |V| <= 5 V")
        if v_read_H_V <= 0:
            raise ParameterError(f"v_read_H_V = {v_read_H_V!r} V; allowed: > 0")
        return self.array.mtt_currents(unit, float(v_read_H_V), float(v_ref_G_V), float(v_drain_V))

    # -- resumability ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(self.array.state_dict())
        state["array_type"] = self.array_type
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("array_type", self.array_type) != self.array_type:
            raise ParameterError(f"state is for a {state.get('array_type')!r} array; this "
                                 f"backend has {self.array_type!r}")
        self.array.load_state_dict(state)
        super().load_state_dict(state)


_OPTION_KEYS = {"type", "array", "device", "rows", "cols", "seed", "faults", "scheme",
                "program_by"}


def make_sim_backend(options: Mapping[str, Any], clock: Clock | None = None) -> SimBackend:
    """SimBackend from a station's ``[backend]`` table.

    Keys: ``type = "sim"``, ``array`` ("h1e1t" | "1t1r"), ``device`` (card name), ``rows``,
    ``cols``, ``seed``, optional ``faults`` table and, for 1T1R, ``scheme`` ("V/2" | "V/3"),
    for H-1E1T, ``program_by`` ("rows" | "cols").
    """
    opts = dict(options)
    unknown = set(opts) - _OPTION_KEYS
    if unknown:
        raise ParameterError(f"unknown sim backend keys {sorted(unknown)}; allowed: "
                             f"{sorted(_OPTION_KEYS)}")
    if opts.get("type", "sim") != "sim":
        raise ParameterError(f"backend type {opts.get('type')!r}; make_sim_backend needs 'sim'")
    try:
        rows, cols = int(opts.get("rows", 8)), int(opts.get("cols", 8))
        seed = int(opts.get("seed", 0))
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"sim backend rows/cols/seed must be integers ({exc})") from None
    extra = {k: opts[k] for k in ("scheme", "program_by") if k in opts}
    return SimBackend(shape=(rows, cols), device=opts.get("device"),
                      array=str(opts.get("array", "h1e1t")), seed=seed,
                      faults=opts.get("faults"), clock=clock, **extra)
