"""Machinery shared by the simulated arrays: shape, RNG, clock, faults, index handling.

An array owns its mutable state (device states, time each cell was last programmed, the
numpy Generator) and exposes it through `state_dict`/`load_state_dict` so that a resumed
run continues bit-identically.  Device-to-device parameters and fault maps are *not* in the
state: they are redrawn from (seed, shape, card, faults), which the state records and checks.
"""
from __future__ import annotations

import operator
from functools import partial
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from hil.backend import line_index
from hil.clock import Clock, VirtualClock
from hil.errors import ParameterError
from sim_backends.devices._card import get_card
from sim_backends.devices.normals import standard_normal
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


#: arrays of at least this many cells make the process keep freed memory (`keep_freed_memory`)
BIG_ARRAY_CELLS = 1 << 20
_KEPT = False


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory in the process (once; glibc only, else a no-op).

    Array-scale work allocates and frees tens of MB per round (protocol masks, amplitude
    maps, HDF5 buffers); above the default mmap threshold each such block is a fresh mmap
    whose pages fault in and are unmapped again on free, which made ~25 % of a 4 Mb
    write-verify run system time.  A 256 MB mmap threshold and a 1 GB trim threshold let
    those blocks be reused from the heap instead.  One arena (M_ARENA_MAX = 1): the kernel
    threads (`hil.threads`) would otherwise get arenas of their own, whose freed blocks go
    back to the OS (-25 % system time at 4 Mb); set before those threads exist.  Safe:
    only allocation placement changes (memory stays reusable by the process; RSS keeps the
    high-water mark).  Returns whether the setting was applied."""
    global _KEPT
    if _KEPT:
        return True
    import ctypes
    import ctypes.util
    import sys
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False       # not glibc (e.g. musl): leave the allocator alone
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
    _KEPT = (bool(mallopt(M_MMAP_THRESHOLD, 256 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 1 << 30))
             and bool(mallopt(M_ARENA_MAX, 1)))
    return _KEPT


class Scratch:
    """Reused work buffers of one array (4 Mb phases would otherwise allocate and free tens
    of MB per call, which the allocator returns to the OS each time: page faults, sys time)."""

    def __init__(self) -> None:
        self._normal = np.empty(0, np.float32)

    def normal(self, rng: np.random.Generator | None, shape: tuple[int, int]) -> np.ndarray:
        """A float32 ``shape`` view of the normal buffer filled with standard normal draws
        from ``rng``'s bit stream (`normals.standard_normal`: inverse-CDF, about 2x cheaper
        than ``rng.standard_normal``, deterministic from the Generator state, so a resumed
        run draws the same); ``rng`` None: zeros (no noise).  Valid until the next call."""
        n = int(shape[0]) * int(shape[1])
        if self._normal.size < n:
            self._normal = np.empty(n, np.float32)
        z = self._normal[:n].reshape(shape)
        if rng is not None:
            standard_normal(rng, z)
        else:
            z.fill(0.0)
        return z


def compiled_entry(kernel: Any, *args: Any) -> Callable[..., Any]:
    """The compiled function that the numba ``kernel`` runs for arguments typed like
    ``args`` (``Dispatcher.get_overload``): calling it skips numba's per-call type dispatch
    (a large part of a one-cell kernel call), so the caller must keep passing arguments of
    those types (dtypes, dimensions, layouts).  ``kernel`` itself where it is no numba
    dispatcher or has not been compiled for those types."""
    try:
        return kernel.get_overload(tuple(kernel.typeof_pyval(a) for a in args))
    except (AttributeError, KeyError):
        return kernel


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
        self.scratch = Scratch()
        if self.shape[0] * self.shape[1] >= BIG_ARRAY_CELLS:
            keep_freed_memory()
        self._all_rows = np.arange(self.shape[0], dtype=np.int64)
        self._all_cols = np.arange(self.shape[1], dtype=np.int64)

    # -- helpers ---------------------------------------------------------------------------
    def ix(self, rows: Any = None, cols: Any = None) -> tuple[Any, Any]:
        """Index of a rows x cols sub-array (validated): slices for the whole array (views,
        no copies), else an np.ix_ tuple."""
        if rows is None and cols is None:
            return (slice(None), slice(None))
        return np.ix_(line_index(rows, self.shape[0], "rows"),
                      line_index(cols, self.shape[1], "cols"))

    def lines(self, rows: Any = None, cols: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Validated int64 row and column indices of a rows x cols sub-array (None: all)."""
        ri = self._all_rows if rows is None else \
            line_index(rows, self.shape[0], "rows").astype(np.int64, copy=False)
        ci = self._all_cols if cols is None else \
            line_index(cols, self.shape[1], "cols").astype(np.int64, copy=False)
        return ri, ci

    def cell_index(self, row: Any, col: Any) -> tuple[int, int]:
        """(row, col) of one cell as ints, validated once (the single-cell read path)."""
        try:
            r, c = operator.index(row), operator.index(col)
        except TypeError:
            raise ParameterError(f"cell ({row!r}, {col!r}) must be integer indices") from None
        if not (0 <= r < self.shape[0] and 0 <= c < self.shape[1]):
            raise ParameterError(f"cell ({r}, {c}) outside rows 0..{self.shape[0] - 1}, "
                                 f"cols 0..{self.shape[1] - 1}")
        return r, c

    def read_cell(self, row: int, col: int, v_read_V: float | None = None) -> float:
        """`read` of one cell as a float (the same value and random draw as
        ``read([row], [col], v_read_V)[0, 0]``); arrays override it with a scalar path."""
        r, c = self.cell_index(row, col)
        return float(self.read(self._all_rows[r:r + 1], self._all_cols[c:c + 1], v_read_V)[0, 0])

    def cell_reader(self, row: int, col: int) -> Callable[[float | None], float]:
        """``read_cell(row, col, v_read_V)`` as a function of ``v_read_V``, the cell validated
        now (a spot measurement repeated on one cell, `emulators.bench.Bench`); the function
        reads the array's state at each call.  Arrays with a scalar path override it."""
        r, c = self.cell_index(row, col)
        return partial(self.read_cell, r, c)

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
        if amp.ndim == 2 and amp.size and amp.flags.c_contiguous:   # a per-cell map: one parallel pass
            from hil.plan_kernel import all_finite
            finite = all_finite(amp)
        else:
            finite = bool(np.all(np.isfinite(amp)))
        if not finite:
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
