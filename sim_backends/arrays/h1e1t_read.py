"""Conductance reads of an H-1E1T ECRAM array: whole or sub-array reads (one fused kernel
pass, `ecram_kernels.read`), the scalar single-cell path of spot measurements
(`cell_reader`), and where the array kernels take their normal draws (`_noise`).

A mixin of `sim_backends.arrays.h1e1t.H1E1TArray`, whose state (``x``, ``t_prog_s``, device
samples, read parameters, faults, random stream) these methods use.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

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
        """`read_cell` of the cell (row, col) as a function of ``v_read_V``, the cell
        validated now: the scalar single-cell path of the emulated lab's spot measurements
        (`emulators.bench.Bench`).  Each call reads the state, parameters, clock and random
        stream as they are then (nothing is cached that a pulse, a `load_state_dict` or new
        ``params`` could change); the cell's fault (fixed with the array) is looked up now."""
        r, c = self.cell_index(row, col)
        read_one = ecram_kernels.read_one
        fm = self.faults
        # the fault map is built with the array and fixed (`FaultMap.any`): this cell's fault
        fault = None if not fm.any else "dead" if fm.dead_rows[r] or fm.dead_cols[c] else \
            "on" if fm.stuck_on[r, c] else "off" if fm.stuck_off[r, c] else None

        def read(v_read_V: float | None = None) -> float:
            _check_v_read(self.v_read_V if v_read_V is None else v_read_V)
            p, x, t, dev = self.params, self.x, self.t_prog_s, self.dev
            k = self._read_consts   # (params, state buffers, devices, kernel constants, entry)
            if k is None or k[0] is not p or k[1] is not x or k[2] is not t or k[3] is not dev:
                k = self._read_consts = (p, x, t, dev, dev.nu, dev.g_on_S, dev.floor,
                                         np.float32(p.tau_s), np.float32(p.read_rel_sigma),
                                         np.float32(p.read_abs_sigma_S), None)
            # one normal draw from 64 bits of the stream, as `read` of one cell draws it; the
            # kernel uses their low 32-bit word, passed as a plain int (a numpy uint64 scalar
            # costs more than the kernel on a spot query)
            raw, now = self.rng.bit_generator.random_raw() & 0xFFFFFFFF, float(self.clock.now())
            if k[10] is not None:   # the kernel compiled for exactly these argument types
                g = k[10](x, t, k[4], k[5], k[6], r, c, raw, now, k[7], k[8], k[9])
            else:                   # first read of these buffers: through numba's dispatch
                args = (x, t, k[4], k[5], k[6], r, c, raw, now, k[7], k[8], k[9])
                g = read_one(*args)
                self._read_consts = k[:10] + (compiled_entry(read_one, *args),)
            if fault is None:
                return g
            if fault == "dead":
                return 0.0
            g_on = float(dev.g_on_S[r, c])
            return g_on if fault == "on" else g_on * float(dev.floor[r, c])
        return read

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
