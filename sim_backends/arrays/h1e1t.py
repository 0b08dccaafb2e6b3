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
from hil.plan import DAC_RESOLUTION_V, PulsePlan, compile_plan, row_passes  # noqa: F401
from sim_backends.arrays.base import SimArray, per_line
from sim_backends.arrays.h1e1t_measure import H1E1TMeasurements
from sim_backends.arrays.h1e1t_read import H1E1TReads
from sim_backends.devices import ecram, ecram_kernels
from sim_backends.devices._card import num
from sim_backends.devices.h1e1t_cell import gate_voltage, selector_conductance
from sim_backends.devices.transistor import TransistorParams

__all__ = ["H1E1TArray", "gate_voltage", "selector_conductance"]


def _one_time(now: Any) -> float | None:
    """A pulse time as one float, or None when the rows were stamped with different times."""
    t = np.asarray(now, np.float64)
    return float(t.flat[0]) if t.size and np.all(t == t.flat[0]) else None


def _is_full(index: Any) -> bool:
    return (isinstance(index, tuple) and len(index) == 2
            and all(isinstance(i, slice) and i == slice(None) for i in index))


class H1E1TArray(H1E1TReads, H1E1TMeasurements, SimArray):
    """ECRAM H-1E1T array with float32 ionic state ``x`` (see module docstring)."""

    kind = "h1e1t"
    card_kind, device_name = "ecram", "an ECRAM"
    #: line voltages of one `program` pulse (Table S2; limits and dry runs read this, hil.families)
    program_lines = {"potentiate": {"gate_rows": "amplitude", "drain": "h1e1t.v_d_V",
                                    "select_cols": "h1e1t.v_ss_V"},
                     "depress": {"drain": "amplitude", "select_cols": "h1e1t.v_ss_V"}}
    #: station [backend] options (`set_option`) and their allowed values
    options = {"program_by": ("rows", "cols")}

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
        self._read_consts: tuple[Any, ...] | None = None   # `cell_reader`'s kernel arguments
        #: clock time of the last programming when it is the same for every cell, else None
        #: (derived from t_prog_s; lets whole-array reads skip a per-cell log)
        self._t_prog_uniform: float | None = 0.0
        self._g_sel_memo: tuple[Any, dict[tuple[float, float], np.float32]] = (None, {})  # `_selector_g`

    # -- state -> conductance ------------------------------------------------------------
    def _x_now(self, index: Any = (slice(None), slice(None))) -> np.ndarray:
        """Ionic state including retention relaxation since each cell's last programming."""
        if self._t_prog_uniform is not None and _is_full(index):   # whole array, one time
            t = np.float32(self.clock.now() - self._t_prog_uniform)
            return ecram.relaxed_state(self.x, t, self.dev.nu, self.params.tau_s)
        t = self.clock.now() - self.t_prog_s[index]
        return ecram.relaxed_state(self.x[index], t, self.dev.nu[index], self.params.tau_s)

    def _x_and_factor(self, index: Any, t_s: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """(relaxed state, retention factor since each cell's last programming) at ``index``;
        ``t_s``: the time of each indexed row (column vector), default the clock's now."""
        now = self.clock.now() if t_s is None else t_s
        t = (np.float32(now - self._t_prog_uniform)
             if self._t_prog_uniform is not None and _is_full(index)
             else now - self.t_prog_s[index])
        fac = ecram.retention_factor(t, self.dev.nu[index], self.params.tau_s)
        return (self.x[index] * fac).astype(np.float32, copy=False), fac

    def conductance(self, rows: Any = None, cols: Any = None) -> np.ndarray:
        """Noise-free conductance (S, float32) of the sub-array, with retention, no faults."""
        ix = self.ix(rows, cols)
        return ecram.conductance(self._x_now(ix), self.dev.take(ix))

    # -- programming ---------------------------------------------------------------------
    def _update(self, index: Any, x_now: np.ndarray, v_gc: np.ndarray, width_s: float,
                count: np.ndarray | None = None, fac: np.ndarray | None = None,
                t_s: np.ndarray | None = None) -> None:
        """Apply one pulse (or ``count`` identical pulses per cell) of per-cell voltage
        ``v_gc`` to the cells at ``index`` (``x_now``: their current, relaxed state).
        ``t_s``: start time of each indexed row's pulse (column vector; default now)."""
        if self.faults.any:
            v_gc = np.where(self.faults.dead_cells()[index], np.float32(0), v_gc)
        dev = self.dev.take(index)
        dose = ecram.pulse_dose(v_gc, width_s, dev, self.params)
        moved = (dose != 0) if count is None else (dose != 0) & (count > 0)
        # a programming event (|dose| above the card's retention.programmed_dose) restarts the
        # cell's relaxation clock; a smaller (half-select) dose adds to the state and leaves
        # the relaxation of what was programmed running (see the card)
        prog = moved & (np.abs(dose) > np.float32(self.params.programmed_dose))
        now = self.clock.now() if t_s is None else t_s
        new = ecram.apply_dose(x_now, dose, self.params.c2c_sigma, self.rng, count)
        if prog.all():
            self.x[index] = new
            self.t_prog_s[index] = now
            self._t_prog_uniform = _one_time(now) if _is_full(index) else None
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
        row_pulse = self._as_row_pulse(eg, tg, ed, es)
        if row_pulse is not None:   # one row of the row-wise scheme: the plan's own kernel
            r, target, level, potentiate = row_pulse
            self._row_phase(np.array([r]), target[None, :], level, potentiate, width_s)
            return 1
        x_now = self._x_now()
        g_sel = selector_conductance(tg[None, :], ed[:, None], es[None, :], self.sel)
        v = gate_voltage(eg[:, None], ed[:, None], es[None, :], tg[None, :],
                         g_sel * self.ref_beta_rel, ecram.conductance(x_now, self.dev),
                         self.sel.v_t_V)
        self._update((slice(None), slice(None)), x_now, v, width_s)
        return 1

    def _as_row_pulse(self, eg: np.ndarray, tg: np.ndarray, ed: np.ndarray, es: np.ndarray
                      ) -> tuple[int, np.ndarray, float, bool] | None:
        """(row, targets, level, potentiate) when float32 line levels are exactly one pulse of
        the row-wise scheme (`hil.plan`, one driven row, TG in {0, V_SS}, ES = 0), else None.
        Such a pulse takes the same `_row_phase` as `program`, so a bench sending a plan
        pulse by pulse gets the simulator's numbers bit for bit."""
        f32 = np.float32
        driven = np.flatnonzero((eg != 0) | (ed != 0))
        if driven.size != 1 or np.any(es != 0):
            return None
        r = int(driven[0])
        v_d, v_ss = f32(self.v_d_V), f32(self.v_ss_V)
        off, sel = tg == 0, tg == v_ss
        if not np.all(off | sel):
            return None
        if eg[r] > 0 and ed[r] == v_d:
            return r, off, float(eg[r]), True
        if eg[r] == 0 and ed[r] > 0:
            return r, sel, float(ed[r]), False
        return None

    def _row_phase(self, rows: np.ndarray, target: np.ndarray | tuple[np.ndarray, np.ndarray],
                   level_V: float | np.ndarray, potentiate: bool, width_s: float,
                   t_s: np.ndarray | None = None) -> None:
        """Pulse each row in ``rows`` once at ``level_V``: one value, or one per row of
        ``rows`` (a row's pulse leaves every other row at 0 V, so rows at different
        amplitudes are pulsed together exactly).  ``target``: their targets, a bool mask
        (len(rows), cols), or (codes, code) with row ``rows[k]``'s targets where
        ``codes[rows[k]] == code[k]`` (a plan's code map, read in the kernel: no mask).
        ``t_s``: the start time of each row's pulse (default: the clock's now for all).

        Line voltages per row: potentiation EG = V_P, ED = V_D, TG = 0 on targets (selector
        off), V_SS elsewhere; depression EG = 0, ED = V_D(level), TG = V_SS on targets
        (selector on), 0 elsewhere.  The cells are updated in one fused pass
        (`ecram_kernels.row_phase`: `gate_voltage`, `pulse_dose`, `apply_dose` and the
        programming-event rule of `_update`, per cell, in place)."""
        rows = np.asarray(rows, dtype=np.int64)
        n = rows.size
        if n == 0:
            return
        if isinstance(target, tuple):
            codes, crow = np.ascontiguousarray(target[0], dtype=np.int32), rows
            code = np.ascontiguousarray(target[1], dtype=np.int32)
        else:           # a mask: its row k is row k of a 0/1 code map, targets at code 1
            codes = np.ascontiguousarray(target, dtype=np.int32).reshape(n, -1)
            crow, code = np.arange(n), np.ones(n, np.int32)
        f32 = np.float32
        lv = np.broadcast_to(np.asarray(level_V, f32).reshape(-1), (n,))
        v_d = np.full(n, self.v_d_V, f32)
        if potentiate:
            eg, ed = lv, v_d
            tg_t, tg_o = f32(0.0), f32(self.v_ss_V)
        else:
            eg, ed = np.zeros(n, f32), lv
            tg_t, tg_o = f32(self.v_ss_V), f32(0.0)
        g_t, g_o = self._selector_g(tg_t, ed), self._selector_g(tg_o, ed)
        # source-follower ceiling of gate_voltage: max(TG - V_T, min(ED, ES)), ES = 0
        low = np.minimum(ed, f32(0.0))
        c_t = np.maximum(tg_t - f32(self.sel.v_t_V), low)
        c_o = np.maximum(tg_o - f32(self.sel.v_t_V), low)
        p = self.params
        noise = self._noise(self.rng if p.c2c_sigma > 0 else None, (n, self.shape[1]), True)
        now = np.broadcast_to(np.asarray(self.clock.now() if t_s is None else t_s,
                                         np.float64).reshape(-1), (n,))
        n_prog = ecram_kernels.row_phase(
            self.x, self.t_prog_s, self.dev.nu, self.dev.g_on_S, self.dev.floor, self.dev.k_p,
            self.dev.k_d, self.ref_beta_rel, self.faults.dead_rows, self.faults.dead_cols,
            rows, codes, crow, code, np.ascontiguousarray(eg),
            np.ascontiguousarray(ed), np.ascontiguousarray(g_t), np.ascontiguousarray(g_o),
            c_t, c_o, *noise, np.ascontiguousarray(now), f32(p.tau_s), f32(p.v0_p_V), f32(p.v0_d_V), f32(width_s),
            f32(p.c2c_sigma), f32(0.5 * p.c2c_sigma * p.c2c_sigma), f32(p.programmed_dose))
        if n_prog == n * self.shape[1]:     # every cell programmed: one relaxation origin
            self._t_prog_uniform = _one_time(now) if n == self.shape[0] else None
        elif n_prog:
            self._t_prog_uniform = None

    def _selector_g(self, tg_V: np.float32, ed_V: np.ndarray) -> np.ndarray:
        """`selector_conductance` (TG ``tg_V``, ED ``ed_V`` per row, ES = 0) as a float32 row
        vector, evaluated once per distinct (TG, ED) pair and kept: the levels are DAC
        codes, a few per run, and a call costs ~0.2 ms (twice per row phase)."""
        sel, memo = self._g_sel_memo
        if sel is not self.sel:     # another selector: other conductances
            memo = {}
            self._g_sel_memo = (self.sel, memo)
        uniform = ed_V[0] == ed_V[-1] and bool(np.all(ed_V == ed_V[0]))
        levels, inv = (ed_V[:1], None) if uniform else np.unique(ed_V, return_inverse=True)
        g = np.empty(levels.size, np.float32)
        for i, ed in enumerate(levels.tolist()):
            key = (float(tg_V), ed)
            if key not in memo:
                memo[key] = np.float32(selector_conductance(
                    tg_V, np.array([ed], np.float32), np.float32(0.0), self.sel)[0])
            g[i] = memo[key]
        return np.broadcast_to(g, ed_V.shape) if inv is None else g[inv]

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

    def program(self, mask: np.ndarray, amplitude_V: Any, width_s: float) -> PulsePlan:
        """Selective programming: the request compiled into a `hil.plan.PulsePlan` (row-wise,
        or column-wise with ``program_by``) and executed; returns the plan (its
        ``n_pulses`` physical pulses start at the clock's now, back to back)."""
        mask = self.check_mask(mask)
        width_s = check_width(width_s)
        plan = compile_plan(mask, self.check_amplitude(amplitude_V), self.card,
                            f"h1e1t-{self.program_by}", width_s)
        self.execute(plan)
        return plan

    def execute(self, plan: PulsePlan, t0_s: float | None = None) -> None:
        """Apply ``plan`` with its first pulse at ``t0_s`` (default the clock's now); every
        row is stamped with its own pulse time (`PulsePlan.start_times`).  The clock is not
        moved (the backend advances it to ``plan.end_time``).

        Row-wise: pass k pulses the k-th pulse of every row at once (`hil.plan.row_passes`):
        a row's pulse leaves all other rows at exactly 0 V, so this is exact."""
        self._check_plan(plan)
        if plan.scheme == "h1e1t-cols":
            self._program_cols(plan)
            return
        t = plan.start_times(self.clock.now() if t0_s is None else t0_s)
        for potentiate, rows, idx in row_passes(plan):
            lev = plan.code[idx]
            signed = lev if potentiate else -lev
            level = (float(lev[0]) * plan.dac_V if np.all(lev == lev[0])
                     else lev * plan.dac_V)
            # targets: cells of each row at the pulse's signed code, compared in the kernel
            self._row_phase(rows, (plan.codes, signed), level, potentiate, plan.width_s,
                            t_s=t[idx])

    def _check_plan(self, plan: PulsePlan) -> None:
        if plan.shape != self.shape or not plan.scheme.startswith("h1e1t"):
            raise ParameterError(f"plan {plan.scheme!r} {plan.shape} cannot run on a "
                                 f"{self.shape} H-1E1T array")
        if (plan.levels["v_d_V"], plan.levels["v_ss_V"]) != (self.v_d_V, self.v_ss_V):
            raise ParameterError(f"plan levels {dict(plan.levels)} differ from this array's "
                                 f"card (v_d_V {self.v_d_V}, v_ss_V {self.v_ss_V})")

    def _program_cols(self, plan: PulsePlan) -> None:
        """Column-wise plan: one `_col_phase` per (phase, amplitude), the row-mate pulses of
        each target composed per cell (all stamped with the call's start time)."""
        groups = np.flatnonzero(np.r_[True, (np.diff(plan.code) != 0)
                                      | (np.diff(plan.polarity) != 0)]) if plan.n_pulses else []
        for g in groups:
            pol, lv = int(plan.polarity[g]), int(plan.code[g])
            target = plan.codes == pol * lv
            self._col_phase(target, float(lv) * plan.dac_V, pol > 0, plan.width_s)

    def set_option(self, key: str, value: Any) -> None:
        """``program_by``: "rows" (default) or "cols" (MTT Fig. 5a: both are supported)."""
        if key != "program_by":
            super().set_option(key, value)
        if value not in ("rows", "cols"):
            raise ParameterError(f"program_by {value!r}; allowed: 'rows', 'cols'")
        self.program_by = str(value)

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
