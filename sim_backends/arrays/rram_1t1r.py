"""1T1R RRAM array: word (WL, per row), bit (BL, per column) and source (SL, per row) lines.

Cell (i, j): RRAM between BL_j and the access transistor, whose gate is WL_i and whose other
end is SL_i.  With dV = BL_j - SL_i the transistor's source is the lower terminal, so
V_gs = WL_i - SL_i (set, dV > 0) or WL_i - BL_j (reset).  The RRAM voltage solves the series
circuit of the transistor and the cell's low-field conductance (`rram.series_cell_voltage`:
current-limited, triode or subthreshold, closed form), so it falls as the filament grows.
The transistor's saturation current I_cap is also the set compliance: levels follow from V_WL.
Lines: ``gate_rows`` = WL, ``select_cols`` = BL, ``source`` = SL (scalar or per row).
Speed (4 Mb arrays): the transistor terms are evaluated on the distinct (WL, BL, SL)
combinations only (`_line_table`), the per-cell math runs in float32 on cache-sized row blocks
(`_blocks`), drift terms once per distinct programming time (`_reference_read`), and the
RRAM-MTT divider by Newton's method; random draws keep the order of the direct model.

`program` (SimBackend.pulse_cells): row-wise, separate set and reset phases (Fig. S25a).
Selected row: WL on; set: SL = 0, BL = V on targets, V/2 (or V/3) on the others; reset:
SL = |V|, BL = 0 on targets, |V|/2 (or 2|V|/3) on the others.  Unselected rows: WL = 0 (off).
Half-selected row-mates therefore see V/2 or V/3, per the selectable scheme.
Drift (card ``[drift] model``): "reference" (REFERENCE §5, per-device correlated trajectory:
z_drift drawn once when a cell is programmed) or "none".
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from hil.backend import Lines, check_width
from hil.clock import Clock
from hil.errors import ParameterError
from hil.plan import DAC_RESOLUTION_V, RRAM_FRACTIONS, PulsePlan, compile_plan  # noqa: F401
from sim_backends.arrays.base import SimArray, per_line
from sim_backends.devices import rram
from sim_backends.devices._card import num
from sim_backends.devices.drift import EmpiricalDrift, ReferenceDrift
from sim_backends.devices.faults import apply_read_faults
from sim_backends.devices.mtt import node_voltage_newton, unit_current
from sim_backends.devices.transistor import TransistorParams

SCHEMES = RRAM_FRACTIONS   # (set, reset) row-mate BL fraction, from the one pulse plan
PROGRAMMED_DW = 1e-3     # |dw| above which a cell counts as re-programmed (drift clock restarts)


class RRAM1T1RArray(SimArray):
    """1T1R RRAM array with float32 filament state ``w`` (see module docstring)."""

    kind = "1t1r"
    card_kind, device_name = "rram", "an RRAM"
    #: line voltages of one `program` pulse (set: WL + BL, reset: WL + SL; hil.families)
    program_lines = {"potentiate": {"gate_rows": "array.v_wl_set_V", "select_cols": "amplitude"},
                     "depress": {"gate_rows": "array.v_wl_reset_V", "source": "amplitude"}}
    #: station [backend] options (`set_option`) and their allowed values
    options = {"scheme": ("V/2", "V/3")}

    def __init__(self, shape: Sequence[int], card: dict[str, Any] | str = "rram_hfox_1t1r",
                 seed: int = 0, clock: Clock | None = None,
                 faults: Mapping[str, Any] | None = None) -> None:
        super().__init__(shape, card, seed, clock, faults)
        card = self.card
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
            z_r = self.rng.standard_normal(g.shape, dtype=np.float32)
            g = _reference_read(g, self.clock.now(), self.t_prog_s[ix], self.drift,
                                self.z_drift[ix], z_r, self.clip_uS)
        elif isinstance(self.drift, EmpiricalDrift):
            t = np.nan_to_num(self.clock.now() - self.t_prog_s[ix], nan=0.0)
            g = 1e-6 * np.clip(self.drift.apply(g * 1e6, t, self.z_drift[ix]), *self.clip_uS)
        else:
            p = self.params
            sigma = np.sqrt((p.read_rel_sigma * g) ** 2 + p.read_abs_sigma_S ** 2)
            g = g + sigma * self.rng.standard_normal(g.shape, dtype=np.float32)
        if not self.faults.any:
            return g.astype(np.float64, copy=False)
        return apply_read_faults(g, self.faults, ix, self.g_on_S[ix].astype(np.float64),
                                 self.g_off_S[ix].astype(np.float64))

    # -- programming -----------------------------------------------------------------------------
    def _pulse(self, index: Any, wl: Any, bl: Any, sl: Any, width_s: float,
               t_s: np.ndarray | None = None) -> None:
        """One pulse on the cells at ``index`` with broadcastable WL, BL, SL voltages (or, for
        any of them, a (values, code) pair: voltage = values[code], see `_compact`).
        ``t_s``: start time of each indexed row's pulse (column vector; default now)."""
        f32 = np.float32
        w = self.w[index]
        g_on, g_off = self.g_on_S[index], self.g_off_S[index]
        gather, (dv, v_gs) = _line_table(wl, bl, sl, w.shape)
        lines = rram.series_lines(dv, v_gs, self.tr)   # on the distinct line combinations
        p = self.params
        # the random draws, whole sub-array, in the order the unblocked model makes them
        z_prog = (self.rng.standard_normal(w.shape, dtype=f32)
                  if p.prog_noise_uS is not None else None)
        z_c2c = self.rng.standard_normal(w.shape, dtype=f32) if p.c2c_sigma > 0 else None
        dead = self.faults.dead_cells()[index] if self.faults.any else None
        new = np.empty_like(w)
        programmed = np.empty(w.shape, dtype=bool)
        for blk in _blocks(w.shape):     # cache-sized row blocks: temporaries stay in cache
            a, v_ov, i_cap, sign = (gather(q, blk) for q in lines)
            v_cell = rram.series_solve(a, v_ov, i_cap, sign, rram.filament_conductance(
                w[blk], g_on[blk], g_off[blk]), self.tr)
            if dead is not None:
                v_cell[dead[blk]] = f32(0.0)
            w_cc = rram.compliance_state(i_cap, g_on[blk], g_off[blk], p, None,
                                         None if z_prog is None else z_prog[blk])
            new[blk] = rram.update(w[blk], v_cell, width_s, w_cc, p, None,
                                   None if z_c2c is None else z_c2c[blk])
            np.subtract(new[blk], w[blk], out=w_cc)
            np.greater(np.abs(w_cc, out=w_cc), PROGRAMMED_DW, out=programmed[blk])
        self.w[index] = new
        if programmed.any():
            now = self.clock.now() if t_s is None else t_s
            z = self.rng.standard_normal(new.shape, dtype=np.float32)
            if all(isinstance(i, slice) for i in index):          # views: update in place
                np.copyto(self.t_prog_s[index], now, where=programmed)
                np.copyto(self.z_drift[index], z, where=programmed)
            else:
                self.t_prog_s[index] = np.where(programmed, now, self.t_prog_s[index])
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
                   width_s: float, t_s: np.ndarray | None = None) -> None:
        index = (slice(None), slice(None)) if rows.size == self.shape[0] else (rows, slice(None))
        t = target[index]
        f_set, f_reset = SCHEMES[self.scheme]
        if is_set:
            wl, sl, on, off = self.v_wl_set_V, 0.0, level_V, f_set * level_V
        else:
            wl, sl, on, off = self.v_wl_reset_V, level_V, 0.0, f_reset * level_V
        bl: Any = np.float32(on)
        if not t.all():          # BL = values[t]: off on row-mates, on on targets
            bl = (np.array([off, on], dtype=np.float32), t.view(np.uint8))
        if t_s is not None:
            t_s = np.asarray(t_s, np.float64).reshape(-1, 1)
        self._pulse(index, np.float32(wl), bl, np.float32(sl), width_s, t_s)

    def program(self, mask: np.ndarray, amplitude_V: Any, width_s: float) -> PulsePlan:
        """Row-wise set (amplitude > 0) / reset (< 0) phases: the request compiled into a
        `hil.plan.PulsePlan` (scheme V/2 or V/3) and executed; returns the plan."""
        mask = self.check_mask(mask)
        width_s = check_width(width_s)
        plan = compile_plan(mask, self.check_amplitude(amplitude_V), self.card,
                            f"1t1r-{self.scheme}", width_s)
        self.execute(plan)
        return plan

    def execute(self, plan: PulsePlan, t0_s: float | None = None) -> None:
        """Apply ``plan`` with its first pulse at ``t0_s`` (default the clock's now), one
        `_row_phase` per (phase, amplitude), each row stamped with its own pulse time; the
        clock is not moved (the backend advances it to ``plan.end_time``)."""
        if plan.shape != self.shape or not plan.scheme.startswith("1t1r"):
            raise ParameterError(f"plan {plan.scheme!r} {plan.shape} cannot run on a "
                                 f"{self.shape} 1T1R array")
        if plan.scheme != f"1t1r-{self.scheme}" or (
                plan.levels["v_wl_set_V"], plan.levels["v_wl_reset_V"]) != (
                self.v_wl_set_V, self.v_wl_reset_V):
            raise ParameterError(f"plan {plan.scheme!r} levels {dict(plan.levels)} differ "
                                 f"from this array (scheme {self.scheme!r}, card "
                                 f"{self.card.get('name')!r})")
        if not plan.n_pulses:
            return
        t = plan.start_times(self.clock.now() if t0_s is None else t0_s)
        # pulses of one (phase, amplitude) drive distinct rows: one pass each
        cut = np.flatnonzero(np.r_[True, (np.diff(plan.code) != 0)
                                   | (np.diff(plan.polarity) != 0)
                                   | (np.diff(plan.line) <= 0), True])
        for a, b in zip(cut[:-1], cut[1:]):
            rows = plan.line[a:b]
            pol, lv = int(plan.polarity[a]), int(plan.code[a])
            self._row_phase(rows, plan.codes == pol * lv, lv * plan.dac_V, pol > 0,
                            plan.width_s, t_s=t[a:b])

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
        i = np.empty((w.shape[0], w.shape[1] // 2), dtype=dtype)
        for blk in _blocks(w.shape):     # each block's Newton solve stops when it converges
            wb = w[blk].astype(dtype)
            g_f = rram.filament_conductance(wb, g_on[blk].astype(dtype), g_off[blk].astype(dtype))
            vn = node_voltage_newton(lambda v: rram.current_and_slope(wb, v, g_f, nl), wb.shape,
                                     v_read_H_V, v_ref_G_V, self.ref, dtype)
            i[blk] = unit_current(vn[:, 0::2], vn[:, 1::2], v_drain_V, self.inf)
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


def _compact(a: Any, shape: tuple[int, ...]) -> tuple[np.ndarray, Any] | None:
    """Line voltages as (distinct values, code broadcastable to ``shape`` or None for one
    value); None when ``a`` is a full per-cell array (no compaction)."""
    if isinstance(a, tuple):
        return a
    a = np.asarray(a, dtype=np.float32)
    if a.size == 1:
        return a.reshape(1), None
    if a.size >= np.prod(shape) and min(shape) > 1:
        return None
    values, code = np.unique(a, return_inverse=True)
    return values, code.reshape(a.shape)


def _line_table(wl: Any, bl: Any, sl: Any, shape: tuple[int, ...]
                ) -> tuple[Callable[[np.ndarray], np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(gather, (dv, v_gs)): BL - SL and the transistor's V_gs on the distinct (WL, BL, SL)
    combinations (1-D float32), and ``gather`` mapping such a table onto the cells."""
    parts = [_compact(x, shape) for x in (wl, bl, sl)]
    n_combo = int(np.prod([len(p[0]) for p in parts if p is not None]))
    if any(p is None for p in parts) or n_combo > max(1, int(np.prod(shape)) // 8):
        full = [np.asarray(x, np.float32) if p is None else p[0] if p[1] is None else p[0][p[1]]
                for x, p in zip((wl, bl, sl), parts)]
        wl_v, bl_v, sl_v = (np.broadcast_to(x, shape).ravel() for x in full)
        code: Any = np.arange(int(np.prod(shape))).reshape(shape)
    else:
        vals = np.meshgrid(*(p[0] for p in parts), indexing="ij")
        wl_v, bl_v, sl_v = (v.ravel() for v in vals)
        code = 0
        for p in parts:
            code = code * len(p[0]) + (0 if p[1] is None else p[1].astype(np.intp))
    dv = bl_v - sl_v
    v_gs = np.where(dv >= 0, wl_v - sl_v, wl_v - bl_v)
    if np.ndim(code) == 0:
        ones = (1,) * len(shape)
        return (lambda q, blk=(): q.reshape(ones)), (dv, v_gs)
    code = np.broadcast_to(code, shape)
    return (lambda q, blk=(): np.take(q, code[blk])), (dv, v_gs)


def _blocks(shape: tuple[int, ...], cells: int = 32768) -> list[tuple[slice, ...]]:
    """Row blocks of about ``cells`` cells covering an array of ``shape``."""
    step = max(1, cells // max(1, int(np.prod(shape[1:]))))
    return [(slice(r, r + step),) for r in range(0, shape[0], step)]


def _reference_read(g_S: np.ndarray, now_s: float, t_prog_s: np.ndarray, model: ReferenceDrift,
                    z_drift: np.ndarray, z_read: np.ndarray, clip_uS: tuple[float, float]
                    ) -> np.ndarray:
    """`drift_reference` (S in, float64 S out; float32 math) with its time terms evaluated once
    per distinct programming time: cells programmed together share t, so the logs of t run
    on a handful of values instead of every cell.  Never-programmed (NaN) cells and t <= 0
    read g unchanged, as in `drift_reference`."""
    tp = np.asarray(t_prog_s, dtype=np.float64)
    if tp.size and tp.min() == tp.max():
        times, code = tp.reshape(-1)[:1], None
    else:
        times = np.unique(tp)
        if times.size > max(16, tp.size // 8):
            times, code = tp.reshape(-1), np.arange(tp.size).reshape(tp.shape)
        else:
            code = np.searchsorted(times, tp)
    t = now_s - times
    live = t > 0
    with np.errstate(invalid="ignore"):      # dead entries (NaN, t <= 0) are masked out
        mu = np.where(live, model.mu_drift_uS(t), 0.0).astype(np.float32)
        sd = np.where(live, model.sigma_drift_uS(t), 0.0).astype(np.float32)
        # sigma_read = c log10(g) sqrt(ln((t + t_eps) / t_ref)): its t-factor (g = 10 uS) / ln 10
        sr = (np.where(live, model.sigma_read_uS(np.full(t.shape, 10.0), t), 0.0)
              / np.log(10.0)).astype(np.float32)
    out = np.empty(np.shape(g_S), dtype=np.float64)
    for blk in _blocks(out.shape):       # cache-sized blocks; the uS math in float32
        if code is None:
            m, d, r = mu[0], sd[0], sr[0]
        else:
            m, d, r = (np.take(q, code[blk]) for q in (mu, sd, sr))
        g = np.multiply(g_S[blk], np.float32(1e6), dtype=np.float32)
        g += m
        g += np.multiply(z_drift[blk], d, dtype=np.float32)    # g_drift (uS)
        s = np.maximum(g, np.float32(1e-12))
        np.log(s, out=s)
        s *= r
        s *= z_read[blk]
        g += s
        np.clip(g, clip_uS[0], clip_uS[1], out=g)
        np.multiply(g, 1e-6, out=out[blk])
    return out
