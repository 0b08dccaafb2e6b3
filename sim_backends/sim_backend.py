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

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from hil.backend import Backend, Cell, Lines
from hil.cards import load_card
from hil.clock import Clock, VirtualClock
from hil.errors import ParameterError

ARRAY_TYPES = ("h1e1t", "1t1r")   # bundled array types; the registry is hil.families
_DEFAULT_DEVICE = {"h1e1t": "ecram_wox_lipon", "1t1r": "rram_hfox_1t1r"}


def _make_array(array: str | None, shape: tuple[int, int], card: dict[str, Any], seed: int,
                clock: Clock, faults: Mapping[str, Any] | None) -> Any:
    """The array of the card's device family (`hil.families`); ``array`` must match it."""
    from hil.families import family_of

    fam = family_of(card)
    if array is not None and array != fam.array:
        raise ParameterError(f"array type {array!r} does not fit device {card.get('name')!r} "
                             f"(kind {fam.kind!r}: a {fam.array!r} array)")
    return fam.array_class(shape, card, seed=seed, clock=clock, faults=faults)


class SimBackend(Backend):
    """Simulated array backend (virtual clock by default; seeded and reproducible)."""

    kind = "sim"

    def __init__(self, shape: Sequence[int] = (8, 8), device: str | dict[str, Any] | None = None,
                 array: str | None = None, seed: int = 0,
                 faults: Mapping[str, Any] | None = None, clock: Clock | None = None,
                 **array_options: Any) -> None:
        if device is None:     # an array type alone names its bundled default device
            if array is not None and array not in _DEFAULT_DEVICE:
                from hil.families import family_of_array
                family_of_array(array)   # unknown array type: the registry's error
                raise ParameterError(f"array type {array!r} has no default device; name one")
            device = _DEFAULT_DEVICE[array or "h1e1t"]
        self._clock = clock if clock is not None else VirtualClock()
        self._card = load_card(device) if isinstance(device, str) else dict(device)
        self.seed = int(seed)
        self.array = _make_array(array, tuple(shape), self._card, self.seed, self._clock, faults)
        self.array_type = self.array.kind
        for key, value in array_options.items():
            self.array.set_option(key, value)
        self._pulses = 0  # physical pulses applied (the emulated device's own counter)

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

    def read_cell(self, row: int, col: int, v_read_V: float | None = None) -> float:
        """G_S of one cell as a float: ``read([row], [col], v_read_V)[0, 0]`` without the
        index arrays (single-cell spot measurements of the emulated lab)."""
        return self.array.read_cell(row, col, v_read_V)

    def cell_reader(self, row: int, col: int) -> Callable[[float | None], float]:
        """`read_cell` of one cell as a function of ``v_read_V``, the cell validated once
        (the array's `cell_reader`: repeated spot measurements of the emulated lab)."""
        return self.array.cell_reader(row, col)

    def apply_pulse(self, lines: Lines, width_s: float) -> None:
        n = self.array.apply_lines(lines, width_s)
        self._pulses += int(n)
        self._clock.advance(n * float(width_s))

    def pulse_cells(self, mask: np.ndarray, amplitude_V: float | np.ndarray,
                    width_s: float) -> Any:
        """Program with the array's scheme; returns the `hil.plan.PulsePlan` applied."""
        t0 = self._clock.now()
        plan = self.array.program(mask, amplitude_V, width_s)
        self._pulses += int(getattr(plan, "n_pulses", plan))
        advance_by_plan(self._clock, plan, t0)
        return plan

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

    #: the simulated device's counter is part of its state: restored with it on resume
    pulse_counter_persists = True

    def pulse_count(self) -> int:
        """Physical pulses applied to the simulated array (the scheme's pulses, not calls)."""
        return self._pulses

    # -- resumability ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(self.array.state_dict())
        state["array_type"] = self.array_type
        state["pulse_count"] = self._pulses
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("array_type", self.array_type) != self.array_type:
            raise ParameterError(f"state is for a {state.get('array_type')!r} array; this "
                                 f"backend has {self.array_type!r}")
        self.array.load_state_dict(state)
        self._pulses = int(state.get("pulse_count", 0))
        super().load_state_dict(state)


def advance_by_plan(clock: Clock, plan: Any, t0_s: float) -> None:
    """Move a virtual clock to the end of ``plan`` started at ``t0_s``, accumulated pulse by
    pulse (bit-identical to a clock advanced once per physical pulse, as on a bench)."""
    if getattr(clock, "virtual", False):
        clock.set(plan.end_time(t0_s))
    else:
        clock.advance(plan.duration_s)


def make_sim_backend(options: Any, clock: Clock | None = None) -> SimBackend:
    """SimBackend from a typed station config (`hil.station_config.BackendConfig`, as
    `hil.station.Station.make_backend` passes) or a ``[backend]`` table (checked the same way).

    Keys: ``type = "sim"``, ``device`` (card name), ``array`` (optional: the card family's
    array type), ``rows``, ``cols``, ``seed``, optional ``faults`` table and the family's options
    (1T1R ``scheme`` "V/2" | "V/3", H-1E1T ``program_by`` "rows" | "cols").
    """
    from hil.errors import HilError
    from hil.station_config import BackendConfig, parse_station

    if not isinstance(options, BackendConfig):
        opts = dict(options)
        if opts.get("type", "sim") != "sim":
            raise ParameterError(f"backend type {opts.get('type')!r}; make_sim_backend needs 'sim'")
        known = ("type", "array", "device", "rows", "cols", "seed", "faults", "scheme", "program_by")
        unknown = sorted(set(opts) - set(known))
        if unknown:
            raise ParameterError(f"unknown sim backend keys {unknown}; allowed: {sorted(known)}")
        if "device" not in opts and "array" in opts:   # an array type names its default device
            if opts["array"] not in _DEFAULT_DEVICE:
                from hil.families import family_of_array
                family_of_array(str(opts["array"]))
                raise ParameterError(f"array type {opts['array']!r} has no default device; name one")
            opts["device"] = _DEFAULT_DEVICE[opts["array"]]
        try:
            options = parse_station({"backend": {**opts, "type": "sim"}}, "sim backend").backend
        except HilError as exc:
            raise ParameterError(str(exc)) from None
    cfg = options
    return SimBackend(shape=cfg.shape, device=cfg.device, array=cfg.array, seed=cfg.seed,
                      faults=cfg.faults, clock=clock, **dict(cfg.array_options))
