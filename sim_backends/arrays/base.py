"""Machinery shared by the simulated arrays: shape, RNG, clock, faults, index handling.

An array owns its mutable state (device states, time each cell was last programmed, the
numpy Generator) and exposes it through `state_dict`/`load_state_dict` so that a resumed
run continues bit-identically.  Device-to-device parameters and fault maps are *not* in the
state: they are redrawn from (seed, shape, card, faults), which the state records and checks.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from hil.backend import line_index
from hil.clock import Clock, VirtualClock
from hil.errors import ParameterError
from sim_backends.devices._card import get_card
from sim_backends.devices.faults import FaultMap, build_faults

MAX_CELLS = 8192 * 8192


def check_shape(shape: Sequence[int]) -> tuple[int, int]:
    """Validate (rows, cols)."""
    try:
        rows, cols = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise ParameterError(f"array shape {shape!r} must be (rows, cols)") from None
    if rows < 1 or cols < 1 or rows * cols > MAX_CELLS:
        raise ParameterError(f"array shape {(rows, cols)} not allowed; rows, cols >= 1 and "
                             f"rows*cols <= {MAX_CELLS}")
    return rows, cols


def per_line(value: Any, n: int, what: str) -> np.ndarray:
    """A scalar or one value per line -> float32 array of length n."""
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim == 0:
        return np.full(n, arr, dtype=np.float32)
    if arr.shape != (n,):
        raise ParameterError(f"{what}: {arr.shape[0] if arr.ndim == 1 else arr.shape} values "
                             f"given; expected a scalar or {n}")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{what}: voltages must be finite")
    return arr


class SimArray:
    """Base class: shape, seeded RNG, clock, faults and per-cell programming time."""

    kind = "abstract"
    #: the device-card ``kind`` this array type is built from, and the device it names
    card_kind = ""
    device_name = ""

    def __init__(self, shape: Sequence[int], card: dict[str, Any] | str, seed: int = 0,
                 clock: Clock | None = None, faults: Mapping[str, Any] | None = None) -> None:
        card = get_card(card)
        if self.card_kind and card.get("kind") != self.card_kind:
            raise ParameterError(f"{self.kind} arrays need {self.device_name} card; "
                                 f"{card.get('name')!r} is kind {card.get('kind')!r}")
        self.shape = check_shape(shape)
        self.card = card
        self.seed = int(seed)
        self.clock: Clock = clock if clock is not None else VirtualClock()
        self.faults: FaultMap = build_faults(faults, self.shape, self.seed)
        self._device_rng = np.random.default_rng([self.seed, 0xDE71CE])
        self.rng = np.random.default_rng(self.seed)
        #: clock time (s) at which each cell was last programmed (drift / retention origin)
        self.t_prog_s = np.zeros(self.shape, dtype=np.float64)

    # -- helpers ---------------------------------------------------------------------------
    def ix(self, rows: Any = None, cols: Any = None) -> tuple[Any, Any]:
        """Index of a rows x cols sub-array (validated): slices for the whole array (views,
        no copies), else an np.ix_ tuple."""
        if rows is None and cols is None:
            return (slice(None), slice(None))
        return np.ix_(line_index(rows, self.shape[0], "rows"),
                      line_index(cols, self.shape[1], "cols"))

    def check_mask(self, mask: np.ndarray) -> np.ndarray:
        m = np.asarray(mask)
        if m.shape != self.shape or m.dtype != bool:
            raise ParameterError(f"mask must be a bool array of shape {self.shape}; got "
                                 f"{m.dtype} {m.shape}")
        return m

    def check_amplitude(self, amplitude_V: Any) -> np.ndarray:
        try:
            amp = np.broadcast_to(np.asarray(amplitude_V, dtype=np.float64), self.shape)
        except ValueError:
            raise ParameterError(f"amplitude_V of shape {np.shape(amplitude_V)} does not "
                                 f"broadcast to {self.shape}") from None
        if not np.all(np.isfinite(amp)):
            raise ParameterError("amplitude_V must be finite")
        return amp

    def set_option(self, key: str, value: Any) -> None:
        """Array-type specific option (e.g. the 1T1R selection scheme)."""
        raise ParameterError(f"{self.kind} arrays have no option {key!r}")

    # -- resumability ------------------------------------------------------------------------
    def _identity(self) -> dict[str, Any]:
        return {"kind": self.kind, "seed": self.seed, "rows": self.shape[0],
                "cols": self.shape[1], "device": str(self.card.get("name", ""))}

    def state_dict(self) -> dict[str, Any]:
        """Mutable state: numpy arrays and JSON-able values only."""
        return {"array": self._identity(), "t_prog_s": self.t_prog_s.copy(),
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        ident = dict(state["array"])
        mine = self._identity()
        if {k: ident.get(k) for k in mine} != mine:
            raise ParameterError(f"state was saved from array {ident}, cannot load into {mine}")
        t = np.asarray(state["t_prog_s"], dtype=np.float64)
        if t.shape != self.shape:
            raise ParameterError(f"t_prog_s has shape {t.shape}; expected {self.shape}")
        self.t_prog_s = t.copy()
        self.rng.bit_generator.state = dict(state["rng"])
