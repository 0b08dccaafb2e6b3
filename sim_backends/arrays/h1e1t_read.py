"""Conductance reads of an H-1E1T ECRAM array: whole or sub-array reads (one fused kernel
pass, `ecram_kernels.read`), the scalar single-cell path of spot measurements
(`cell_reader`), and where the array kernels take their normal draws (`_noise`).

A mixin of `sim_backends.arrays.h1e1t.H1E1TArray`, whose state (``x``, ``t_prog_s``, device
samples, read parameters, faults, random stream) these methods use.
"""
from __future__ import annotations

import ctypes
from contextlib import nullcontext
from functools import partial
from typing import Any, Callable

import numpy as np
from numba import types

from hil.errors import ParameterError
from sim_backends.arrays.base import compiled_entry
from sim_backends.devices import ecram_kernels
from sim_backends.devices.faults import apply_read_faults
from sim_backends.devices.normals import pcg64_reserve


def _check_v_read(v_read_V: Any) -> None:
    """ParameterError unless 0 < |v_read_V| <= 1 V (an ECRAM read: drain bias, gate grounded)."""
    if not 0 < abs(float(v_read_V)) <= 1.0:
        raise ParameterError(f"ECRAM read voltage {v_read_V!r} V; allowed: 0 < |V| <= 1 V "
                             "(drain bias, gate grounded)")


#: the lock of a kernel that draws through ``random_raw`` (which locks by itself)
_NO_LOCK = nullcontext()
#: dtypes of x, t_prog_s, nu, g_on_S and floor that `ecram_kernels.read_one_at` reads
_CELL_DTYPES = [np.dtype(np.float32), np.dtype(np.float64)] + [np.dtype(np.float32)] * 3


def pcg64_words(bg: Any) -> np.ndarray | None:
    """The LCG state and increment of numpy's PCG64 bit generator ``bg`` as a writable
    uint64 view [state low, state high, increment low, increment high] of its own memory
    (`ecram_kernels.read_one_at` steps it in place, drawing as ``random_raw`` does without
    its per-call overhead; the view does not keep ``bg`` alive: keep it with ``bg``).  None
    unless ``bg`` is a PCG64 whose memory holds its ``state`` in exactly that layout
    (128-bit integers, little endian: numpy's build on 64-bit platforms), checked here."""
    if type(bg) is not np.random.PCG64:
        return None
    try:   # the bit generator's state struct starts with the pointer to its LCG state
        lcg_addr = ctypes.c_void_p.from_address(bg.ctypes.state_address).value
        words = np.ctypeslib.as_array((ctypes.c_uint64 * 4).from_address(lcg_addr))
    except (AttributeError, TypeError, ValueError):
        return None
    lcg = bg.state["state"]
    if (int(words[1]) << 64 | int(words[0])) != lcg["state"] \
            or (int(words[3]) << 64 | int(words[2])) != lcg["inc"]:
        return None
    return words


def _read_one_raw(bg: Any, cell: tuple[Any, ...], now_s: float) -> float:
    """`ecram_kernels.read_one` with a ``random_raw`` draw from ``bg`` (a bit generator
    whose state `pcg64_words` cannot reach, or arrays of other dtypes); ``cell``: (x,
    t_prog, nu, g_on, floor, r, c, tau_s, rel_sigma, abs_sigma)."""
    x, t_prog, nu, g_on, floor, r, c, tau_s, rel_sigma, abs_sigma = cell
    raw = bg.random_raw() & 0xFFFFFFFF
    return float(ecram_kernels.read_one(x, t_prog, nu, g_on, floor, r, c, raw, now_s,
                                        np.float32(tau_s), np.float32(rel_sigma),
                                        np.float32(abs_sigma)))


class H1E1TReads:
    """`read`, `read_cell`, `cell_reader` and the kernels' noise source of `H1E1TArray`."""

    #: the pulse and bulk-read kernels draw their normal numbers themselves where they can
    #: (`_noise`); False: always through `scratch.normal` (tests substitute draws there)
    kernel_noise = True
    _read_consts: tuple[Any, ...] | None

    def read(self, rows: Any = None, cols: Any = None, v_read_V: float | None = None) -> np.ndarray:
        """Measured G_S (float64): conductance + read noise, faults applied (one fused pass,
        `ecram_kernels.read`; a single cell takes `read_cell`'s scalar path)."""
        _check_v_read(self.v_read_V if v_read_V is None else v_read_V)
        ri, ci = self.lines(rows, cols)
        out = np.empty((ri.size, ci.size))
        all_cols = ci is self._all_cols
        noise = self._noise(self.rng, (ri.size, ci.size), all_cols)
        p = self.params
        ecram_kernels.read(self.x, self.t_prog_s, self.dev.nu, self.dev.g_on_S, self.dev.floor,
                           ri, ci, all_cols, *noise, float(self.clock.now()), np.float32(p.tau_s),
                           np.float32(p.read_rel_sigma), np.float32(p.read_abs_sigma_S), out)
        if not self.faults.any:
            return out
        ix = np.ix_(ri, ci)
        g_on = self.dev.g_on_S[ix].astype(np.float64)
        return apply_read_faults(out, self.faults, ix, g_on, g_on * self.dev.floor[ix])

    def read_cell(self, row: int, col: int, v_read_V: float | None = None) -> float:
        """`read` of the one cell (row, col) as a float: the same value and random draw as
        ``read([row], [col], v_read_V)[0, 0]``, without the index arrays (`cell_reader`)."""
        return self.cell_reader(row, col)(v_read_V)

    def cell_reader(self, row: int, col: int) -> Callable[[float | None], float]:
        """`read_cell` of the cell (r, c) as a function of ``v_read_V``, the cell
        validated now: the scalar single-cell path of the emulated lab's spot measurements
        (`emulators.bench.Bench`).  Each call reads the state, parameters, clock and random
        stream as they are then (nothing is cached that a pulse, a `load_state_dict` or new
        ``params`` could change); the cell's fault (fixed with the array) is looked up now.
        The kernel (`_cell_kernel`) takes its normal draw from the generator itself."""
        r, c = self.cell_index(row, col)
        fm = self.faults
        # the fault map is built with the array and fixed (`FaultMap.any`): this cell's fault
        fault = None if not fm.any else "dead" if fm.dead_rows[r] or fm.dead_cols[c] else \
            "on" if fm.stuck_on[r, c] else "off" if fm.stuck_off[r, c] else None
        kept: list[tuple[Any, ...] | None] = [None]

        def read(v_read_V: float | None = None) -> float:
            v = self.v_read_V if v_read_V is None else v_read_V
            if v.__class__ is not float or not -1.0 <= v <= 1.0 or v == 0.0:
                _check_v_read(v)   # raises, or accepts what float() makes valid
            x, t = self.x, self.t_prog_s
            k = kept[0]   # the cell's kernel for the present state (`_cell_kernel`)
            if k is None or k[0] is not self.params or k[1] is not x or k[2] is not t \
                    or k[3] is not self.dev or k[4] is not self.rng:
                k = kept[0] = self._cell_kernel(r, c)
            now = self.clock.now()
            with k[5]:   # the generator's lock, which ``random_raw`` takes too
                g = k[6](k[7], now if now.__class__ is float else float(now))
            if fault is None:
                return g
            if fault == "dead":
                return 0.0
            g_on = float(k[3].g_on_S[r, c])
            return g_on if fault == "on" else g_on * float(k[3].floor[r, c])
        return read

    def _cell_kernel(self, r: int, c: int) -> tuple[Any, ...]:
        """`cell_reader`'s kernel for the cell (r, c) under the present parameters, state
        buffers, devices and generator: (params, x, t_prog_s, dev, rng, the generator's lock,
        kernel, its cell argument, what that argument points into).  The kernel is
        `ecram_kernels.read_one_at`, its cell argument the address of the cell's block
        (element addresses, the generator's own PCG64 state, `pcg64_words`, and the
        constants: nothing to unbox per call), as the compiled entry (`compiled_entry`: no
        numba type dispatch); `_read_one_raw` (the arrays and a ``random_raw`` draw) where
        the generator is no PCG64 or an array has another dtype.  What all cells share is
        kept in ``_read_consts``."""
        p, dev, rng, x, t = self.params, self.dev, self.rng, self.x, self.t_prog_s
        arrays = (x, t, dev.nu, dev.g_on_S, dev.floor)
        k = self._read_consts
        if k is None or k[0] is not p or k[1] is not x or k[2] is not t or k[3] is not dev \
                or k[4] is not rng:
            k = self._read_consts = (p, x, t, dev, rng, *self._kernel(rng, arrays))
        lock, kernel, consts, words = k[5:]
        if words is None:
            return (*k[:5], lock, kernel, (*arrays, r, c, *consts), arrays)
        block = np.empty(ecram_kernels.CELL_WORDS, np.int64)   # element addresses; ``arrays``
        block[:5] = [a.ctypes.data + r * a.strides[0] + c * a.strides[1] for a in arrays]
        block[5] = words.ctypes.data                         # (kept below) keeps them valid
        block[6:].view(np.float64)[:] = consts
        return (*k[:5], lock, kernel, block.ctypes.data, (arrays, words, block))

    def _kernel(self, rng: np.random.Generator, arrays: tuple[np.ndarray, ...]
                ) -> tuple[Any, Callable[..., float], tuple[float, float, float], Any]:
        """(lock, kernel, float constants, PCG64 words or None) of `_cell_kernel`."""
        p, bg = self.params, rng.bit_generator
        consts = (float(np.float32(p.tau_s)), float(np.float32(p.read_rel_sigma)),
                  float(np.float32(p.read_abs_sigma_S)))
        words = pcg64_words(bg)
        if words is None or [a.dtype for a in arrays] != _CELL_DTYPES:
            # ``random_raw`` takes the generator's lock itself
            return _NO_LOCK, partial(_read_one_raw, bg), consts, None
        ecram_kernels.read_one_at.compile((types.int64, types.float64))   # (or its cache)
        return bg.lock, compiled_entry(ecram_kernels.read_one_at, 0, 0.0), consts, words

    def _noise(self, rng: np.random.Generator | None, shape: tuple[int, int], in_kernel: bool
               ) -> tuple[int, np.ndarray, np.ndarray]:
        """The (noise, z, pcg) arguments of an `ecram_kernels` call that takes ``shape``
        standard normal draws from ``rng`` (None: no noise), row by row: drawn in the kernel
        (``in_kernel``, `kernel_noise`, a PCG64 generator and an even row length: no buffer,
        no separate pass), else through `Scratch.normal`; the same values either way."""
        if rng is None:
            return ecram_kernels.NOISE_NONE, ecram_kernels.NO_Z, ecram_kernels.NO_PCG
        if in_kernel and self.kernel_noise and shape[1] % 2 == 0:
            pcg = pcg64_reserve(rng, shape[0] * shape[1])
            if pcg is not None:
                return ecram_kernels.NOISE_PCG, ecram_kernels.NO_Z, pcg
        return ecram_kernels.NOISE_ARRAY, self.scratch.normal(rng, shape), ecram_kernels.NO_PCG
