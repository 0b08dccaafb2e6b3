"""Adaptive write-verify: each next amplitude from the cell's measured response so far.

ISPP (`protocols.ispp`) climbs its ladder one step per miss and restarts at the bottom
after every overshoot, so many of its pulses are spent finding, again and again, the
amplitude that moves the cell.  On a real bench every pulse costs milliseconds (SMU pulse
>= 0.5 ms, relay switching, a verify read), so this strategy learns it instead, per cell,
from the verify reads around each pulse, with no device model:

* Measured gain: the change dG of the cell's last pulse at its level k, against the
  distance ``need`` still to go (to the aim point).  dG below the cell's tolerance counts
  as no response (the tolerance is a few read-noise sigmas wide).
* Same direction as the last pulse: no response -> climb one ladder step (two while the
  cell is more than ``FAR`` x its last change away); need > ``REPEAT_RATIO`` dG -> one step
  up; dG <= need <= ``REPEAT_RATIO`` dG -> the same level (the response is about right);
  need < dG -> one step down (the last step would overshoot).  This covers cumulative
  devices (ECRAM: repeated pulses add up) and amplitude-set devices (RRAM set: a repeat at
  the same amplitude moves little, so the cell climbs on).
* New direction (after an overshoot) or first pulse: one step below the level at which
  the cell last moved in that direction (its working level), else one step below the
  array's median working level of that direction, else the ladder start.  ISPP restarts
  at the bottom of the ladder here.
* Bounds: the levels of the ISPP ladders (``*_start_V`` .. ``*_max_V`` in ``*_step_V``),
  which the protocol parameters check against the device card's and the station's safety
  limits, so no amplitude outside them is ever requested.

With ``row_amplitude = max`` each row pulses the level group of its longest-waiting cell
(ISPP: the highest level), because adaptive levels differ from cell to cell.  Convergence,
reopening, give-up (``stuck_after``) and ``max_pulses`` follow `IsppEngine`.
"""
from __future__ import annotations

import numpy as np

from protocols.ispp import IsppEngine, Ladder

#: need / dG above which a responsive cell climbs a step
REPEAT_RATIO = 2.0
#: need / dG above which a cell without a (detectable) response climbs two steps
FAR = 5.0


class AdaptiveEngine(IsppEngine):
    """`IsppEngine` with the level of every pulse chosen from the cell's measured response
    (see the module docstring); the same interface, results and checkpoint round trip."""

    _ARRAYS = IsppEngine._ARRAYS + ("last_level", "last_dir", "g_before", "last_move",
                                    "work_pot", "work_dep", "waited", "g_last")

    def __init__(self, target_S: np.ndarray, tol_S: np.ndarray | float, pot: Ladder, dep: Ladder,
                 max_pulses: int, stuck_after: int = 0, settle: float = 1.0, aim: float = 0.0) -> None:
        super().__init__(target_S, tol_S, pot, dep, max_pulses, stuck_after, settle, aim)
        n = self.target.size
        self.last_level = np.zeros(n, np.int16)          # level and direction of the last pulse
        self.last_dir = np.zeros(n, np.int8)
        self.g_before = np.full(n, np.nan, np.float32)   # G read before the last pulse
        self.last_move = np.full(n, np.nan, np.float32)  # its measured change, pulse direction
        self.work_pot = np.full(n, -1, np.int16)         # last level that moved the cell (-1: none)
        self.work_dep = np.full(n, -1, np.int16)
        self.waited = np.zeros(n, np.int16)              # rounds due a pulse without one

    # -- pulses ---------------------------------------------------------------------------
    def next_pulses(self, per_row: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """`IsppEngine.next_pulses`; with ``per_row`` each row pulses the level group of its
        longest-waiting cell (ties: the highest level), so that cells due a low level are
        not starved by a far-off cell of their row."""
        idx = self.active_index()
        d = self.direction[idx]
        up, down = idx[d > 0], idx[d < 0]
        if per_row:
            up, down = self._row_groups(up), self._row_groups(down)
            self.waited[idx[d != 0]] += 1
            self.waited[up] = 0
            self.waited[down] = 0
        return up, self.pot.amplitude(self.level[up]), down, self.dep.amplitude(self.level[down])

    def _row_groups(self, idx: np.ndarray) -> np.ndarray:
        """The cells of ``idx`` (flat, ascending) in the level group each row pulses."""
        if idx.size == 0:
            return idx
        rows = idx // self.shape[1]
        key = self.waited[idx].astype(np.int64) * 65536 + self.level[idx]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        best = np.maximum.reduceat(key, starts) % 65536           # level of the chosen group
        return idx[self.level[idx] == np.repeat(best, np.diff(np.r_[starts, idx.size]))]

    def count_pulses(self, idx: np.ndarray) -> None:
        """Record one pulse on cells ``idx`` at their current level and direction."""
        super().count_pulses(idx)
        self.last_level[idx] = self.level[idx]
        self.last_dir[idx] = self.direction[idx]
        self.g_before[idx] = self.g_last[idx]

    def decide_rows(self, rows: np.ndarray | None, G_S: np.ndarray, check_rows: np.ndarray) -> float:
        """`IsppEngine.decide_rows` through the per-cell `decide` (the adaptive choice)."""
        cols = self.shape[1]
        r = np.arange(self.shape[0]) if rows is None else np.asarray(rows)
        act = self.active.reshape(self.shape)[r]
        conv = self.converged.reshape(self.shape)[r] & np.asarray(check_rows, bool)[:, None]
        pos = np.flatnonzero(act | conv)
        idx = r[pos // cols] * cols + pos % cols
        g = np.asarray(G_S, np.float64).reshape(-1)[pos]
        # g_last is overwritten by decide: keep G before the pulse for the response
        self.decide(idx, g)
        t = self.target[idx]
        rel = np.abs(g.astype(np.float32) - t) / np.maximum(t, 1e-30)
        return float(rel.mean()) if rel.size else float("nan")

    # -- the decision ---------------------------------------------------------------------
    def _learn(self, idx: np.ndarray, g: np.ndarray) -> None:
        """Measured change of the cells ``idx`` pulsed since their last verify, and their
        working level where they moved."""
        hit = self.pulsed[idx]
        ii = idx[hit]
        if ii.size == 0:
            return
        d = self.last_dir[ii]
        m = d * (g[hit] - self.g_before[ii])
        self.last_move[ii] = m
        moved = np.isfinite(m) & (m > self.tol[ii])
        for sign, work in ((1, self.work_pot), (-1, self.work_dep)):
            sel = moved & (d == sign)
            work[ii[sel]] = self.last_level[ii[sel]]

    def _choose(self, idx: np.ndarray, want: np.ndarray, err: np.ndarray, hit: np.ndarray) -> np.ndarray:
        """Ladder level of the next pulse of cells ``idx`` in direction ``want``, ``|err|``
        from their aim point (``hit``: pulsed since the last verify)."""
        need = np.abs(err)
        level = np.zeros(idx.size, np.int64)
        for sign, work, lad in ((1, self.work_pot, self.pot), (-1, self.work_dep, self.dep)):
            sel = want == sign
            if not sel.any():
                continue
            cells = idx[sel]
            last = self.last_level[cells].astype(np.int64)
            cont = (self.last_dir[cells] == sign) & hit[sel]
            m = self.last_move[cells].astype(np.float64)
            tol = self.tol[cells]
            nd = need[sel]
            responsive = np.isfinite(m) & (m > tol)
            ratio = nd / np.maximum(np.where(np.isfinite(m), m, 0.0), 1e-30)
            step = np.where(responsive,
                            np.where(ratio > REPEAT_RATIO, 1, np.where(ratio >= 1.0, 0, -1)),
                            np.where(ratio > FAR, 2, 1))
            k_cont = last + step
            # a new direction: one step below where the cell (else the array) last moved
            w = work[cells].astype(np.int64)
            known = work[work >= 0]
            pop = int(np.median(known)) if known.size else -1
            k_new = np.where(w >= 0, w - 1, pop - 1 if pop >= 0 else 0)
            # a cell that waited keeps its level (as ISPP); a continuing one adapts
            waiting = (self.last_dir[cells] == sign) & ~hit[sel] & (self.direction[cells] == sign)
            k = np.where(cont, k_cont, np.where(waiting, self.level[cells], k_new))
            level[sel] = np.clip(k, 0, lad.top)
        return level

    def _decide_active(self, idx: np.ndarray, g: np.ndarray) -> None:
        """`IsppEngine._decide_active`, after learning each cell's response from ``g``."""
        self._learn(idx, g)
        super()._decide_active(idx, g)

    def _next_level(self, idx: np.ndarray, want: np.ndarray, same: np.ndarray, hit: np.ndarray,
                    err: np.ndarray) -> np.ndarray:
        """The level chosen from the cell's measured response (`_choose`) instead of ISPP's step."""
        return self._choose(idx, want, err, hit).astype(np.int16)
