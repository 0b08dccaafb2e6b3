"""1T1R RRAM array: word (WL, per row), bit (BL, per column) and source (SL, per row) lines.

Cell (i, j): RRAM between BL_j and the access transistor, whose gate is WL_i and whose other
end is SL_i.  With dV = BL_j - SL_i the transistor's source is the lower terminal, so
V_gs = WL_i - SL_i (set, dV > 0) or WL_i - BL_j (reset).  The RRAM voltage solves the series
circuit of the transistor and the cell's low-field conductance (`rram.series_cell_voltage`:
current-limited, triode or subthreshold, closed form), so it falls as the filament grows.
The transistor's saturation current I_cap is also the set compliance: levels follow from V_WL.
Lines: ``gate_rows`` = WL, ``select_cols`` = BL, ``source`` = SL (scalar or per row).

`program` (SimBackend.pulse_cells): row-wise, separate set and reset phases (Fig. S25a).
Selected row: WL on; set: SL = 0, BL = V on targets, V/2 (or V/3) on the others; reset:
SL = |V|, BL = 0 on targets, |V|/2 (or 2|V|/3) on the others.  Unselected rows: WL = 0 (off).
Half-selected row-mates therefore see V/2 or V/3, per the selectable scheme.
Drift (card ``[drift] model``): "reference" (REFERENCE §5, per-device correlated trajectory:
z_drift drawn once when a cell is programmed) or "none".
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from hil.backend import Lines
from hil.clock import Clock
from hil.errors import ParameterError
from sim_backends.arrays.base import SimArray, check_width, per_line
from sim_backends.devices import rram
from sim_backends.devices._card import get_card, num
from sim_backends.devices.drift import EmpiricalDrift, ReferenceDrift, drift_reference
from sim_backends.devices.faults import apply_read_faults
from sim_backends.devices.mtt import node_voltage, unit_current
from sim_backends.devices.transistor import TransistorParams, drain_current

SCHEMES = {"V/2": (0.5, 0.5), "V/3": (1.0 / 3.0, 2.0 / 3.0)}   # (set, reset) row-mate BL fraction
PROGRAMMED_DW = 1e-3     # |dw| above which a cell counts as re-programmed (drift clock restarts)
DAC_RESOLUTION_V = 1e-3


class RRAM1T1RArray(SimArray):
    """1T1R RRAM array with float32 filament state ``w`` (see module docstring)."""

    kind = "1t1r"

    def __init__(self, shape: Sequence[int], card: dict[str, Any] | str = "rram_hfox_1t1r",
                 seed: int = 0, clock: Clock | None = None,
                 faults: Mapping[str, Any] | None = None) -> None:
        card = get_card(card)
        if card.get("kind") != "rram":
            raise ParameterError(f"1T1R arrays need an RRAM card; {card.get('name')!r} is kind "
                                 f"{card.get('kind')!r}")
        super().__init__(shape, card, seed, clock, faults)
        self.params = rram.RramParams.from_card(card)
        arr = card.get("array", {})
        self.tr = TransistorParams.from_card(arr.get("transistor", "transistor_nmos_lvt"))
        self.v_wl_set_V = num(card, "array.v_wl_set_V")
        self.v_wl_reset_V = num(card, "array.v_wl_reset_V")
        self.scheme = "V/2"
        self.set_option("scheme", arr.get("scheme", "V/2"))
        m = card.get("mtt", {})
        self.ref = TransistorParams.from_card(m.get("reference", "transistor_nmos_lvt"))
        self.inf = TransistorParams.from_card(m.get("inference", "transistor_nmos_lvt"))
        self.v_read_V = num(card, "read.v_read_V")
        d = card.get("drift", {})
        self.drift_model = str(d.get("model", "none"))
        if self.drift_model not in ("none", "reference"):
            raise ParameterError(f"drift model {self.drift_model!r}; allowed: 'none', 'reference'")
        self.drift = (ReferenceDrift.from_card(d.get("reference_card", "drift_reference"))
                      if self.drift_model == "reference" else None)
        self.clip_uS = (float(d.get("clip_min_uS", 0.0)), float(d.get("clip_max_uS", 1e9)))
        p = self.params
        g = self._device_rng.standard_normal((2,) + self.shape, dtype=np.float32)
        s = np.float32(p.g_sigma)
        self.g_on_S = np.float32(p.g_on_S) * np.exp(s * g[0] - s * s / 2)
        self.g_off_S = np.float32(p.g_off_S) * np.exp(s * g[1] - s * s / 2)
        self.w = np.zeros(self.shape, dtype=np.float32)
        self.t_prog_s[:] = np.nan        # never programmed: no drift until the first set/reset
        self.z_drift = np.zeros(self.shape, dtype=np.float32)

    def use_drift(self, model: ReferenceDrift | EmpiricalDrift | None) -> None:
        """Replace the drift model: reference, empirical (built from measured data) or None."""
        if model is not None and not isinstance(model, (ReferenceDrift, EmpiricalDrift)):
            raise ParameterError(f"drift model {model!r}; allowed: ReferenceDrift, "
                                 "EmpiricalDrift or None")
        self.drift = model

    def set_option(self, key: str, value: Any) -> None:
        if key != "scheme":
            super().set_option(key, value)
        if value not in SCHEMES:
            raise ParameterError(f"1T1R scheme {value!r}; allowed: {', '.join(SCHEMES)}")
        self.scheme = str(value)

    # -- reading -------------------------------------------------------------------------------
    def conductance(self, rows: Any = None, cols: Any = None,
                    v_read_V: float | None = None) -> np.ndarray:
        """Noise- and drift-free read conductance I(w, V)/V (S)."""
        ix = self.ix(rows, cols)
        v = self.v_read_V if v_read_V is None else float(v_read_V)
        return rram.read_conductance(self.w[ix], v, self.g_on_S[ix], self.g_off_S[ix],
                                     self.params.v_nl_V)

    def read(self, rows: Any = None, cols: Any = None, v_read_V: float | None = None) -> np.ndarray:
        """Measured G_S (float64): conductance, drift since programming, read noise, faults."""
        v = self.v_read_V if v_read_V is None else float(v_read_V)
        if not 0 < abs(v) <= 0.5:
            raise ParameterError(f"RRAM read voltage {v_read_V!r} V; allowed: 0 < |V| <= 0.5 V")
        ix = self.ix(rows, cols)
        g = self.conductance(rows, cols, v)
        if isinstance(self.drift, ReferenceDrift):
            t = self.clock.now() - self.t_prog_s[ix]
            z_r = self.rng.standard_normal(g.shape, dtype=np.float32)
            g = 1e-6 * drift_reference(g * 1e6, t, self.drift, self.z_drift[ix], z_r, self.clip_uS)
        elif isinstance(self.drift, EmpiricalDrift):
            t = np.nan_to_num(self.clock.now() - self.t_prog_s[ix], nan=0.0)
            g = 1e-6 * np.clip(self.drift.apply(g * 1e6, t, self.z_drift[ix]), *self.clip_uS)
        else:
            p = self.params
            sigma = np.sqrt((p.read_rel_sigma * g) ** 2 + p.read_abs_sigma_S ** 2)
            g = g + sigma * self.rng.standard_normal(g.shape, dtype=np.float32)
        return apply_read_faults(g, self.faults, ix, self.g_on_S[ix].astype(np.float64),
                                 self.g_off_S[ix].astype(np.float64))

    # -- programming -----------------------------------------------------------------------------
    def _pulse(self, index: Any, wl: np.ndarray, bl: np.ndarray, sl: np.ndarray,
               width_s: float) -> None:
        """One pulse on the cells at ``index`` with broadcastable WL, BL, SL voltages."""
        f32 = np.float32
        w = self.w[index]
        g_on, g_off = self.g_on_S[index], self.g_off_S[index]
        wl, bl, sl = (np.asarray(a, dtype=f32) for a in (wl, bl, sl))
        dv = np.broadcast_to(bl - sl, w.shape)
        v_gs = np.where(dv >= 0, wl - sl, wl - bl)
        i_cap = np.abs(drain_current(v_gs, np.abs(dv), self.tr))
        v_cell = rram.series_cell_voltage(dv, v_gs, rram.filament_conductance(w, g_on, g_off),
                                          self.tr)
        if self.faults.any:
            v_cell = np.where(self.faults.dead_cells()[index], f32(0.0), v_cell)
        w_cc = rram.compliance_state(i_cap, g_on, g_off, self.params, self.rng)
        new = rram.update(w, v_cell, width_s, w_cc, self.params, self.rng)
        programmed = np.abs(new - w) > PROGRAMMED_DW
        self.w[index] = new
        if programmed.any():
            self.t_prog_s[index] = np.where(programmed, self.clock.now(), self.t_prog_s[index])
            z = self.rng.standard_normal(new.shape, dtype=np.float32)
            self.z_drift[index] = np.where(programmed, z, self.z_drift[index])

    def apply_lines(self, lines: Lines, width_s: float) -> int:
        width_s = check_width(width_s)
        rows, cols = self.shape
        wl = per_line(lines.gate_rows, rows, "gate_rows (WL)")[:, None]
        bl = per_line(lines.select_cols, cols, "select_cols (BL)")[None, :]
        sl = per_line(lines.source, rows, "source (SL)")[:, None]
        self._pulse((slice(None), slice(None)), wl, bl, sl, width_s)
        return 1

    def _row_phase(self, rows: np.ndarray, target: np.ndarray, level_V: float, is_set: bool,
                   width_s: float) -> None:
        index = (slice(None), slice(None)) if rows.size == self.shape[0] else (rows, slice(None))
        t = target[index]
        f_set, f_reset = SCHEMES[self.scheme]
        if is_set:
            wl, sl = self.v_wl_set_V, 0.0
            bl = np.where(t, level_V, f_set * level_V)
        else:
            wl, sl = self.v_wl_reset_V, level_V
            bl = np.where(t, 0.0, f_reset * level_V)
        self._pulse(index, np.float32(wl), bl.astype(np.float32), np.float32(sl), width_s)

    def program(self, mask: np.ndarray, amplitude_V: Any, width_s: float) -> int:
        """Row-wise set (amplitude > 0) / reset (< 0) phases; returns physical pulse count."""
        mask = self.check_mask(mask)
        width_s = check_width(width_s)
        code = np.rint(self.check_amplitude(amplitude_V) / DAC_RESOLUTION_V).astype(np.int64)
        code = np.where(mask, code, 0)
        n = 0
        for is_set in (True, False):
            sel = (code > 0) if is_set else (code < 0)
            if not sel.any():
                continue
            for level in np.flatnonzero(np.bincount(np.abs(code[sel]))):
                target = sel & (np.abs(code) == level)
                rows = np.flatnonzero(target.any(axis=1))
                self._row_phase(rows, target, level * DAC_RESOLUTION_V, is_set, width_s)
                n += rows.size
        return n

    # -- other measurements ------------------------------------------------------------------------
    def sweep(self, cell: tuple[int, int], v_V: np.ndarray,
              compliance_A: float) -> tuple[np.ndarray, float]:
        """Quasi-static I-V of one cell (card ``dc_sweep.dwell_s`` per point, WL fully on);
        the state moves.

        Returns (I_A clipped at the compliance, duration_s)."""
        r, c = int(cell[0]), int(cell[1])
        self.ix([r], [c])
        idx = (slice(r, r + 1), slice(c, c + 1))
        v = np.asarray(v_V, dtype=np.float64).ravel()
        out = np.empty(v.size)
        dwell = num(self.card, "dc_sweep.dwell_s", 1e-3)
        for k, vk in enumerate(v):
            self._pulse(idx, np.float32(self.v_wl_reset_V), np.float32(vk), np.float32(0.0), dwell)
            out[k] = rram.current(self.w[idx], vk, self.g_on_S[idx], self.g_off_S[idx],
                                  self.params.v_nl_V)[0, 0]
        if self.faults.dead_cells()[r, c]:
            out[:] = 0.0
        return np.clip(out, -abs(compliance_A), abs(compliance_A)), v.size * dwell

    def mtt_currents(self, unit: tuple[int, int] | None, v_read_H_V: float, v_ref_G_V: float,
                     v_drain_V: float) -> np.ndarray:
        """I_ts of RRAM-MTT units (columns 2k = G_A+, 2k+1 = G_A-); the nonlinear RRAM I-V
        enters the divider directly (Fig. 4h, Fig. S19f)."""
        rows, cols = self.shape
        if unit is None:
            index = (slice(None), slice(0, 2 * (cols // 2)))
        else:
            r, k = int(unit[0]), int(unit[1])
            if not (0 <= r < rows and 0 <= k < cols // 2):
                raise ParameterError(f"MTT unit {unit!r} outside rows 0..{rows - 1}, "
                                     f"units 0..{cols // 2 - 1}")
            index = (slice(r, r + 1), slice(2 * k, 2 * k + 2))
        w, g_on, g_off = self.w[index], self.g_on_S[index], self.g_off_S[index]
        nl = self.params.v_nl_V
        dtype = np.float32 if w.size >= 65536 else np.float64
        vn = node_voltage(lambda v: rram.current(w, v, g_on, g_off, nl), w.shape,
                          v_read_H_V, v_ref_G_V, self.ref, dtype)
        i = unit_current(vn[:, 0::2], vn[:, 1::2], v_drain_V, self.inf)
        return i if unit is None else np.asarray(i).reshape(())

    # -- resumability -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        s = super().state_dict()
        s["w"] = self.w.copy()
        s["z_drift"] = self.z_drift.copy()
        return s

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        for key in ("w", "z_drift"):
            a = np.asarray(state[key], dtype=np.float32)
            if a.shape != self.shape:
                raise ParameterError(f"state {key} has shape {a.shape}; expected {self.shape}")
            setattr(self, key, a.copy())
