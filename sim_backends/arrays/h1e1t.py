"""H-1E1T ECRAM array: EG, ED, ES, TG lines -> effective gate-channel voltage -> update.

Wiring (MTT §2.3, Table S2, Fig. 5a): each cell is an ECRAM whose drain is reached from the
ED line through a selector nMOS (gate on the TG line); its source is on the ES line.
Lines: ``gate_rows`` = EG per row, ``drain`` = ED per row (or scalar), ``select_cols`` = TG
per column, ``source`` = ES per column (or scalar).

Effective voltage of cell (i, j):  the selector (V_gs = TG_j - min(ED_i, ES_j)) and the
ECRAM channel form a divider between ED_i and ES_j, so the drain node is
    V_node = min((G_sel ED_i + G_e ES_j) / (G_sel + G_e), TG_j - V_T),  V_gc = EG_i - V_node
(TG - V_T: the nMOS source-follower ceiling; the gate-channel field is set by the drain-node
potential, the paper's approximation).
Selector on (TG = V_SS) -> V_node ~ V_D; off (TG = 0) -> V_node ~ 0.  Half-select disturb
(V_P - V_D) and the absence of change at 0 V therefore follow from the line voltages.

`program` (used by SimBackend.pulse_cells) realizes the row-wise scheme of Fig. 5a (or the
column-wise one, option ``program_by = "cols"``, see `_col_phase`) with
separate potentiation and depression phases, one physical pulse per (row, amplitude):
  potentiate row i at V_P: EG_i = V_P, ED_i = V_D, TG = 0 on targets, V_SS elsewhere;
  depress row i at V_D:     EG_i = 0,   ED_i = V_D, TG = V_SS on targets, 0 elsewhere;
  all other rows: EG = ED = 0 (their cells see 0 V while row i is pulsed, exactly).
Because a pulse on row i leaves other rows at exactly 0 V, the k-th pulses of all rows (each
row's amplitudes in ascending order) are computed together in one vectorized pass, whatever
their amplitudes: exact, not an approximation.  Amplitudes are rounded to 1 mV (DAC).
Relaxation clock: only a pulse whose ionic dose exceeds the card's
``retention.programmed_dose`` restarts a cell's retention relaxation; sub-threshold
(half-select) doses add to the state on the running clock (`_update`).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from hil.backend import Lines, check_width
from hil.clock import Clock
from hil.errors import ParameterError
from sim_backends.arrays.base import SimArray, per_line
from sim_backends.devices import ecram
from sim_backends.devices._card import num
from sim_backends.devices.faults import apply_read_faults
from sim_backends.devices.mtt import mtt_current_linear
from sim_backends.devices.h1e1t_cell import gate_voltage, selector_conductance
from sim_backends.devices.transistor import TransistorParams

__all__ = ["H1E1TArray", "gate_voltage", "selector_conductance"]

DAC_RESOLUTION_V = 1e-3


def _is_full(index: Any) -> bool:
    return (isinstance(index, tuple) and len(index) == 2
            and all(isinstance(i, slice) and i == slice(None) for i in index))


class H1E1TArray(SimArray):
    """ECRAM H-1E1T array with float32 ionic state ``x`` (see module docstring)."""

    kind = "h1e1t"
    card_kind, device_name = "ecram", "an ECRAM"

    def __init__(self, shape: Sequence[int], card: dict[str, Any] | str = "ecram_wox_lipon",
                 seed: int = 0, clock: Clock | None = None,
                 faults: Mapping[str, Any] | None = None) -> None:
        super().__init__(shape, card, seed, clock, faults)
        card = self.card
        self.params = ecram.EcramParams.from_card(card)
        self.dev = ecram.sample_devices(self.shape, self.params, self._device_rng)
        h = card.get("h1e1t", {})
        self.sel = TransistorParams.from_card(h.get("selector", "transistor_nmos"))
        self.v_d_V = num(card, "h1e1t.v_d_V")
        self.v_ss_V = num(card, "h1e1t.v_ss_V")
        m = card.get("mtt", {})
        self.ref = TransistorParams.from_card(m.get("reference", "transistor_nmos"))
        self.inf = TransistorParams.from_card(m.get("inference", "transistor_nmos"))
        # transistor device-to-device spread (Fig. 4f,g: 64 units, tight distributions):
        # selector/reference beta (W/L) lognormal, inference-transistor threshold shift
        s_b = np.float32(num(card, "mtt.ref_beta_sigma", 0.0))
        z = self._device_rng.standard_normal((2,) + self.shape, dtype=np.float32)
        self.ref_beta_rel = np.exp(s_b * z[0] - s_b * s_b / 2)
        self.inf_dvt_V = np.float32(num(card, "mtt.inf_v_t_sigma_V", 0.0)) * z[1]
        self.v_read_V = num(card, "read.v_read_V")
        self.dc_dwell_s = num(card, "dc_sweep.dwell_s")
        self.x = np.full(self.shape, num(card, "conductance.x0", 0.0), dtype=np.float32)
        self.program_by = "rows"
        #: clock time of the last programming when it is the same for every cell, else None
        #: (derived from t_prog_s; lets whole-array reads skip a per-cell log)
        self._t_prog_uniform: float | None = 0.0

    # -- state -> conductance ------------------------------------------------------------
    def _x_now(self, index: Any = (slice(None), slice(None))) -> np.ndarray:
        """Ionic state including retention relaxation since each cell's last programming."""
        if self._t_prog_uniform is not None and _is_full(index):   # whole array, one time
            t = np.float32(self.clock.now() - self._t_prog_uniform)
            return ecram.relaxed_state(self.x, t, self.dev.nu, self.params.tau_s)
        t = self.clock.now() - self.t_prog_s[index]
        return ecram.relaxed_state(self.x[index], t, self.dev.nu[index], self.params.tau_s)

    def _x_and_factor(self, index: Any) -> tuple[np.ndarray, np.ndarray]:
        """(relaxed state, retention factor since each cell's last programming) at ``index``."""
        t = (np.float32(self.clock.now() - self._t_prog_uniform)
             if self._t_prog_uniform is not None and _is_full(index)
             else self.clock.now() - self.t_prog_s[index])
        fac = ecram.retention_factor(t, self.dev.nu[index], self.params.tau_s)
        return (self.x[index] * fac).astype(np.float32, copy=False), fac

    def conductance(self, rows: Any = None, cols: Any = None) -> np.ndarray:
        """Noise-free conductance (S, float32) of the sub-array, with retention, no faults."""
        ix = self.ix(rows, cols)
        return ecram.conductance(self._x_now(ix), self.dev.take(ix))

    def read(self, rows: Any = None, cols: Any = None, v_read_V: float | None = None) -> np.ndarray:
        """Measured G_S (float64): conductance + read noise, faults applied."""
        v = self.v_read_V if v_read_V is None else float(v_read_V)
        if not 0 < abs(v) <= 1.0:
            raise ParameterError(f"ECRAM read voltage {v_read_V!r} V; allowed: 0 < |V| <= 1 V "
                                 "(drain bias, gate grounded)")
        ix = self.ix(rows, cols)
        dev = self.dev.take(ix)
        g = ecram.read_noise(ecram.conductance(self._x_now(ix), dev), self.params, self.rng)
        if not self.faults.any:
            return g
        g_on = dev.g_on_S.astype(np.float64)
        return apply_read_faults(g, self.faults, ix, g_on, g_on * dev.floor)

    # -- programming ---------------------------------------------------------------------
    def _update(self, index: Any, x_now: np.ndarray, v_gc: np.ndarray, width_s: float,
                count: np.ndarray | None = None, fac: np.ndarray | None = None) -> None:
        """Apply one pulse (or ``count`` identical pulses per cell) of per-cell voltage
        ``v_gc`` to the cells at ``index`` (``x_now``: their current, relaxed state)."""
        if self.faults.any:
            v_gc = np.where(self.faults.dead_cells()[index], np.float32(0), v_gc)
        dev = self.dev.take(index)
        dose = ecram.pulse_dose(v_gc, width_s, dev, self.params)
        moved = (dose != 0) if count is None else (dose != 0) & (count > 0)
        # a programming event (|dose| above the card's retention.programmed_dose) restarts the
        # cell's relaxation clock; a smaller (half-select) dose adds to the state and leaves
        # the relaxation of what was programmed running (see the card)
        prog = moved & (np.abs(dose) > np.float32(self.params.programmed_dose))
        now = self.clock.now()
        new = ecram.apply_dose(x_now, dose, self.params.c2c_sigma, self.rng, count)
        if prog.all():
            self.x[index] = new
            self.t_prog_s[index] = now
            self._t_prog_uniform = now if _is_full(index) else None
            return
        sub = moved & ~prog
        if sub.any():   # store the programmed-state equivalent on the running clock
            if fac is None:
                t_since = (now - self._t_prog_uniform
                           if self._t_prog_uniform is not None and _is_full(index)
                           else now - self.t_prog_s[index])
                fac = ecram.retention_factor(t_since, dev.nu, self.params.tau_s)
            # clipped at x = 1 (reached only within 1 - fac of saturation)
            new = np.where(sub, np.minimum(new / fac, np.float32(1.0)), new)
        self.x[index] = np.where(moved, new, self.x[index])
        if prog.any():
            self._t_prog_uniform = None
            self.t_prog_s[index] = np.where(prog, now, self.t_prog_s[index])

    def apply_lines(self, lines: Lines, width_s: float) -> int:
        """One physical pulse with the given line voltages; returns 1 (pulses applied)."""
        width_s = check_width(width_s)
        rows, cols = self.shape
        eg = per_line(lines.gate_rows, rows, "gate_rows (EG)")
        tg = per_line(lines.select_cols, cols, "select_cols (TG)")
        ed = per_line(lines.drain, rows, "drain (ED)")
        es = per_line(lines.source, cols, "source (ES)")
        x_now = self._x_now()
        g_sel = selector_conductance(tg[None, :], ed[:, None], es[None, :], self.sel)
        v = gate_voltage(eg[:, None], ed[:, None], es[None, :], tg[None, :],
                         g_sel * self.ref_beta_rel, ecram.conductance(x_now, self.dev),
                         self.sel.v_t_V)
        self._update((slice(None), slice(None)), x_now, v, width_s)
        return 1

    def _row_phase(self, rows: np.ndarray, target: np.ndarray, level_V: float | np.ndarray,
                   potentiate: bool, width_s: float) -> None:
        """Pulse each row in ``rows`` once (``target``: their targets, (len(rows), cols)) at
        ``level_V``: one value, or one per row of ``rows`` (a row's pulse leaves every other
        row at 0 V, so rows at different amplitudes are pulsed together exactly)."""
        index = (slice(None), slice(None)) if rows.size == self.shape[0] else (rows, slice(None))
        tmask = target
        x_now, fac = self._x_and_factor(index)
        g_e = ecram.conductance(x_now, self.dev.take(index))
        f32 = np.float32
        lv = np.asarray(level_V, f32)
        lv = lv.reshape(-1, 1) if lv.ndim else lv
        if potentiate:   # EG = V_P, ED = V_D, TG = 0 on targets (selector off), V_SS elsewhere
            eg, ed = lv, f32(self.v_d_V)
            tg_t, tg_o = f32(0.0), f32(self.v_ss_V)
        else:            # EG = 0, ED = V_D(level), TG = V_SS on targets (selector on), 0 elsewhere
            eg, ed = f32(0.0), lv
            tg_t, tg_o = f32(self.v_ss_V), f32(0.0)
        g_t = selector_conductance(tg_t, ed, f32(0.0), self.sel)
        g_o = selector_conductance(tg_o, ed, f32(0.0), self.sel)
        g_sel = np.where(tmask, g_t, g_o) * self.ref_beta_rel[index]
        v = gate_voltage(eg, ed, f32(0.0), np.where(tmask, tg_t, tg_o), g_sel, g_e,
                         self.sel.v_t_V)
        self._update(index, x_now, v, width_s, fac=fac)

    def _col_phase(self, target: np.ndarray, level_V: float, potentiate: bool,
                   width_s: float) -> None:
        """Column-wise phase: one pulse per column k with targets.  Pulse k drives EG = V_P
        (potentiation; EG = 0 for depression) and ED on the rows with a target in column k,
        TG_k selects and the other columns take the inhibit TG.  A target (i, k) gets its
        selected pulse; every cell of row i also gets one row-mate pulse per other target of
        row i (potentiation: V_P - V_D half-select; depression: selector off, ~0 V)."""
        rows = np.flatnonzero(target.any(axis=1))
        index = (slice(None), slice(None)) if rows.size == self.shape[0] else (rows, slice(None))
        tmask = target[index]
        n_row = tmask.sum(axis=1, keepdims=True).astype(np.float32)
        f32 = np.float32
        if potentiate:
            eg, ed, tg_sel, tg_mate = f32(level_V), f32(self.v_d_V), f32(0.0), f32(self.v_ss_V)
        else:
            eg, ed, tg_sel, tg_mate = f32(0.0), f32(level_V), f32(self.v_ss_V), f32(0.0)
        g_sel, g_mate = selector_conductance(np.array([tg_sel, tg_mate]), ed, f32(0.0), self.sel)
        beta = self.ref_beta_rel[index]
        for tg, g, count in ((tg_mate, g_mate, n_row - tmask), (tg_sel, g_sel, tmask)):
            x_now = self._x_now(index)
            g_e = ecram.conductance(x_now, self.dev.take(index))
            v = gate_voltage(eg, ed, f32(0.0), tg, g * beta, g_e, self.sel.v_t_V)
            self._update(index, x_now, v, width_s, np.asarray(count, dtype=np.float32))

    def program(self, mask: np.ndarray, amplitude_V: Any, width_s: float) -> int:
        """Selective programming, row-wise (default) or column-wise (``program_by``); returns
        the number of physical pulses."""
        mask = self.check_mask(mask)
        width_s = check_width(width_s)
        n_pulses = 0
        if self.program_by == "cols":
            return self._program_cols(mask, amplitude_V, width_s)
        if np.ndim(amplitude_V) == 0:          # fast path: one amplitude for all targets
            a = round(float(self.check_amplitude(amplitude_V)[0, 0]) / DAC_RESOLUTION_V)
            if a == 0 or not mask.any():
                return 0
            rows = np.flatnonzero(mask.any(axis=1))
            self._row_phase(rows, mask[rows], abs(a) * DAC_RESOLUTION_V, a > 0, width_s)
            return int(rows.size)
        idx = np.flatnonzero(mask)              # sparse: the targets only (few in late rounds)
        amp = self.check_amplitude(amplitude_V).reshape(-1)[idx]
        code = np.rint(amp / DAC_RESOLUTION_V).astype(np.int64)
        cols = self.shape[1]
        for potentiate in (True, False):
            sel = (code > 0) if potentiate else (code < 0)
            ii, level = idx[sel], np.abs(code[sel])
            if ii.size == 0:
                continue
            row = ii // cols                                    # ascending (flatnonzero)
            starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
            if np.array_equal(np.minimum.reduceat(level, starts), np.maximum.reduceat(level, starts)):
                rows = row[starts]                              # one amplitude per row: one pass
                tmask = np.zeros((rows.size, cols), bool)
                tmask[np.repeat(np.arange(rows.size), np.diff(np.r_[starts, ii.size])), ii % cols] = True
                self._row_phase(rows, tmask, level[starts] * DAC_RESOLUTION_V, potentiate, width_s)
                n_pulses += rows.size
                continue
            # each row's distinct amplitudes in ascending order: pass k pulses every row due a
            # k-th amplitude.  A row's pulse leaves all other rows at exactly 0 V, so the k-th
            # pulses of all rows are computed in one pass, exactly (k = 1 only, when every row
            # has one amplitude per phase, as with row_amplitude = max)
            order = np.lexsort((level, row))
            ii, level, row = ii[order], level[order], row[order]
            new = np.r_[True, (row[1:] != row[:-1]) | (level[1:] != level[:-1])]
            first = np.r_[True, row[1:] != row[:-1]]
            group = np.cumsum(new) - 1                          # (row, level) group id
            row_start_group = np.maximum.accumulate(np.where(first, group, 0))
            rank = group - row_start_group                      # k - 1
            for k in range(int(rank.max()) + 1):
                at = rank == k
                rows, pos = np.unique(row[at], return_inverse=True)
                lev = np.zeros(rows.size, np.int64)
                lev[pos] = level[at]
                tmask = np.zeros((rows.size, cols), bool)
                tmask[pos, ii[at] % cols] = True
                self._row_phase(rows, tmask, lev * DAC_RESOLUTION_V, potentiate, width_s)
                n_pulses += rows.size
        return n_pulses

    def _program_cols(self, mask: np.ndarray, amplitude_V: Any, width_s: float) -> int:
        code = np.rint(self.check_amplitude(amplitude_V) / DAC_RESOLUTION_V).astype(np.int64)
        code = np.where(mask, code, 0)
        n_pulses = 0
        for potentiate in (True, False):
            sel = (code > 0) if potentiate else (code < 0)
            if not sel.any():
                continue
            for level in np.flatnonzero(np.bincount(np.abs(code[sel]))):
                target = sel & (np.abs(code) == level)
                self._col_phase(target, float(level) * DAC_RESOLUTION_V, potentiate, width_s)
                n_pulses += int(target.any(axis=0).sum())
        return n_pulses

    def set_option(self, key: str, value: Any) -> None:
        """``program_by``: "rows" (default) or "cols" (MTT Fig. 5a: both are supported)."""
        if key != "program_by":
            super().set_option(key, value)
        if value not in ("rows", "cols"):
            raise ParameterError(f"program_by {value!r}; allowed: 'rows', 'cols'")
        self.program_by = str(value)

    # -- other measurements --------------------------------------------------------------
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

    # -- resumability ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        s = super().state_dict()
        s["x"] = self.x.copy()
        s["t_prog_uniform_s"] = self._t_prog_uniform   # keeps the resumed numerics identical
        return s

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        x = np.asarray(state["x"], dtype=np.float32)
        if x.shape != self.shape:
            raise ParameterError(f"state x has shape {x.shape}; expected {self.shape}")
        self.x = x.copy()
        uni = state.get("t_prog_uniform_s")
        self._t_prog_uniform = None if uni is None else float(uni)
