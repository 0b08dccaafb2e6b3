"""Adaptive write-verify: each next amplitude from the cell's measured response so far.

ISPP (`protocols.ispp`) climbs its ladder one step per miss and restarts at the bottom
after every overshoot, so many of its pulses are spent finding, again and again, the
amplitude that moves the cell.  On a real bench every pulse costs milliseconds (SMU pulse
>= 0.5 ms, relay switching, a verify read), so this strategy learns it instead, from the
verify reads around each pulse, with no device model:

* Response: the change dG of a cell's last pulse at amplitude level k, in the pulse's
  direction.  dG above ``RESPONSE`` x the cell's tolerance counts as a response; each
  cell keeps its last response per direction, (k, ln dG).
* Amplitude sensitivity: ln dG grows about linearly with the amplitude for thermally
  activated switching (ionic hopping, filament growth: sinh of the field), with a slope
  that belongs to the device type, not to the cell.  The array learns it per direction as
  the median of (ln dG_2 - ln dG_1) / (k_2 - k_1) over the cells that responded at two
  different levels; nothing about it is assumed beforehand.
* Next pulse (a Newton step in amplitude): the highest level whose predicted change
  ``ln dG_k = ln dG_last + slope (k - k_last)`` does not exceed the distance still to go
  (to the aim point).  A cell without a response of its own in that direction starts from
  the array's responses (their 75th percentile, normalised to level 0 by the slope: a
  cautious prior), and before any slope is known it climbs ``CLIMB`` ladder steps per
  pulse without response, or steps by the ratio rule (need / dG > 2: up, < 1: down).
* Longer pulses past the ladder top (``width_steps`` > 0): above the top amplitude the
  levels go on as the top amplitude at 2, 4, ... 2^width_steps times the ISPP width (the
  protocol derives ``width_steps`` from its ``width_max_s``, which the device card's and the
  station's width limits bound).  A far-off cell then needs fewer pulses, each longer: what
  a bench saves is the per-pulse cost (verify read, relay switching, setup), not pulse-on
  time.  The Newton step runs on the piecewise-linear response coordinate
  u(k) = s_a min(k, top) + s_w max(k - top, 0): ``s_a`` is the amplitude slope above,
  ``s_w`` the response per width doubling, learned the same way from cells that responded
  at two widths at the top amplitude, and ln 2 (a change proportional to the pulse time)
  until it is.
  The distance aimed at is the distance to the aim point plus ``SLACK`` x the converge
  window (the change may end anywhere inside it).
* Trust region: a cell's level moves at most ``TRUST`` ladder steps from one pulse to the
  next (a slope estimated at one amplitude is not extrapolated far), and every amplitude is
  a level of the ISPP ladders (``*_start_V`` .. ``*_max_V`` in ``*_step_V``), which the
  protocol checks against the device card's and the station's safety limits, so no
  amplitude outside them is ever requested.  (Finer amplitude steps, 1/4 and 1/2 ladder
  step, were tried: with one amplitude per row and phase they split rows into more level
  groups, more cells wait, RRAM fell to 96-98 % converged within the rounds, and the
  pulse count did not improve.)

With ``row_amplitude = max`` each row pulses the level group of its longest-waiting cell
(ties: the highest level), because adaptive levels differ from cell to cell.  Convergence,
reopening, give-up (``stuck_after``) and ``max_pulses`` follow `IsppEngine`.
"""
from __future__ import annotations

import numpy as np

from hil.errors import ParameterError
from protocols.ispp import IsppEngine, Ladder

#: a change above this fraction of the cell's tolerance counts as a response to the pulse
RESPONSE = 0.1
#: ladder steps climbed per pulse without response while no slope is known
CLIMB = 4
#: the largest change of a cell's level from one pulse to the next (the Newton step's trust region)
TRUST = 4
#: the change aimed at: the distance to the aim point plus this fraction of the converge window
SLACK = 0.5
#: percentile of the array's normalised responses used for a cell without its own
PRIOR_PERCENTILE = 75.0
#: responses at two levels needed before the slope estimate is (re)set
MIN_SLOPE_SAMPLES = 3
#: response per width doubling assumed until measured: a change proportional to the pulse time
WIDTH_SLOPE_PRIOR = float(np.log(2.0))


class AdaptiveEngine(IsppEngine):
    """`IsppEngine` with the level of every pulse chosen from the cell's measured response
    (see the module docstring); the same interface, results and checkpoint round trip."""

    _ARRAYS = IsppEngine._ARRAYS + ("last_level", "last_dir", "g_before", "last_move", "k_pot",
                                    "lnm_pot", "k_dep", "lnm_dep", "waited", "g_last", "slope",
                                    "slope_w", "width_units")

    def __init__(self, target_S: np.ndarray, tol_S: np.ndarray | float, pot: Ladder, dep: Ladder,
                 max_pulses: int, stuck_after: int = 0, settle: float = 1.0, aim: float = 0.0,
                 width_steps: int = 0) -> None:
        super().__init__(target_S, tol_S, pot, dep, max_pulses, stuck_after, settle, aim)
        if not 0 <= int(width_steps) <= 16:
            raise ParameterError(f"width_steps={width_steps}: the pulse width doublings past the ladder "
                                 "top must be an integer in 0..16")
        self.width_steps = int(width_steps)
        n = self.target.size
        self.last_level = np.zeros(n, np.int16)          # level and direction of the last pulse
        self.last_dir = np.zeros(n, np.int8)
        self.g_before = np.full(n, np.nan, np.float32)   # G read before the last pulse
        self.last_move = np.full(n, np.nan, np.float32)  # its measured change, pulse direction
        self.k_pot = np.full(n, -1, np.int16)            # last response per direction: level (-1: none yet)
        self.lnm_pot = np.full(n, np.nan, np.float32)    # ... and ln of the change
        self.k_dep = np.full(n, -1, np.int16)
        self.lnm_dep = np.full(n, np.nan, np.float32)
        self.waited = np.zeros(n, np.int16)              # rounds due a pulse without one
        self.slope = np.full(2, np.nan, np.float64)      # d ln dG / d level: potentiation, depression
        self.slope_w = np.full(2, WIDTH_SLOPE_PRIOR)     # d ln dG / width doubling at the top amplitude
        self.width_units = np.zeros(n, np.float32)       # pulse-on time so far, in ISPP widths

    def _top(self, sign: int) -> int:
        """Highest amplitude level of direction ``sign`` (the ladder top)."""
        return self.pot.top if sign > 0 else self.dep.top

    def _u(self, k: np.ndarray, sign: int) -> np.ndarray:
        """Response coordinate of level ``k``: amplitude steps, then width doublings."""
        top, j = self._top(sign), 0 if sign > 0 else 1
        k = np.asarray(k, np.float64)
        return self.slope[j] * np.minimum(k, top) + self.slope_w[j] * np.maximum(k - top, 0)

    def _u_inv(self, u: np.ndarray, sign: int) -> np.ndarray:
        """The highest level whose response coordinate is at most ``u`` (unbounded ends)."""
        top, j = self._top(sign), 0 if sign > 0 else 1
        s, s_w = self.slope[j], self.slope_w[j]
        return np.where(u <= s * top, np.floor(u / s), top + np.floor((u - s * top) / s_w))

    def width_factors(self, idx: np.ndarray) -> np.ndarray:
        """`IsppEngine.width_factors` at the cells' current level: 1 on the ladder,
        2^(level - top) above it."""
        top = np.where(self.direction[idx] > 0, self.pot.top, self.dep.top)
        return np.exp2(np.maximum(self.level[idx].astype(np.int64) - top, 0)).astype(np.float64)

    def _own(self, sign: int) -> tuple[np.ndarray, np.ndarray, int]:
        return (self.k_pot, self.lnm_pot, 0) if sign > 0 else (self.k_dep, self.lnm_dep, 1)

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

    def pulse_time_units(self) -> np.ndarray:
        """`IsppEngine.pulse_time_units`: the sum of each cell's width factors."""
        return self.width_units

    def count_pulses(self, idx: np.ndarray) -> None:
        """Record one pulse on cells ``idx`` at their current level and direction."""
        super().count_pulses(idx)
        self.width_units[idx] += self.width_factors(idx)
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
        self.decide(idx, g)
        t = self.target[idx]
        rel = np.abs(g.astype(np.float32) - t) / np.maximum(t, 1e-30)
        return float(rel.mean()) if rel.size else float("nan")

    # -- the decision ---------------------------------------------------------------------
    def _learn(self, idx: np.ndarray, g: np.ndarray) -> None:
        """The change of the cells ``idx`` pulsed since their last verify (read now at ``g``):
        their last response per direction, and the array's amplitude slope."""
        hit = self.pulsed[idx]
        ii = idx[hit]
        if ii.size == 0:
            return
        d = self.last_dir[ii]
        k = self.last_level[ii].astype(np.int64)
        m = d * (g[hit] - self.g_before[ii])
        self.last_move[ii] = m
        resp = np.isfinite(m) & (m > RESPONSE * self.tol[ii])
        for sign in (1, -1):
            kk, lnm, j = self._own(sign)
            sel = resp & (d == sign)
            cells, k_now, ln_now = ii[sel], k[sel], np.log(m[sel])
            k_old = kk[cells].astype(np.int64)
            two = (k_old >= 0) & (k_old != k_now)
            top = self._top(sign)
            # amplitude slope from pairs on the ladder, width slope from pairs at its top
            amp = two & (k_old <= top) & (k_now <= top)
            wid = two & (k_old >= top) & (k_now >= top)
            for pair, slopes, unset in ((amp, self.slope, np.isnan(self.slope[j])), (wid, self.slope_w, False)):
                if np.count_nonzero(pair) >= MIN_SLOPE_SAMPLES or (unset and pair.any()):
                    s = np.median((ln_now[pair] - lnm[cells[pair]]) / (k_now[pair] - k_old[pair]))
                    if np.isfinite(s) and s > 0:       # smoothed over rounds
                        old = slopes[j]
                        slopes[j] = s if np.isnan(old) else 0.5 * (old + s)
            kk[cells], lnm[cells] = k_now, ln_now

    def _choose(self, idx: np.ndarray, want: np.ndarray, err: np.ndarray, hit: np.ndarray) -> np.ndarray:
        """Ladder level of the next pulse of cells ``idx`` in direction ``want``,
        ``|err|`` from their aim point (``hit``: pulsed since the last verify)."""
        # the largest change that still lands inside the converge window
        need = np.maximum(np.abs(err) + SLACK * self.settle * self.tol[idx], 1e-30)
        level = np.zeros(idx.size, np.int64)
        for sign, lad in ((1, self.pot), (-1, self.dep)):
            sel = want == sign
            if not sel.any():
                continue
            kk, lnm, j = self._own(sign)
            cells, nd = idx[sel], need[sel]
            last = self.last_level[cells].astype(np.int64)
            cont = (self.last_dir[cells] == sign) & hit[sel]
            m = self.last_move[cells].astype(np.float64)
            responded = cont & np.isfinite(m) & (m > RESPONSE * self.tol[cells])
            k_own = kk[cells].astype(np.int64)
            s = self.slope[j]
            if np.isfinite(s):
                # Newton step from the cell's last response; the array's responses as a prior
                have = k_own >= 0
                ln_own = np.where(have, lnm[cells], 0.0)
                k_newton = np.where(have, self._u_inv(self._u(k_own, sign) + np.log(nd) - ln_own, sign), 0)
                known = kk >= 0
                if known.any():
                    a = np.percentile(lnm[known] - self._u(kk[known], sign), PRIOR_PERCENTILE)
                    k_prior = self._u_inv(np.log(nd) - a, sign)
                else:
                    k_prior = np.zeros(nd.size)
                k = np.where(have, k_newton, k_prior)
                k = np.where(cont & ~responded, np.maximum(last + 1, k), k)
                # trust region: around the last level of a continuing cell, else around the
                # cell's own last response in this direction, else around the array's median
                # responding level (the ladder start while no cell has responded)
                centre = np.where(cont, last, np.where(have, k_own, -1))
                if known.any():
                    centre = np.where(centre >= 0, centre, int(np.percentile(kk[known], 50)))
                k = np.where(centre >= 0, np.clip(k, centre - TRUST, centre + TRUST), 0)
            else:
                ratio = nd / np.maximum(np.where(np.isfinite(m), m, 0.0), 1e-30)
                step = np.where(ratio > 2.0, 1, np.where(ratio >= 1.0, 0, -1))
                k = np.where(responded, last + step, np.where(cont, last + CLIMB,
                                                              np.maximum(k_own - 1, 0)))
            # a cell that waited keeps its level (as ISPP)
            waiting = (self.last_dir[cells] == sign) & ~hit[sel] & (self.direction[cells] == sign)
            k = np.where(waiting, self.level[cells], k)
            level[sel] = np.clip(k, 0, lad.top + self.width_steps)
        return level

    def _decide_active(self, idx: np.ndarray, g: np.ndarray) -> None:
        """`IsppEngine._decide_active`, after learning each cell's response from ``g``."""
        self._learn(idx, g)
        super()._decide_active(idx, g)

    def _next_level(self, idx: np.ndarray, want: np.ndarray, same: np.ndarray, hit: np.ndarray,
                    err: np.ndarray) -> np.ndarray:
        """The level chosen from the cell's measured response (`_choose`) instead of ISPP's step."""
        return self._choose(idx, want, err, hit).astype(np.int16)
