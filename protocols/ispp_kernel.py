"""Fused numba passes of `IsppEngine` at array scale, row-parallel.

`decide_block` is `IsppEngine.decide_rows`: one loop over a block's cells, touching only
the cells being verified, instead of ~40 numpy passes and integer gathers/scatters of every
active cell (at 4 Mb nearly all cells are active in the first ~30 rounds).  The arithmetic
and the per-cell order of operations are those of `IsppEngine._reopen` and
`IsppEngine._decide_active` (float64 comparisons, the same integer widths), so the
decisions are identical to the numpy path (tests/test_perf_equivalence_ispp.py).

`pulse_maps` is `IsppEngine.next_pulses` written straight into the (mask, amplitude) maps
`Backend.pulse_cells` takes (no flat index of every active cell, no scatter), and
`count_mask` is `IsppEngine.count_pulses` of those maps.

Every kernel runs its rows on the kernel threads (`hil.threads.split_run`:
``nogil`` workers over row ranges, Python threads rather than ``parallel=True``, which a
forked child cannot use after its parent).  Rows are independent (a row's cells are written
by that row's worker only), so the result does not depend on the number of threads:
integer counts are exact, and the one float sum (the mean relative error of the history)
adds per-row partial sums in row order.  The workers index row views (``x2[i][j]``) of the
flat per-cell arrays.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from hil.threads import split_run


@njit(cache=True, nogil=True)
def _count_rows(i0, i1, act2, conv2, check_rows, counts):
    n_cols = act2.shape[1]
    for i in range(i0, i1):
        act = act2[i]
        c = 0
        if check_rows[i]:
            conv = conv2[i]
            for j in range(n_cols):
                c += np.uint8(act[j]) | np.uint8(conv[j])
        else:
            for j in range(n_cols):
                c += np.uint8(act[j])
        counts[i] = c


@njit(cache=True, nogil=True)
def _covered(act2, conv2, check_rows, counts):
    # usually settled by the first rows, so scanned in order with an early exit
    n_rows, n_cols = act2.shape
    seen = np.zeros(n_cols, np.bool_)
    left = n_cols
    for i in range(n_rows):
        if counts[i] == 0:
            continue
        act = act2[i]
        conv = conv2[i]
        chk = check_rows[i]
        for j in range(n_cols):
            if not seen[j] and (act[j] or (chk and conv[j])):
                seen[j] = True
                left -= 1
        if left == 0:
            break
    return left == 0


def verify_counts(active: np.ndarray, converged: np.ndarray, check_rows: np.ndarray,
                  counts: np.ndarray) -> bool:
    """Cells to verify per row into ``counts``: active, or converged in a row with
    ``check_rows[i]`` (``active``/``converged`` flat per cell, ``check_rows`` and ``counts``
    per row).  Returns whether every column holds a cell to verify in some row."""
    n_rows = check_rows.size
    act2 = active.reshape(n_rows, -1)
    conv2 = converged.reshape(n_rows, -1)
    split_run(_count_rows, n_rows, active.size, act2, conv2, check_rows, counts)
    return bool(_covered(act2, conv2, check_rows, counts))


@njit(cache=True, nogil=True)
def _gather_rows(a0, a1, rows, G, check_rows, act2, conv2, offsets, out):
    n_cols = G.shape[1]
    for a in range(a0, a1):
        act = act2[rows[a]]
        conv = conv2[rows[a]]
        g = G[a]
        chk = check_rows[a]
        k = offsets[a]
        for j in range(n_cols):
            if act[j] or (chk and conv[j]):
                out[k] = g[j]
                k += 1


def gather_verified(rows: np.ndarray, G: np.ndarray, check_rows: np.ndarray, active: np.ndarray,
                    converged: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
    """``G[a, j]`` of the cells to verify of block row ``a`` (array row ``rows[a]``), row-major,
    into ``out[offsets[a]:offsets[a + 1]]`` (the order of a boolean gather ``G[verified]``)."""
    n_cols = G.shape[1]
    split_run(_gather_rows, rows.size, rows.size * n_cols, rows, G, check_rows,
              active.reshape(-1, n_cols), converged.reshape(-1, n_cols), offsets, out)


@njit(cache=True, nogil=True, error_model="numpy")
def _decide_rows(a0, a1, rows, G, check_rows, offsets, g_out, target2, tol2, active2, conv2,
                 stuck2, npul2, level2, dir2, streak2, gref2, glast2, pulsed2, pot_top, dep_top,
                 max_pulses, stuck_after, settle, aim, re_row, ver_row, rel_row):
    n_cols = G.shape[1]
    write = g_out.size > 0
    for a in range(a0, a1):
        r = rows[a]
        Gr = G[a]
        tg, tl_r, act_r, conv_r = target2[r], tol2[r], active2[r], conv2[r]
        stuck_r, npul_r, level_r, dir_r = stuck2[r], npul2[r], level2[r], dir2[r]
        streak_r, gref_r, glast_r, pulsed_r = streak2[r], gref2[r], glast2[r], pulsed2[r]
        chk = check_rows[a]
        k = offsets[a]
        n_re = 0
        n_ver = 0
        rel_sum = 0.0
        for j in range(n_cols):
            act = act_r[j]
            if not (act or (chk and conv_r[j])):
                continue
            g = Gr[j]
            if write:
                g_out[k] = g
                k += 1
            g32 = np.float32(g)
            glast_r[j] = g32
            t = tg[j]
            n_ver += 1
            rel_sum += abs(np.float64(g32) - t) / max(t, 1e-30)
            tl = tl_r[j]
            if not act:                      # converged and checked: reopen if outside tol
                if abs(g - t) > tl:
                    conv_r[j] = False
                    act_r[j] = True
                    dir_r[j] = 0
                    n_re += 1
                else:
                    continue
            err = g - t - aim * tl
            ok = abs(err) <= settle * tl
            want = 1 if err < 0 else -1
            same = want == dir_r[j]
            hit = 1 if pulsed_r[j] else 0
            pulsed_r[j] = False
            top = pot_top if want > 0 else dep_top
            if same:
                lv = min(level_r[j] + hit, top)
                st = streak_r[j] + hit
                gr = gref_r[j]
            else:
                lv = 0
                st = 0
                gr = g32
            is_stuck = False
            if stuck_after > 0 and not ok and st >= stuck_after:
                is_stuck = want * (g - np.float64(gr)) < tl
            out = (not ok) and (not is_stuck) and npul_r[j] >= max_pulses
            if ok:
                conv_r[j] = True
            if is_stuck:
                stuck_r[j] = True
            keep = not (ok or is_stuck or out)
            if not keep:
                act_r[j] = False
            dir_r[j] = want if keep else 0
            level_r[j] = lv
            streak_r[j] = st
            gref_r[j] = gr
        re_row[a] = n_re
        ver_row[a] = n_ver
        rel_row[a] = rel_sum


def decide_block(rows, G, check_rows, offsets, g_out, target, tol, active, converged, stuck,
                 n_pulses, level, direction, streak, g_ref, g_last, pulsed, pot_top, dep_top,
                 max_pulses, stuck_after, settle, aim):
    """Decide the cells of rows ``rows`` (block position a -> array row rows[a], distinct)
    read at ``G`` (len(rows), cols); all state arrays are the engine's flat per-cell arrays.

    A cell is verified when active, or converged in a row with ``check_rows[a]``; a
    verified converged cell outside target +- tol is reopened (direction 0) and decided
    with the active ones.  Where ``g_out`` is not empty, the G of the verified cells of
    block row ``a`` go to ``g_out[offsets[a]:]`` in column order (``offsets``: the running
    sum of the rows' verified counts, as `verify_counts` gives them).  Returns (cells
    reopened, sum of |G32 - target| / target over verified cells, number verified), G32
    being the float32 value stored in ``g_last``; the sum adds per-row sums in row order."""
    n_cols = G.shape[1]
    sh = (-1, n_cols)
    n_blk = rows.size
    re_row, ver_row = np.empty(n_blk, np.int64), np.empty(n_blk, np.int64)
    rel_row = np.empty(n_blk)
    split_run(_decide_rows, n_blk, n_blk * n_cols, rows, G, check_rows, offsets, g_out,
              *(a.reshape(sh) for a in (target, tol, active, converged, stuck, n_pulses, level,
                                        direction, streak, g_ref, g_last, pulsed)),
              pot_top, dep_top, max_pulses, stuck_after, settle, aim, re_row, ver_row, rel_row)
    rel_sum = 0.0
    for x in rel_row.tolist():      # fixed order: the same sum for any number of threads
        rel_sum += x
    return int(re_row.sum()), rel_sum, int(ver_row.sum())


@njit(cache=True, nogil=True)
def _map_rows(i0, i1, act2, dir2, lev2, per_row, amp_up, amp_dn, mask, amps, n_up, n_down, v_up,
              v_down):
    n_cols = mask.shape[1]
    last = np.int16(amp_up.size - 1)          # (memory safety only: levels are <= the tops)
    for i in range(i0, i1):
        act, dr, lev, m_r, a_r = act2[i], dir2[i], lev2[i], mask[i], amps[i]
        nu = 0
        nd = 0
        vu = 0.0
        vd = 0.0
        if per_row:
            # one level per row and direction: the highest due
            top_up = np.int16(-1)
            top_dn = np.int16(-1)
            for j in range(n_cols):
                lv = lev[j]
                d = dr[j]
                top_up = max(top_up, lv if (act[j] & (d > 0)) else np.int16(-1))
                top_dn = max(top_dn, lv if (act[j] & (d < 0)) else np.int16(-1))
            au = amp_up[min(top_up, last)] if top_up >= 0 else 0.0
            ad = -amp_dn[min(top_dn, last)] if top_dn >= 0 else 0.0
            for j in range(n_cols):
                lv = lev[j]
                d = dr[j]
                up = act[j] & (d > 0) & (lv == top_up)
                dn = act[j] & (d < 0) & (lv == top_dn)
                m_r[j] = up | dn
                a_r[j] = au if up else (ad if dn else 0.0)
                nu += np.int64(up)
                nd += np.int64(dn)
            vu = au if nu else 0.0
            vd = -ad if nd else 0.0
        else:
            for j in range(n_cols):
                lv = min(lev[j], last)
                d = dr[j]
                up = act[j] & (d > 0)
                dn = act[j] & (d < 0)
                au = amp_up[lv]
                ad = amp_dn[lv]
                m_r[j] = up | dn
                a_r[j] = au if up else (-ad if dn else 0.0)
                nu += np.int64(up)
                nd += np.int64(dn)
                vu = max(vu, au if up else 0.0)
                vd = max(vd, ad if dn else 0.0)
        n_up[i] = nu
        n_down[i] = nd
        v_up[i] = vu
        v_down[i] = vd


def pulse_maps(active, direction, level, per_row, amp_up, amp_dn, mask, amps, n_up, n_down,
               v_up, v_down):
    """The next pulses of every cell as maps: ``mask`` (rows, cols) bool and ``amps`` signed
    amplitudes (V_P > 0, -V_D < 0, 0 where no pulse), overwritten everywhere.

    A cell pulses when active with a direction; ``per_row``: only the cells at the highest
    ladder level due in their row and direction (`protocols.ispp.row_max_level`).  The
    amplitude of level k is ``amp_up[k]`` / ``amp_dn[k]`` (`Ladder.amplitude` of every level
    0..top of the ladders: the engine never sets a level above its ladder's top).  Per row:
    the cells potentiated / depressed (``n_up``, ``n_down``) and their largest amplitude
    magnitude (``v_up``, ``v_down``; 0 where none).  Branch-free per cell (the directions of
    a round are mixed at random)."""
    n_rows, n_cols = mask.shape
    split_run(_map_rows, n_rows, mask.size, active.reshape(n_rows, n_cols),
              direction.reshape(n_rows, n_cols), level.reshape(n_rows, n_cols), per_row,
              amp_up, amp_dn, mask, amps, n_up, n_down, v_up, v_down)


@njit(cache=True, nogil=True)
def _count_mask_rows(i0, i1, mask, rows_on, npul2, pulsed2):
    for i in range(i0, i1):
        if not rows_on[i]:
            continue
        m, npr, pr = mask[i], npul2[i], pulsed2[i]
        for j in range(mask.shape[1]):          # branch-free: adds 0 or 1
            on = m[j]
            npr[j] += np.int32(on)
            pr[j] = pr[j] | on


def count_mask(mask: np.ndarray, rows_on: np.ndarray, n_pulses: np.ndarray, pulsed: np.ndarray) -> None:
    """One pulse more for every cell of ``mask`` (rows, cols), in the rows where ``rows_on``
    (the others hold none): ``n_pulses += 1``, ``pulsed = True`` (flat per-cell arrays)."""
    n_rows, n_cols = mask.shape
    split_run(_count_mask_rows, n_rows, mask.size, mask, rows_on, n_pulses.reshape(n_rows, n_cols),
              pulsed.reshape(n_rows, n_cols))
