"""Fused ECRAM array kernels (numba): one pass per row phase and per read, no temporaries.

The formulas of `ecram` and `h1e1t_cell` (float32 throughout, the same operation order)
evaluated cell by cell on the array's own buffers: the selected rows are visited in place
(no gathers, no scatters, no full-array temporaries), and the loops are branch-free so that
they compile to SIMD code, with `fastmath.expf`/`logf` for the transcendental functions.
Random numbers still come from the array's numpy Generator, drawn in one call per phase
into a reused buffer, so the random stream (and `state_dict` resumption) is the numpy
path's.  Results agree with the numpy formulas to float32 rounding (the polynomial exp/log
differ from numpy's SIMD loops in the last bits), not bit for bit: see
tests/test_perf_equivalence_ecram.py for the per-pulse agreement and the statistics of a
whole write-verify run.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from sim_backends.devices.fastmath import expf, logf, normal_of_word


#: cells per inner block: each stage loop touches at most ~6 arrays (LLVM vectorizes a loop
#: only when its runtime alias checks stay few) and the block buffers stay in L1/L2 cache
_BLOCK = 1024


@njit(cache=True, nogil=True, error_model="numpy")
def row_phase(x, t_prog, nu, g_on, floor, k_p, k_d, beta, dead_rows, dead_cols,
              rows, tmask, eg_r, ed_r, gsel_t_r, gsel_o_r, ceil_t_r, ceil_o_r, z,
              now_r, tau_s, v0_p, v0_d, width_s, sigma, half_sigma2, prog_dose):
    """One pulse on each row ``rows[k]`` (targets ``tmask[k]``, pulse time ``now_r[k]``)
    with the per-row line voltages of the H-1E1T scheme; updates ``x`` and ``t_prog``.

    Per cell: retention factor and relaxed state (`ecram.retention_factor`), channel
    conductance, selector/channel divider and source-follower ceiling
    (`h1e1t_cell.gate_voltage`, ES = 0), sinh dose (`ecram.pulse_dose`), lognormal
    cycle-to-cycle factor exp(sigma z - sigma^2 / 2) from ``z`` (`ecram.apply_dose`; z = 0
    and sigma = 0 without noise), and the programming-event rule of `H1E1TArray._update`:
    a dose above ``prog_dose`` sets the state and restarts the cell's relaxation clock, a
    smaller one stores the programmed-state equivalent (new / factor, at most 1) on the
    running clock.  Returns the number of cells with a programming event."""
    one = np.float32(1.0)
    zero = np.float32(0.0)
    half = np.float32(0.5)
    n_prog = 0
    n_cols = x.shape[1]
    fac = np.empty(_BLOCK, np.float32)
    xn = np.empty(_BLOCK, np.float32)
    v = np.empty(_BLOCK, np.float32)
    dose = np.empty(_BLOCK, np.float32)
    new = np.empty(_BLOCK, np.float32)
    for k in range(rows.size):
        r = rows[k]
        eg, ed, now_s = eg_r[k], ed_r[k], now_r[k]
        g_t, g_o, c_t, c_o = gsel_t_r[k], gsel_o_r[k], ceil_t_r[k], ceil_o_r[k]
        dead_r = dead_rows[r]
        for j0 in range(0, n_cols, _BLOCK):
            m = min(_BLOCK, n_cols - j0)
            xr, tr = x[r, j0:j0 + m], t_prog[r, j0:j0 + m]
            nur, gr, fr = nu[r, j0:j0 + m], g_on[r, j0:j0 + m], floor[r, j0:j0 + m]
            for j in range(m):
                t = max(np.float32(now_s - tr[j]), zero)
                fac[j] = expf(-nur[j] * logf(one + t / tau_s))
            for j in range(m):
                xn[j] = xr[j] * fac[j]
            br, tmk, dc = beta[r, j0:j0 + m], tmask[k, j0:j0 + m], dead_cols[j0:j0 + m]
            for j in range(m):
                fl = fr[j]
                g_e = gr[j] * (fl + (one - fl) * xn[j])
                tm = tmk[j]
                g_sel = (g_t if tm else g_o) * br[j]
                node = (g_sel * ed + g_e * zero) / (g_sel + g_e)
                vj = eg - min(node, c_t if tm else c_o)
                v[j] = zero if (dead_r or dc[j]) else vj
            kpr, kdr = k_p[r, j0:j0 + m], k_d[r, j0:j0 + m]
            for j in range(m):
                vj = v[j]
                pos = vj > zero
                ez = expf(abs(vj) / (v0_p if pos else v0_d))
                dose[j] = (kpr[j] if pos else -kdr[j]) * (half * (ez - one / ez)) * width_s
            zk = z[k, j0:j0 + m]
            for j in range(m):
                dj = dose[j]
                decay = expf(-(abs(dj) * expf(sigma * zk[j] - half_sigma2)))
                xj = xn[j]
                new[j] = one - (one - xj) * decay if dj > zero else xj * decay
            cnt = 0
            for j in range(m):
                dj = dose[j]
                prog = abs(dj) > prog_dose
                moved = dj != zero
                nj = new[j]
                xr[j] = nj if prog else (min(nj / fac[j], one) if moved else xr[j])
                tr[j] = now_s if prog else tr[j]
                cnt += prog
            n_prog += cnt
    return n_prog


@njit(cache=True, nogil=True, error_model="numpy")
def read(x, t_prog, nu, g_on, floor, rows, cols, all_cols, z, now_s, tau_s, rel_sigma,
         abs_sigma, out):
    """Measured conductance of the rows x cols sub-array into ``out`` (float64): relaxed
    state, `ecram.conductance`, `ecram.read_noise` (G + sqrt((s_rel G)^2 + s_abs^2) z) with
    the normal draws ``z``.  ``all_cols``: ``cols`` is every column in order (contiguous)."""
    one = np.float32(1.0)
    zero = np.float32(0.0)
    abs2 = abs_sigma * abs_sigma
    n_cols = x.shape[1]
    xn = np.empty(_BLOCK, np.float32)
    for a in range(rows.size):
        r = rows[a]
        if all_cols:
            for j0 in range(0, n_cols, _BLOCK):
                m = min(_BLOCK, n_cols - j0)
                xr, tr, nur = x[r, j0:j0 + m], t_prog[r, j0:j0 + m], nu[r, j0:j0 + m]
                for c in range(m):
                    t = max(np.float32(now_s - tr[c]), zero)
                    xn[c] = xr[c] * expf(-nur[c] * logf(one + t / tau_s))
                gr, fr, za, oa = g_on[r, j0:j0 + m], floor[r, j0:j0 + m], z[a, j0:j0 + m], \
                    out[a, j0:j0 + m]
                for c in range(m):
                    fl = fr[c]
                    g = gr[c] * (fl + (one - fl) * xn[c])
                    sg = rel_sigma * g
                    oa[c] = g + np.sqrt(sg * sg + abs2) * za[c]
        else:
            for b in range(cols.size):
                c = cols[b]
                t = max(np.float32(now_s - t_prog[r, c]), zero)
                xc = x[r, c] * expf(-nu[r, c] * logf(one + t / tau_s))
                fl = floor[r, c]
                g = g_on[r, c] * (fl + (one - fl) * xc)
                sg = rel_sigma * g
                out[a, b] = g + np.sqrt(sg * sg + abs2) * z[a, b]


@njit(cache=True, nogil=True, error_model="numpy")
def read_one(x, t_prog, nu, g_on, floor, r, c, raw, now_s, tau_s, rel_sigma, abs_sigma):
    """`read` of the one cell (r, c) with the normal draw of the 64 random bits ``raw`` (as
    `fastmath.standard_normal` makes one draw: the low 32-bit word), as a float."""
    one = np.float32(1.0)
    zero = np.float32(0.0)
    z = normal_of_word(np.uint32(raw & np.uint64(0xFFFFFFFF)))
    t = max(np.float32(now_s - t_prog[r, c]), zero)
    xc = x[r, c] * expf(-nu[r, c] * logf(one + t / tau_s))
    fl = floor[r, c]
    g = g_on[r, c] * (fl + (one - fl) * xc)
    sg = rel_sigma * g
    return np.float64(g + np.sqrt(sg * sg + abs_sigma * abs_sigma) * z)
