"""Vectorized incremental-step-pulse programming (ISPP) with verify, for whole arrays.

The write-verify scheme of MTT Fig. S8: read, and while a cell is outside its tolerance band
apply a pulse towards the target; after every miss in the same direction the amplitude rises
one step of the direction's ladder (potentiation V_P and depression V_D ladders are separate);
after an overshoot the direction flips and the amplitude restarts at the bottom of the other
ladder.  A cell stops when it is inside tolerance (converged), when it used ``max_pulses``
(failed), or when ``stuck_after`` consecutive pulses in one direction moved it less than its
tolerance towards the target (stuck: a dead or saturated cell, given up early).

This module holds no backend and no file: `IsppEngine.decide` takes the conductances just
read for the active cells and sets the next pulses; the protocol does the I/O.  All state is
numpy arrays so that `state_dict` round-trips through a run checkpoint.  Amplitudes are
quantized on the ladders, so a lab backend that can only drive one amplitude per phase can
group cells by ladder level.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hil.errors import ParameterError

#: per-iteration history columns (see `IsppEngine.history`)
HISTORY_COLUMNS = ("pulse", "n_active", "n_converged", "n_stuck", "n_failed",
                   "n_potentiate", "n_depress", "mean_abs_rel_err_verified", "v_p_max_V",
                   "v_d_max_V", "n_reopened")


@dataclass(frozen=True)
class Ladder:
    """Amplitude ladder of one direction: ``start_V + k * step_V`` up to ``max_V`` (magnitudes)."""

    start_V: float
    step_V: float
    max_V: float

    def __post_init__(self) -> None:
        if not (self.start_V > 0 and self.step_V >= 0 and self.max_V >= self.start_V):
            raise ParameterError(
                f"amplitude ladder start={self.start_V} V, step={self.step_V} V, max={self.max_V} V: "
                "need start > 0, step >= 0 and max >= start")

    @property
    def top(self) -> int:
        """Highest ladder index."""
        if self.step_V == 0:
            return 0
        return int(np.floor((self.max_V - self.start_V) / self.step_V + 1e-9))

    def amplitude(self, k: np.ndarray) -> np.ndarray:
        return np.minimum(self.start_V + np.asarray(k, dtype=float) * self.step_V, self.max_V)


def row_max_level(idx: np.ndarray, level: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The cells of ``idx`` (flat, ascending) whose ladder level is the highest in their row."""
    if idx.size == 0:
        return idx
    rows = idx // shape[1]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    lv = level[idx]
    top = np.maximum.reduceat(lv, starts)
    return idx[lv == np.repeat(top, np.diff(np.r_[starts, idx.size]))]


@dataclass(frozen=True)
class PulseRound:
    """What `IsppEngine.pulse_maps` put in the maps: per row, the cells potentiated
    (``n_up``) and depressed (``n_down``); the largest V_P and V_D magnitude (0 if none)."""

    n_up: np.ndarray
    n_down: np.ndarray
    v_up_max_V: float
    v_down_max_V: float

    @property
    def rows_on(self) -> np.ndarray:
        """Bool per row: the row holds a pulse."""
        return (self.n_up + self.n_down) > 0


#: the `IsppEngine` methods whose decisions the fused passes reproduce (`IsppEngine.fused`)
_FUSED_METHODS = ("decide", "decide_rows", "_reopen", "_decide_active", "_next_level",
                  "next_pulses", "count_pulses", "width_factors")


class IsppEngine:
    """ISPP state of every cell of an array.

    ``target_S``: (rows, cols) targets, NaN for cells not to program.  ``tol_S``: tolerance
    band half-width per cell (same shape or scalar).  ``settle``/``aim``: a programmed cell
    converges when within ``settle * tol_S`` of ``target + aim * tol_S`` and is reopened only
    when it leaves ``target ± tol_S`` (hysteresis, so that read noise, retention relaxation and
    small half-select disturb do not reopen it; aim > 0 pre-compensates downward relaxation).
    """

    def __init__(self, target_S: np.ndarray, tol_S: np.ndarray | float, pot: Ladder, dep: Ladder,
                 max_pulses: int, stuck_after: int = 0, settle: float = 1.0, aim: float = 0.0) -> None:
        target_S = np.asarray(target_S, dtype=np.float64)
        if target_S.ndim != 2:
            raise ParameterError(f"target map must be 2-D (rows, cols), got shape {target_S.shape}")
        self.shape = target_S.shape
        self.pot, self.dep = pot, dep
        self.max_pulses, self.stuck_after = int(max_pulses), int(stuck_after)
        if not 0 < settle <= 1:
            raise ParameterError(f"settle={settle} must be in (0, 1]: the fraction of the tolerance "
                                 "band a cell must reach before it counts as converged")
        self.settle = float(settle)
        if not abs(aim) + settle <= 1:
            raise ParameterError(f"aim={aim} and settle={settle}: the converge window aim*tol ± settle*tol "
                                 "must lie inside the tolerance band (|aim| + settle <= 1)")
        self.aim = float(aim)
        self.target = target_S.ravel()
        self.tol = np.broadcast_to(np.asarray(tol_S, dtype=np.float64), self.shape).ravel().copy()
        n = self.target.size
        sel = np.isfinite(self.target)
        self.selected = sel
        self.n_selected = int(np.count_nonzero(sel))
        self.active = sel.copy()
        self.converged = np.zeros(n, bool)
        self.stuck = np.zeros(n, bool)
        self.n_pulses = np.zeros(n, np.int32)
        self.level = np.zeros(n, np.int16)          # ladder index of the next pulse
        self.direction = np.zeros(n, np.int8)       # +1 potentiate, -1 depress, 0 none yet
        self.streak = np.zeros(n, np.int16)         # pulses since the last direction change
        self.g_ref = np.full(n, np.nan, np.float32)  # G at the start of the streak
        self.g_last = np.full(n, np.nan, np.float32)
        self.pulsed = np.zeros(n, bool)             # pulsed since the last verify
        self.history: list[list[float]] = []
        self.n_reopened = 0   # converged cells found outside their band again (total)

    # -- queries ---------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return not self.active.any()

    def active_index(self) -> np.ndarray:
        """Flat indices of cells still being programmed."""
        return np.flatnonzero(self.active)

    def failed(self) -> np.ndarray:
        """Selected cells that neither converged nor were declared stuck (ran out of pulses)."""
        return self.selected & ~self.converged & ~self.stuck & ~self.active

    # -- the verify decision -------------------------------------------------------------
    def verify_index(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Flat indices to verify: active cells, plus converged cells in ``rows`` (the rows
        being programmed, whose converged cells may have been disturbed by half-selection)."""
        if rows is None:
            return self.active_index()
        r = np.zeros(self.shape[0], bool)
        r[rows] = True
        mask = self.active | (self.converged & np.repeat(r, self.shape[1]))
        return np.flatnonzero(mask)

    def decide(self, idx: np.ndarray, g_S: np.ndarray) -> None:
        """Take the conductances ``g_S`` just read for cells ``idx``; set the next pulses.

        ``idx`` holds active cells and may hold converged ones: a converged cell found
        outside its band again (disturbed) is reopened and programmed from the ladder start.
        """
        g_all = np.asarray(g_S, dtype=np.float64)
        self.g_last[idx] = g_all
        was_conv = self.converged[idx]
        if was_conv.any():
            ci = idx[was_conv]
            out = np.abs(g_all[was_conv] - self.target[ci]) > self.tol[ci]
            self._reopen(ci[out])
        keep_act = self.active[idx]
        self._decide_active(idx[keep_act], g_all[keep_act])

    def _reopen(self, re: np.ndarray) -> None:
        """Converged cells ``re`` found outside their band: program them again from the start."""
        self.converged[re] = False
        self.active[re] = True
        self.direction[re] = 0
        self.n_reopened += re.size

    def decide_rows(self, rows: np.ndarray | None, G_S: np.ndarray, check_rows: np.ndarray,
                    counts: np.ndarray | None = None, g_out: np.ndarray | None = None) -> float:
        """`decide` for a block of whole rows read at once, without per-cell gathers of the
        (mostly converged) block: ``rows`` ascending (None = all rows), ``G_S`` their read
        (len(rows), cols); the active cells of every row are decided and the converged cells
        of the rows where ``check_rows`` (bool per block row) is set are checked for reopening.
        The same cells, values and decisions as `decide` of their flat indices, in one fused
        row-parallel pass over the block (`protocols.ispp_kernel.decide_block`: no per-cell
        integer index however many cells are active); returns the mean |G - target| / target
        of the verified cells (the history column), NaN if none.

        ``g_out`` (float64, optional): receives the G of the verified cells, row-major (the
        order of ``G_S[verified]``); ``counts``: the verified cells per block row, as
        `protocols.ispp_kernel.verify_counts` gives them (counted here where not given)."""
        from protocols.ispp_kernel import decide_block, verify_counts

        rows = np.arange(self.shape[0]) if rows is None else np.asarray(rows)
        rows = rows.astype(np.int64, copy=False)
        G = np.ascontiguousarray(G_S, dtype=np.float64)
        check = np.ascontiguousarray(check_rows, dtype=bool)
        offsets = np.zeros(rows.size + 1, np.int64)
        if g_out is None:
            g_out = np.empty(0)
        elif g_out.dtype != np.float64:
            raise ValueError(f"g_out must be float64 (the G of the verified cells), got {g_out.dtype}")
        else:
            if counts is None:
                full = np.zeros(self.shape[0], np.int64)
                chk = np.zeros(self.shape[0], bool)
                chk[rows] = check
                verify_counts(self.active, self.converged, chk, full)
                counts = full[rows]
            np.cumsum(counts, out=offsets[1:])
            if g_out.size < offsets[-1]:
                raise ValueError(f"g_out holds {g_out.size} values; {offsets[-1]} cells are verified")
        n_re, rel_sum, n_ver = decide_block(
            rows, G, check, offsets, g_out, self.target, self.tol, self.active, self.converged,
            self.stuck, self.n_pulses, self.level, self.direction, self.streak, self.g_ref,
            self.g_last, self.pulsed, self.pot.top, self.dep.top, self.max_pulses,
            self.stuck_after, self.settle, self.aim)
        self.n_reopened += int(n_re)
        return rel_sum / n_ver if n_ver else float("nan")

    def _next_level(self, idx: np.ndarray, want: np.ndarray, same: np.ndarray, hit: np.ndarray,
                    err: np.ndarray) -> np.ndarray:
        """Ladder level of each cell's next pulse (ISPP): one step up while it keeps its
        direction (a cell that waited a round keeps its level), the bottom after a reversal."""
        top = np.where(want > 0, self.pot.top, self.dep.top)
        return np.where(same, np.minimum(self.level[idx] + hit, top), 0).astype(np.int16)

    def _decide_active(self, idx: np.ndarray, g: np.ndarray) -> None:
        """The ladder decision for active cells ``idx`` (ascending) read at ``g``."""
        tol = self.tol[idx]
        err = g - self.target[idx] - self.aim * tol          # distance from the aim point
        ok = np.abs(err) <= self.settle * tol
        want = np.where(err < 0, 1, -1).astype(np.int8)
        same = want == self.direction[idx]
        hit = self.pulsed[idx]            # a cell that waited a round keeps its level
        self.pulsed[idx] = False
        level = self._next_level(idx, want, same, hit, err)
        streak = np.where(same, self.streak[idx] + hit, 0).astype(np.int16)
        g_ref = np.where(same, self.g_ref[idx], g).astype(np.float32)
        stuck = np.zeros_like(ok)
        if self.stuck_after > 0:
            moved = want * (g - g_ref)
            stuck = ~ok & (streak >= self.stuck_after) & (moved < tol)
        out = ~ok & ~stuck & (self.n_pulses[idx] >= self.max_pulses)
        self.converged[idx[ok]] = True
        self.stuck[idx[stuck]] = True
        keep = ~(ok | stuck | out)
        self.active[idx[~keep]] = False
        self.direction[idx] = np.where(keep, want, 0)
        self.level[idx], self.streak[idx], self.g_ref[idx] = level, streak, g_ref

    def next_pulses(self, per_row: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(flat idx to potentiate, their V_P magnitudes, flat idx to depress, their V_D magnitudes).

        ``per_row``: one amplitude per row and phase, as one EG (potentiation) or ED
        (depression) pulse of a row-wise scheme delivers: the highest ladder level any cell
        of the row is due; the cells due a lower level wait this round (their level is kept).
        """
        idx = self.active_index()
        d = self.direction[idx]
        up, down = idx[d > 0], idx[d < 0]
        if per_row:
            up, down = row_max_level(up, self.level, self.shape), row_max_level(down, self.level, self.shape)
        return up, self.pot.amplitude(self.level[up]), down, self.dep.amplitude(self.level[down])

    @property
    def fused(self) -> bool:
        """Whether the fused map passes (`pulse_maps`, `count_mask`, `decide_rows` with
        ``g_out``) are this engine's decisions: True for `IsppEngine` itself, False for a
        subclass that overrides how pulses are chosen, counted or decided (e.g.
        `protocols.adaptive.AdaptiveEngine`), which then keeps the per-cell path."""
        cls = type(self)
        return all(getattr(cls, m) is getattr(IsppEngine, m) for m in _FUSED_METHODS)

    def pulse_maps(self, per_row: bool, mask: np.ndarray, amps: np.ndarray) -> "PulseRound":
        """`next_pulses` written into maps: ``mask`` (rows, cols) bool and ``amps`` float64
        signed amplitudes (V_P, -V_D; 0 where no pulse), both overwritten; the same cells and
        amplitudes, in one row-parallel pass without a flat index of the active cells."""
        from protocols.ispp_kernel import pulse_maps

        if mask.shape != self.shape or amps.shape != self.shape or mask.dtype != bool \
                or amps.dtype != np.float64 or not (mask.flags.c_contiguous and amps.flags.c_contiguous):
            raise ValueError(f"pulse maps must be C-contiguous bool and float64 arrays of shape "
                             f"{self.shape}; got {mask.dtype} {mask.shape}, {amps.dtype} {amps.shape}")
        n_rows = self.shape[0]
        n_up, n_down = np.empty(n_rows, np.int64), np.empty(n_rows, np.int64)
        v_up, v_down = np.empty(n_rows), np.empty(n_rows)
        # the amplitude of every level, looked up per cell (levels never exceed the ladder
        # tops: `_next_level` clips them; both tables cover the higher top)
        levels = np.arange(max(self.pot.top, self.dep.top) + 1)
        pulse_maps(self.active, self.direction, self.level, bool(per_row), self.pot.amplitude(levels),
                   self.dep.amplitude(levels), mask, amps, n_up, n_down, v_up, v_down)
        return PulseRound(n_up, n_down, float(v_up.max(initial=0.0)), float(v_down.max(initial=0.0)))

    def count_mask(self, mask: np.ndarray, rows_on: np.ndarray) -> None:
        """`count_pulses` of the cells of ``mask`` (rows, cols); ``rows_on``: bool per row, False
        for the rows that hold none (skipped)."""
        from protocols.ispp_kernel import count_mask

        count_mask(mask, np.ascontiguousarray(rows_on, dtype=bool), self.n_pulses, self.pulsed)

    def count_pulses(self, idx: np.ndarray) -> None:
        """Record that the cells ``idx`` received one pulse."""
        self.n_pulses[idx] += 1
        self.pulsed[idx] = True

    def width_factors(self, idx: np.ndarray) -> np.ndarray | None:
        """Pulse width of the next pulse of cells ``idx`` in units of the protocol's width;
        None: every pulse at that width (ISPP; `AdaptiveEngine` lengthens some)."""
        return None

    def pulse_time_units(self) -> np.ndarray:
        """Pulse-on time of every cell so far, in units of the protocol's width."""
        return self.n_pulses

    def record(self, pulse: int, n_up: int, n_down: int, v_up: np.ndarray, v_down: np.ndarray,
               verified: np.ndarray, rel_mean: float | None = None) -> None:
        """Append one row of `HISTORY_COLUMNS` (called after `decide` of the cells ``verified``;
        ``rel_mean``: their mean relative error where already known, from `decide_rows`)."""
        if rel_mean is None:
            rel = np.abs(self.g_last[verified] - self.target[verified]) / np.maximum(self.target[verified], 1e-30)
            rel_mean = float(rel.mean()) if rel.size else float("nan")
        n_act, n_conv, n_stuck = (np.count_nonzero(a) for a in (self.active, self.converged, self.stuck))
        # active, converged and stuck cells are disjoint subsets of the selected ones
        n_failed = self.n_selected - n_act - n_conv - n_stuck
        self.history.append([
            float(pulse), float(n_act), float(n_conv), float(n_stuck), float(n_failed), float(n_up),
            float(n_down), rel_mean,
            float(v_up.max()) if v_up.size else 0.0, float(v_down.max()) if v_down.size else 0.0,
            float(self.n_reopened)])

    # -- results ---------------------------------------------------------------------------
    def as_map(self, flat: np.ndarray) -> np.ndarray:
        return flat.reshape(self.shape)

    # -- checkpoint --------------------------------------------------------------------------
    # g_last is not checkpointed: it is only read (by `record`) in the round that set it.  The
    # ladder state of inactive cells is never read again (direction is 0 there, and a reopened
    # cell restarts from direction 0), so it is stored for the active cells only.
    _ARRAYS = ("active", "converged", "stuck", "n_pulses", "pulsed")
    _ACTIVE_ARRAYS = ("level", "direction", "streak", "g_ref")

    def state_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in self._ARRAYS}
        for k in self._ACTIVE_ARRAYS:
            out[k] = getattr(self, k)[self.active]
        out["history"] = np.asarray(self.history, dtype=np.float64).reshape(-1, len(HISTORY_COLUMNS))
        out["n_reopened"] = int(self.n_reopened)
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k in self._ARRAYS:
            arr = np.asarray(state[k])
            cur = getattr(self, k)
            if arr.shape != cur.shape:
                raise ValueError(f"checkpoint array {k!r} has shape {arr.shape}, expected {cur.shape}")
            setattr(self, k, arr.astype(cur.dtype, copy=True))
        n_active = int(np.count_nonzero(self.active))
        for k in self._ACTIVE_ARRAYS:
            arr = np.asarray(state[k])
            cur = getattr(self, k)
            full = np.zeros_like(cur) if k != "g_ref" else np.full_like(cur, np.nan)
            if arr.shape == cur.shape:          # a checkpoint of the whole array
                full[:] = arr
            elif arr.shape == (n_active,):
                full[self.active] = arr
            else:
                raise ValueError(f"checkpoint array {k!r} has shape {arr.shape}, expected {cur.shape} "
                                 f"or ({n_active},) (the active cells)")
            setattr(self, k, full)
        self.history = [list(map(float, r)) for r in np.asarray(state["history"]).reshape(-1, len(HISTORY_COLUMNS))]
        self.n_reopened = int(state.get("n_reopened", 0))
