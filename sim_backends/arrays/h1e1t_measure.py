"""Measurements of an H-1E1T ECRAM array besides conductance reads: the DC gate sweep of one
cell (transfer curve, MTT Fig. 3a) and the MTT unit readout (MTT §2.3, Fig. 5e).

A mixin of `sim_backends.arrays.h1e1t.H1E1TArray`, whose state (``x``, ``t_prog_s``, device
samples, transistor parameters) these methods use; kept apart so that file holds the
state-to-conductance and programming physics only.
"""
from __future__ import annotations

import numpy as np

from hil.errors import ParameterError
from sim_backends.devices import ecram
from sim_backends.devices.mtt import mtt_current_linear


class H1E1TMeasurements:
    """`sweep` and `mtt_currents` of `H1E1TArray`."""

    x: np.ndarray
    t_prog_s: np.ndarray
    _t_prog_uniform: float | None

    def sweep(self, cell: tuple[int, int], v_V: np.ndarray,
              compliance_A: float) -> tuple[np.ndarray, float]:
        """DC gate sweep of one cell (dwell from the card per point); drain current at the
        read bias after each point (transfer curve, Fig. 3a).  The state moves.

        Returns (I_A, duration_s)."""
        r, c = (int(cell[0]), int(cell[1]))
        self.ix([r], [c])
        v = np.asarray(v_V, dtype=np.float32).ravel()
        if not np.all(np.isfinite(v)):
            raise ParameterError("iv_sweep voltages must be finite")
        dev = self.dev.take((slice(r, r + 1), slice(c, c + 1)))
        x = self._x_now((slice(r, r + 1), slice(c, c + 1)))
        out = np.empty(v.size)
        for k, vk in enumerate(v):
            x = ecram.update(x, np.float32(vk), self.dc_dwell_s, dev, self.params, self.rng)
            g = float(ecram.conductance(x, dev)[0, 0])
            out[k] = g * self.v_read_V
        if self.faults.dead_cells()[r, c]:
            out[:] = 0.0
        self.x[r, c] = x[0, 0]
        self.t_prog_s[r, c] = self.clock.now() + v.size * self.dc_dwell_s
        self._t_prog_uniform = None
        return np.clip(out, -abs(compliance_A), abs(compliance_A)), v.size * self.dc_dwell_s

    def mtt_currents(self, unit: tuple[int, int] | None, v_read_H_V: float, v_ref_G_V: float,
                     v_drain_V: float) -> np.ndarray:
        """I_ts of MTT units: unit (r, k) = columns 2k (G_A+) and 2k+1 (G_A-) of row r.

        The selector acts as the reference transistor (TG at V_ref_G), V_read_H drives the
        ES side, ED is grounded; conductances include read noise (MTT §2.3, Fig. 5e)."""
        rows, cols = self.shape
        if cols < 2:
            raise ParameterError("MTT units need at least 2 columns")
        if unit is None:
            n2 = 2 * (cols // 2)
            g = self.read(None, np.arange(n2))
            gp, gm = g[:, 0::2], g[:, 1::2]
            ip, im = (slice(None), slice(0, n2, 2)), (slice(None), slice(1, n2, 2))
        else:
            r, k = int(unit[0]), int(unit[1])
            if not (0 <= r < rows and 0 <= k < cols // 2):
                raise ParameterError(f"MTT unit {unit!r} outside rows 0..{rows - 1}, "
                                     f"units 0..{cols // 2 - 1}")
            g = self.read([r], [2 * k, 2 * k + 1])
            gp, gm = g[:, 0], g[:, 1]
            ip, im = (slice(r, r + 1), 2 * k), (slice(r, r + 1), 2 * k + 1)
        i = mtt_current_linear(gp, gm, v_read_H_V, v_ref_G_V, v_drain_V, self.ref, self.inf,
                               (self.ref_beta_rel[ip], self.ref_beta_rel[im]),
                               (self.inf_dvt_V[ip], self.inf_dvt_V[im]))
        return i if unit is None else np.asarray(i).reshape(())
