"""Write-verify on a backend: the I/O around `protocols.ispp.IsppEngine`, shared by the
write_verify, retention and mtt_readout protocols.

One *iteration* is: pulse every unconverged cell once (a potentiation phase with all cells
that are below their band, then a depression phase with all cells above it; one vectorized
`Backend.pulse_cells` call with signed amplitudes, through the array's selection scheme),
then read the unconverged cells and the converged cells of the pulsed rows (half-select
disturb may have moved them) and let the engine decide the next amplitudes.  Where those
cells span every column (all but the smallest arrays), the verify reads whole rows and the
engine decides on the row block (`IsppEngine.decide_rows`: no per-cell gathers of the mostly
converged cells; the same reads and decisions as the per-cell path).

Event logging (bounded at any array size): while at most ``event_cells_max`` cells are
programmed, every pulse and every verify read is one `/events` row per cell; above that,
each phase is one aggregate row with ``row = col = -1`` (``op=pulse``: ``V_V`` = largest
amplitude of the phase, signed; ``op=read``: ``G_S`` = mean conductance of the cells read),
and per-cell outcomes go to `/results` only.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hil.errors import ParameterError
from hil.store import make_events
from protocols.ispp import HISTORY_COLUMNS, IsppEngine, Ladder
from protocols.params import Param

if TYPE_CHECKING:
    from hil.backend import Backend
    from hil.store import Run

#: ISPP parameters shared by every protocol that programs with write-verify (MTT Fig. S8).
#: Ladders, width, aim and tol_ref left at None take the device card's ``[presets.ispp]`` (ECRAM:
#: +7..+12 V / -3..-8 V in 1 V steps, 2 ms; RRAM: 0.7/0.9..2.5 V in 50 mV steps, 1 µs; see the
#: cards for the reasons); `hil list` prints them resolved per device.
ISPP_PARAMS: tuple[Param, ...] = (
    Param("tol", 0.02, "", "tolerance: |G - target| <= tol * reference (tol_ref)", positive=True, max=1.0),
    Param("tol_ref", None, "", "reference of tol: the cell's target or the level range",
          kind="str", choices=("target", "range"), preset="ispp.tol_ref"),
    Param("v_p_start_V", None, "V", "first potentiation/set amplitude",
          positive=True, limit="voltage", preset="ispp.v_p_start_V"),
    Param("v_p_step_V", None, "V", "potentiation amplitude increment after each miss",
          min=0.0, max=5.0, preset="ispp.v_p_step_V"),
    Param("v_p_max_V", None, "V", "largest potentiation amplitude",
          positive=True, limit="voltage", preset="ispp.v_p_max_V"),
    Param("v_d_start_V", None, "V", "first depression/reset amplitude, magnitude",
          positive=True, limit="-voltage", preset="ispp.v_d_start_V"),
    Param("v_d_step_V", None, "V", "depression amplitude increment after each miss",
          min=0.0, max=5.0, preset="ispp.v_d_step_V"),
    Param("v_d_max_V", None, "V", "largest depression amplitude, magnitude",
          positive=True, limit="-voltage", preset="ispp.v_d_max_V"),
    Param("width_s", None, "s", "pulse width", positive=True, limit="width", preset="ispp.width_s"),
    Param("width_max_s", None, "s", "adaptive strategy only: longest pulse; past the ladder top it doubles "
          "the width (top amplitude) up to this; = width_s: no longer pulses", positive=True,
          limit="width", preset="ispp.width_max_s", preset_optional=True),
    Param("max_pulses", 200, "", "pulses per cell before giving up", kind="int", min=1, max=100000),
    Param("strategy", "ispp", "", "ispp: climb the ladder one step per miss, restart at its bottom after "
          "an overshoot (MTT Fig. S8); adaptive: each next level from the cell's measured response "
          "(per-cell gain learned online, same ladders and limits; protocols.adaptive)", kind="str",
          choices=("ispp", "adaptive")),
    Param("row_amplitude", "max", "", "max: one amplitude per row and phase (the highest level due in the "
          "row; cells due less wait a round), as a row-wise H-1E1T/1T1R pulse delivers; cell: every cell "
          "its own ladder amplitude (the backend then pulses each row once per distinct amplitude)",
          kind="str", choices=("max", "cell")),
    Param("settle", 0.5, "", "a cell converges inside settle*tol and is reopened only outside tol "
          "(hysteresis against read noise, relaxation and half-select disturb)", positive=True, max=1.0),
    Param("aim", None, "", "converge window centre, in units of tol above the target (> 0 pre-compensates "
          "relaxation after programming)", min=-1.0, max=1.0, preset="ispp.aim"),
    Param("stuck_after", 20, "", "give a cell up when this many pulses in one direction moved it less "
          "than its tolerance (0 = never)", kind="int", min=0, max=100000),
    Param("v_read_V", None, "V", "verify read voltage (default: the card's read voltage)", positive=True,
          max=2.0),
    Param("event_cells_max", 4096, "", "log per-cell events up to this many programmed cells, "
          "aggregate rows above", kind="int", min=0),
)


def check_ladders(values: dict[str, Any]) -> None:
    """Cross-parameter checks of the (preset-filled) ISPP values."""
    v = values
    if v["v_p_max_V"] < v["v_p_start_V"]:
        raise ParameterError(f"v_p_max_V={v['v_p_max_V']} V is below v_p_start_V={v['v_p_start_V']} V")
    if v["v_d_max_V"] < v["v_d_start_V"]:
        raise ParameterError(f"v_d_max_V={v['v_d_max_V']} V is below v_d_start_V={v['v_d_start_V']} V")


def make_engine(target_S: np.ndarray, values: dict[str, Any], g_range_S: tuple[float, float]) -> IsppEngine:
    """An `IsppEngine` (or, ``strategy = adaptive``, an `AdaptiveEngine`) for ``target_S``
    with the (preset-filled) ISPP parameters in ``values``."""
    v = values
    check_ladders(v)
    ref = target_S if v["tol_ref"] == "target" else (g_range_S[1] - g_range_S[0])
    tol_S = v["tol"] * np.where(np.isfinite(ref), ref, 0.0)
    ladders = (Ladder(v["v_p_start_V"], v["v_p_step_V"], v["v_p_max_V"]),
               Ladder(v["v_d_start_V"], v["v_d_step_V"], v["v_d_max_V"]))
    args = (v["max_pulses"], v["stuck_after"], v["settle"], v["aim"])
    if v.get("strategy", "ispp") == "adaptive":
        from protocols.adaptive import AdaptiveEngine
        return AdaptiveEngine(target_S, tol_S, *ladders, *args, width_steps=width_steps(v))
    return IsppEngine(target_S, tol_S, *ladders, *args)


def width_steps(values: dict[str, Any]) -> int:
    """Width doublings of the adaptive strategy past the ladder top: the largest n with
    width_s * 2^n <= width_max_s (0 where width_max_s is unset or equals width_s)."""
    w, w_max = values["width_s"], values.get("width_max_s")
    if w_max is None:
        return 0
    if w_max < w * (1 - 1e-9):
        raise ParameterError(f"width_max_s={w_max} s is below width_s={w} s: the adaptive strategy's "
                             "longest pulse must be at least the ISPP width")
    return int(np.floor(np.log2(w_max / w) + 1e-9))


def make_programmer(backend: "Backend", target_S: np.ndarray, values: dict[str, Any],
                    g_range_S: tuple[float, float]) -> "ArrayProgrammer":
    """Engine plus backend I/O for ``target_S`` with the (preset-filled) ISPP parameters."""
    return ArrayProgrammer(backend, make_engine(target_S, values, g_range_S), values["width_s"],
                           values["v_read_V"], values["event_cells_max"],
                           per_row=values["row_amplitude"] == "max")


def _rows_of(idx: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Sorted distinct rows of flat indices (a mask, faster than np.unique at 4 Mb)."""
    m = np.zeros(shape[0], bool)
    m[idx // shape[1]] = True
    return np.flatnonzero(m)


def _cols_of(idx: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    m = np.zeros(shape[1], bool)
    m[idx % shape[1]] = True
    return np.flatnonzero(m)


class ArrayProgrammer:
    """Drives an `IsppEngine` on a backend; `iterate` is one pulse-and-verify round."""

    def __init__(self, backend: "Backend", engine: IsppEngine, width_s: float, v_read_V: float,
                 event_cells_max: int, per_row: bool = True) -> None:
        self.backend, self.engine = backend, engine
        self.per_row = per_row
        self.width_s, self.v_read_V = width_s, v_read_V
        self.per_cell = int(engine.selected.sum()) <= event_cells_max
        self.iteration = 0   # pulse rounds done
        self.swept = False   # every converged cell verified since the last pulse
        # a plain ISPP engine writes each round's pulses straight into maps (`_pulse_maps`)
        self.fused = engine.fused
        self._maps: tuple[np.ndarray, np.ndarray] | None = None   # (mask, amps), reused

    @property
    def done(self) -> bool:
        return self.iteration > 0 and self.engine.done and self.swept

    def iterate(self, run: "Run", step: int) -> None:
        """Round 0 only reads; round k >= 1 pulses all unconverged cells once, then reads
        them and the converged cells of the pulsed rows (a disturbed cell is reopened).  When
        no cell is left, one more round re-reads every converged cell (cells in quiet rows
        may have relaxed since their last verify); the rounds go on if that reopens any."""
        eng, b = self.engine, self.backend
        cols = eng.shape[1]
        up = down = np.empty(0, np.int64)
        v_up = v_down = np.empty(0)
        n_up = n_down = 0
        rows = None
        if self.iteration > 0 and eng.done:
            if not self.swept:       # final verify of the whole array: relaxation, disturb
                self.swept = True
                idx = np.flatnonzero(eng.converged)
                if idx.size:
                    g = self._read(idx, cols)
                    self._log(run, step, "read", idx, None, g)
                    eng.decide(idx, g)
                eng.record(self.iteration, 0, 0, v_up, v_down, idx)
                self.iteration += 1
            return
        if self.iteration > 0 and self.fused:
            self.swept = False
            rows, n_up, n_down, v_up, v_down = self._pulse_maps(run, step)
        elif self.iteration > 0:
            self.swept = False
            up, v_up, down, v_down = eng.next_pulses(self.per_row)
            # one call: the backend runs the potentiation phase, then the depression phase
            for (u, vu, d, vd), width in self._width_groups(up, v_up, down, v_down):
                mask = np.zeros(eng.shape, bool)
                amps = np.zeros(eng.shape)
                mask.flat[u], mask.flat[d] = True, True
                amps.flat[u], amps.flat[d] = vu, -vd
                b.pulse_cells(mask, amps, width)
                for idx, amp in ((u, vu), (d, -vd)):
                    if idx.size:
                        eng.count_pulses(idx)
                        self._log(run, step, "pulse", idx, amp, None, width)
            n_up, n_down = up.size, down.size
            rows = _rows_of(np.concatenate([up, down]), eng.shape) if n_up + n_down else None
        if not self._verify_rows(run, step, rows, n_up, n_down, v_up, v_down):
            # verify the active cells and, in rows just pulsed, the converged ones (half-select disturb)
            idx = eng.verify_index(rows)
            if idx.size:
                g = self._read(idx, cols)
                self._log(run, step, "read", idx, None, g)
                eng.decide(idx, g)
            eng.record(self.iteration, n_up, n_down, v_up, v_down, idx)
        self.iteration += 1

    def _pulse_maps(self, run: "Run", step: int) -> tuple[np.ndarray | None, int, int, np.ndarray,
                                                           np.ndarray]:
        """The pulse phase of `iterate` for a `IsppEngine.fused` engine: the engine writes the
        round's (mask, amplitude) maps into buffers kept across rounds (no flat index of the
        active cells, no full-array allocation or scatter), one backend call; the same pulses,
        counts and events as the per-cell path.  Returns (pulsed rows ascending or None,
        cells potentiated, cells depressed, [largest V_P] or [], [largest |V_D|] or [])."""
        eng = self.engine
        mask, amps = self._pulse_buffers()
        p = eng.pulse_maps(self.per_row, mask, amps)
        n_up, n_down = int(p.n_up.sum()), int(p.n_down.sum())
        v_up = np.array([p.v_up_max_V]) if n_up else np.empty(0)
        v_down = np.array([p.v_down_max_V]) if n_down else np.empty(0)
        # one call: the backend runs the potentiation phase, then the depression phase
        self.backend.pulse_cells(mask, amps, self.width_s)
        rows_on = p.rows_on
        eng.count_mask(mask, rows_on)
        for n, sign, v in ((n_up, 1, v_up), (n_down, -1, v_down)):
            if not n:
                continue
            if self.per_cell:       # small arrays: the cells, ascending, with their amplitudes
                flat = amps.reshape(-1)
                idx = np.flatnonzero(mask.reshape(-1) & ((flat > 0) if sign > 0 else (flat < 0)))
                amp = flat[idx]
            else:                   # one aggregate row: the largest amplitude of the phase
                idx, amp = np.empty(0, np.int64), sign * v
            self._log(run, step, "pulse", idx, amp, None, self.width_s)
        return (np.flatnonzero(rows_on) if n_up + n_down else None), n_up, n_down, v_up, v_down

    def _pulse_buffers(self) -> tuple[np.ndarray, np.ndarray]:
        """The (mask, amps) maps of `_pulse_maps`, allocated once (the amps map doubles as the
        verify's scratch for the G of the verified cells: it is dead once pulsed)."""
        if self._maps is None:
            self._maps = (np.zeros(self.engine.shape, bool), np.zeros(self.engine.shape))
        return self._maps

    def _width_groups(self, up: np.ndarray, v_up: np.ndarray, down: np.ndarray, v_down: np.ndarray):
        """The round's pulses split by pulse width, one backend call each: all at ``width_s``
        unless the engine lengthens some (`AdaptiveEngine.width_factors`, past the ladder top)."""
        f_up, f_down = self.engine.width_factors(up), self.engine.width_factors(down)
        if f_up is None or f_down is None:
            return [((up, v_up, down, v_down), self.width_s)]
        groups = []
        for f in np.unique(np.concatenate([f_up, f_down])):
            u, d = f_up == f, f_down == f
            groups.append(((up[u], v_up[u], down[d], v_down[d]), self.width_s * float(f)))
        return groups or [((up, v_up, down, v_down), self.width_s)]

    def _verify_rows(self, run: "Run", step: int, pulsed_rows: np.ndarray | None, n_up: int, n_down: int,
                     v_up: np.ndarray, v_down: np.ndarray) -> bool:
        """The verify of `iterate` as whole-row reads (`IsppEngine.decide_rows`) when the cells
        to verify span every column, as in all but the smallest arrays; the same cells, reads
        and decisions as the per-cell path.  False (nothing done) where they do not."""
        from protocols.ispp_kernel import gather_verified, verify_counts

        eng = self.engine
        if self.per_cell:
            return False
        n_rows = eng.shape[0]
        prow = np.zeros(n_rows, bool)
        if pulsed_rows is not None:
            prow[pulsed_rows] = True
        # per row, the cells to verify (active, or converged in a pulsed row): one pass
        counts = np.empty(n_rows, np.int64)
        covered = verify_counts(eng.active, eng.converged, prow, counts)
        rows = np.flatnonzero(counts)
        if rows.size == 0 or not covered:
            return False
        full = rows.size == n_rows
        G = np.asarray(self.backend.read(None if full else rows, None, v_read_V=self.v_read_V))
        t = self.backend.clock.now()
        counts, check = counts[rows], prow[rows]
        n_ver = int(counts.sum())
        if self.fused and G.dtype == np.float64:   # the engine's pass also collects their G
            g_ver = self._pulse_buffers()[1].reshape(-1)[:n_ver]
            rel_mean = eng.decide_rows(None if full else rows, G, check, counts, g_ver)
        else:                                      # their G (as G[verified]) before deciding
            g_ver = np.empty(n_ver, G.dtype)
            offsets = np.zeros(rows.size + 1, np.int64)
            np.cumsum(counts, out=offsets[1:])
            gather_verified(rows, np.ascontiguousarray(G), check, eng.active, eng.converged, offsets, g_ver)
            rel_mean = eng.decide_rows(None if full else rows, G, check)
        run.append_events(make_events(1, t_s=t, V_V=0.0, width_s=0.0, G_S=float(g_ver.mean()),
                                      step=step, op="read"))
        eng.record(self.iteration, n_up, n_down, v_up, v_down, np.empty(0, np.int64), rel_mean)
        return True

    def _read(self, idx: np.ndarray, cols: int) -> np.ndarray:
        r, c = idx // cols, idx % cols
        rows, ucols = _rows_of(idx, self.engine.shape), _cols_of(idx, self.engine.shape)
        full_r, full_c = len(rows) == self.engine.shape[0], len(ucols) == cols
        G = self.backend.read(None if full_r else rows, None if full_c else ucols, v_read_V=self.v_read_V)
        ri = r if full_r else np.searchsorted(rows, r)
        ci = c if full_c else np.searchsorted(ucols, c)
        return np.asarray(G)[ri, ci]

    def _log(self, run: "Run", step: int, op: str, idx: np.ndarray, amp: np.ndarray | None,
             g: np.ndarray | None, width: float = 0.0) -> None:
        t = self.backend.clock.now()
        cols = self.engine.shape[1]
        if self.per_cell:
            run.append_events(make_events(
                idx.size, t_s=t, row=idx // cols, col=idx % cols, V_V=0.0 if amp is None else amp,
                width_s=width, G_S=np.nan if g is None else g, step=step, op=op))
        else:
            v = 0.0 if amp is None else float(amp[np.argmax(np.abs(amp))])
            run.append_events(make_events(1, t_s=t, V_V=v, width_s=width,
                                          G_S=np.nan if g is None else float(g.mean()),
                                          step=step, op=op))

    # -- checkpoint ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"iteration": self.iteration, "swept": self.swept, "engine": self.engine.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.iteration = int(state["iteration"])
        self.swept = bool(state.get("swept", False))
        self.engine.load_state_dict(state["engine"])

    # -- results ----------------------------------------------------------------------------------
    def write_results(self, run: "Run", target_S: np.ndarray, state: np.ndarray | None = None) -> None:
        """Per-cell outcome, summary histograms and the convergence history to `/results`.

        The outcome is judged on one final read of the whole array (so relaxation or disturb
        after a cell's last verify counts): converged = inside ``tol`` at that read."""
        eng = self.engine
        sel = eng.as_map(eng.selected)
        final = np.where(sel, self.backend.read(v_read_V=self.v_read_V), np.nan)
        err = final - target_S
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = err / target_S
        npulse = eng.as_map(eng.n_pulses)
        conv = sel & (np.abs(np.nan_to_num(err, nan=np.inf)) <= eng.as_map(eng.tol))
        run.write_result("target_G_S", target_S.astype(np.float32), "S",
                         description="target conductance per cell (NaN = not programmed)")
        if state is not None:
            run.write_result("state", state.astype(np.int32), "",
                             description="programmed state (level) index per cell, -1 = none")
        run.write_result("final_G_S", final.astype(np.float32), "S",
                         description="final read of every programmed cell, after the last round")
        run.write_result("error_S", err.astype(np.float32), "S", description="final G - target")
        run.write_result("rel_error", rel.astype(np.float32), "", description="(final G - target) / target")
        run.write_result("n_pulses", npulse, "", description="pulses applied per cell")
        t_on = eng.as_map(eng.pulse_time_units() * self.width_s).astype(np.float32)
        run.write_result("pulse_time_s", t_on, "s", description="total pulse-on time per cell")
        run.write_result("converged", conv, "", description="inside tolerance at the final read")
        run.write_result("stuck", eng.as_map(eng.stuck), "",
                         description="given up: stuck_after pulses in one direction moved it less than its tolerance")
        run.write_result("tol_S", eng.as_map(eng.tol).astype(np.float32), "S", description="tolerance per cell")
        n_sel = int(sel.sum())
        rate = float(conv[sel].mean()) if n_sel else float("nan")
        working = sel & ~eng.as_map(eng.stuck)
        rate_working = float(conv[working].mean()) if working.any() else float("nan")
        p = npulse[sel]
        edges = np.arange(0, (p.max() if p.size else 0) + 2)
        run.write_result("pulse_hist", np.histogram(p, edges)[0], "cells",
                         edges=edges, description="cells per number of pulses used")
        r = rel[sel & np.isfinite(rel)]
        e_edges = np.linspace(-0.1, 0.1, 81)
        run.write_result("error_hist", np.histogram(np.clip(r, -0.1, 0.1), e_edges)[0], "cells",
                         edges=e_edges, description="cells per relative final error (clipped to ±10 %)")
        run.write_result("history", np.asarray(eng.history), "", columns=list(HISTORY_COLUMNS),
                         description="one row per pulse round")
        run.write_result("convergence_rate", rate, "", n_cells=n_sel, n_converged=int(conv[sel].sum()),
                         n_stuck=int(eng.stuck.sum()), rate_working=rate_working,
                         mean_pulses=float(p.mean()) if p.size else 0.0,
                         max_pulses=int(p.max()) if p.size else 0,
                         mean_pulse_time_s=float(t_on[sel].mean()) if p.size else 0.0,
                         description="fraction of programmed cells that converged")
