"""The ISPP verify decision of a block of whole rows as one fused pass (numba).

`IsppEngine.decide_rows` at array scale: one loop over the block's cells, touching only
the cells being verified, instead of ~40 numpy passes and integer gathers/scatters of every
active cell (at 4 Mb nearly all cells are active in the first ~30 rounds).  The arithmetic
and the per-cell order of operations are those of `IsppEngine._reopen` and
`IsppEngine._decide_active` (float64 comparisons, the same integer widths), so the
decisions are identical to the numpy path (tests/test_perf_equivalence_ispp.py).
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def decide_block(rows, G, check_rows, target, tol, active, converged, stuck, n_pulses,
                 level, direction, streak, g_ref, g_last, pulsed, pot_top, dep_top,
                 max_pulses, stuck_after, settle, aim):
    """Decide the cells of rows ``rows`` (block position a -> array row rows[a]) read at
    ``G`` (len(rows), cols); all state arrays are the engine's flat per-cell arrays.

    A cell is verified when active, or converged in a row with ``check_rows[a]``; a
    verified converged cell outside target +- tol is reopened (direction 0) and decided
    with the active ones.  Returns (cells reopened, sum of |G32 - target| / target over
    verified cells, number verified), G32 being the float32 value stored in ``g_last``."""
    n_cols = G.shape[1]
    n_re = 0
    rel_sum = 0.0
    n_ver = 0
    for a in range(rows.size):
        base = rows[a] * n_cols
        chk = check_rows[a]
        for j in range(n_cols):
            i = base + j
            act = active[i]
            if not (act or (chk and converged[i])):
                continue
            g = G[a, j]
            g32 = np.float32(g)
            g_last[i] = g32
            t = target[i]
            n_ver += 1
            rel_sum += abs(np.float64(g32) - t) / max(t, 1e-30)
            tl = tol[i]
            if not act:                      # converged and checked: reopen if outside tol
                if abs(g - t) > tl:
                    converged[i] = False
                    active[i] = True
                    direction[i] = 0
                    n_re += 1
                else:
                    continue
            err = g - t - aim * tl
            ok = abs(err) <= settle * tl
            want = 1 if err < 0 else -1
            same = want == direction[i]
            hit = 1 if pulsed[i] else 0
            pulsed[i] = False
            top = pot_top if want > 0 else dep_top
            if same:
                lv = min(level[i] + hit, top)
                st = streak[i] + hit
                gr = g_ref[i]
            else:
                lv = 0
                st = 0
                gr = g32
            is_stuck = False
            if stuck_after > 0 and not ok and st >= stuck_after:
                is_stuck = want * (g - np.float64(gr)) < tl
            out = (not ok) and (not is_stuck) and n_pulses[i] >= max_pulses
            if ok:
                converged[i] = True
            if is_stuck:
                stuck[i] = True
            keep = not (ok or is_stuck or out)
            if not keep:
                active[i] = False
            direction[i] = want if keep else 0
            level[i] = lv
            streak[i] = st
            g_ref[i] = gr
    return n_re, rel_sum, n_ver
