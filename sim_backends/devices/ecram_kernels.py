"""Fused ECRAM array kernels (numba): one pass per row phase and per read, no temporaries.

The formulas of `ecram` and `h1e1t_cell` (float32 throughout, the same operation order)
evaluated cell by cell on the array's own buffers: the selected rows are visited in place
(no gathers, no scatters, no full-array temporaries), and the loops are branch-free so that
they compile to SIMD code, with `fastmath.expf`/`logf` for the transcendental functions.
Random numbers still come from the array's numpy Generator: drawn inside the kernels from
its PCG64 state (`normals.pcg64_reserve`; the one-cell `read_one_at` steps the generator's
own state words), or into a reused buffer, the same values in the same order either way,
so the random stream (and `state_dict` resumption) is the numpy path's.  Rows are
independent: the kernels split them over threads (`hil.threads.split_run`) with
bit-identical results for any thread count.  Results agree with the numpy formulas
to float32 rounding (the polynomial exp/log differ from numpy's SIMD loops in the last
bits), not bit for bit: see
tests/test_perf_equivalence_ecram.py for the per-pulse agreement and the statistics of a
whole write-verify run.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from hil.threads import split_run
from sim_backends.devices.fastmath import expf, logf, normal_of_word
from sim_backends.devices.normals import _pcg64_step, pcg64_advance, pcg64_fill, pcg64_output


#: cells per inner block: each stage loop touches at most ~6 arrays (LLVM vectorizes a loop
#: only when its runtime alias checks stay few) and the block buffers stay in L1/L2 cache
_BLOCK = 1024
_J = dict(cache=True, nogil=True, error_model="numpy")
#: where the kernels take their normal draws: none (z = 0), a given array, or drawn in the
#: kernel from PCG64 words (`normals.pcg64_reserve`; no buffer, no separate pass)
NOISE_NONE, NOISE_ARRAY, NOISE_PCG = 0, 1, 2
#: the unused ``z`` / ``pcg`` arguments
NO_Z = np.zeros((0, 0), np.float32)
NO_PCG = np.zeros(4, np.uint64)


def row_phase(x: np.ndarray, *args: Any) -> int:
    """One pulse on each row ``rows[k]`` (targets: the cells where ``codes[crow[k]]``
    equals ``code_k[k]``, e.g. a plan's DAC code map and the pulse's signed code; pulse time
    ``now_r[k]``) with the per-row line voltages of the H-1E1T scheme; updates ``x`` and
    ``t_prog``; the arguments of `_pulse_rows` after its row range.  The rows (distinct,
    as in a `hil.plan.row_passes` pass) run on the kernel threads (`hil.threads.split_run`);
    the count is an integer sum, exact in any order.

    Per cell: retention factor and relaxed state (`ecram.retention_factor`), channel
    conductance, selector/channel divider and source-follower ceiling
    (`h1e1t_cell.gate_voltage`, ES = 0), sinh dose (`ecram.pulse_dose`), lognormal
    cycle-to-cycle factor exp(sigma z - sigma^2 / 2) (`ecram.apply_dose`), and the
    programming-event rule of `H1E1TArray._update`:
    a dose above ``prog_dose`` sets the state and restarts the cell's relaxation clock, a
    smaller one stores the programmed-state equivalent (new / factor, at most 1) on the
    running clock.  Returns the number of cells with a programming event.

    The normal draws z (row k's: values k * cols on), by ``noise``: `NOISE_NONE` z = 0
    (sigma = 0); `NOISE_ARRAY` the array ``z`` (len(rows), cols); `NOISE_PCG` drawn here
    from the PCG64 words ``pcg`` (`normals.pcg64_reserve`; even cols only), the values
    `normals.standard_normal` would put in that array."""
    n = args[9].size      # rows (the 11th argument)
    return sum(split_run(_pulse_rows, n, n * x.shape[1], x, *args))


@njit(**_J)
def _pulse_rows(k0, k1, x, t_prog, nu, g_on, floor, k_p, k_d, beta, dead_rows, dead_cols,
                rows, codes, crow, code_k, eg_r, ed_r, gsel_t_r, gsel_o_r, ceil_t_r, ceil_o_r,
                noise, z, pcg, now_r, tau_s, v0_p, v0_d, width_s, sigma, half_sigma2,
                prog_dose):
    """`row_phase` of the rows ``rows[k0:k1]`` (serial, block by block); returns their
    count of programming events."""
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
    zb = np.zeros(_BLOCK, np.float32)       # the block's normal draws (0: no noise)
    words = np.empty(_BLOCK, np.uint32)
    h, lo = np.uint64(0), np.uint64(0)
    for k in range(k0, k1):
        r = rows[k]
        if noise == NOISE_PCG:    # row k's draws start at output k * cols / 2
            h, lo = pcg64_advance(pcg[0], pcg[1], pcg[2], pcg[3], np.uint64(k * (n_cols // 2)))
        eg, ed, now_s = eg_r[k], ed_r[k], now_r[k]
        g_t, g_o, c_t, c_o = gsel_t_r[k], gsel_o_r[k], ceil_t_r[k], ceil_o_r[k]
        dead_r = dead_rows[r]
        cr, ck = crow[k], code_k[k]
        for j0 in range(0, n_cols, _BLOCK):
            m = min(_BLOCK, n_cols - j0)
            xr, tr = x[r, j0:j0 + m], t_prog[r, j0:j0 + m]
            nur, gr, fr = nu[r, j0:j0 + m], g_on[r, j0:j0 + m], floor[r, j0:j0 + m]
            for j in range(m):
                t = max(np.float32(now_s - tr[j]), zero)
                fac[j] = expf(-nur[j] * logf(one + t / tau_s))
            for j in range(m):
                xn[j] = xr[j] * fac[j]
            br, cd, dc = beta[r, j0:j0 + m], codes[cr, j0:j0 + m], dead_cols[j0:j0 + m]
            for j in range(m):
                fl = fr[j]
                g_e = gr[j] * (fl + (one - fl) * xn[j])
                tm = cd[j] == ck
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
            if noise == NOISE_ARRAY:
                zk = z[k, j0:j0 + m]
                for j in range(m):
                    zb[j] = zk[j]
            elif noise == NOISE_PCG:
                h, lo = pcg64_fill(h, lo, pcg[2], pcg[3], words, zb, m)
            for j in range(m):
                dj = dose[j]
                decay = expf(-(abs(dj) * expf(sigma * zb[j] - half_sigma2)))
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


def read(x: np.ndarray, t_prog: np.ndarray, nu: np.ndarray, g_on: np.ndarray,
         floor: np.ndarray, rows: np.ndarray, cols: np.ndarray, *args: Any) -> None:
    """Measured conductance of the rows x cols sub-array into ``out`` (float64): relaxed
    state, `ecram.conductance`, `ecram.read_noise` (G + sqrt((s_rel G)^2 + s_abs^2) z) with
    the normal draws z: ``noise`` `NOISE_ARRAY`: the array ``z`` (as ``out``);
    `NOISE_PCG` (``all_cols`` and even cols only): drawn here from the PCG64 words ``pcg``,
    output row a's from value a * cols on (as `row_phase`).  ``all_cols``: ``cols`` is
    every column in order (contiguous); the arguments of `_read_rows` after its row range.
    Output rows are independent: they run on the kernel threads (`hil.threads.split_run`)."""
    split_run(_read_rows, rows.size, rows.size * cols.size, x, t_prog, nu, g_on, floor, rows,
              cols, *args)


@njit(**_J)
def _read_rows(a0, a1, x, t_prog, nu, g_on, floor, rows, cols, all_cols, noise, z, pcg, now_s,
               tau_s, rel_sigma, abs_sigma, out):
    """`read` of the output rows ``a0:a1`` (serial)."""
    one = np.float32(1.0)
    zero = np.float32(0.0)
    abs2 = abs_sigma * abs_sigma
    n_cols = x.shape[1]
    xn = np.empty(_BLOCK, np.float32)
    zb = np.empty(_BLOCK, np.float32)       # the block's normal draws
    words = np.empty(_BLOCK, np.uint32)
    h, lo = np.uint64(0), np.uint64(0)
    for a in range(a0, a1):
        r = rows[a]
        if all_cols:
            if noise == NOISE_PCG:    # output row a's draws start at output a * cols / 2
                h, lo = pcg64_advance(pcg[0], pcg[1], pcg[2], pcg[3],
                                      np.uint64(a * (n_cols // 2)))
            for j0 in range(0, n_cols, _BLOCK):
                m = min(_BLOCK, n_cols - j0)
                xr, tr, nur = x[r, j0:j0 + m], t_prog[r, j0:j0 + m], nu[r, j0:j0 + m]
                for c in range(m):
                    t = max(np.float32(now_s - tr[c]), zero)
                    xn[c] = xr[c] * expf(-nur[c] * logf(one + t / tau_s))
                if noise == NOISE_PCG:
                    h, lo = pcg64_fill(h, lo, pcg[2], pcg[3], words, zb, m)
                else:
                    za = z[a, j0:j0 + m]
                    for c in range(m):
                        zb[c] = za[c]
                gr, fr, oa = g_on[r, j0:j0 + m], floor[r, j0:j0 + m], out[a, j0:j0 + m]
                for c in range(m):
                    fl = fr[c]
                    g = gr[c] * (fl + (one - fl) * xn[c])
                    sg = rel_sigma * g
                    oa[c] = g + np.sqrt(sg * sg + abs2) * zb[c]
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
    `normals.standard_normal` makes one draw: the low 32-bit word), as a float."""
    return _read_g(x[r, c], t_prog[r, c], nu[r, c], g_on[r, c], floor[r, c], raw, now_s,
                   tau_s, rel_sigma, abs_sigma)


@njit(inline="always", cache=True, error_model="numpy")
def _read_g(x, t_prog, nu, g_on, fl, raw, now_s, tau_s, rel_sigma, abs_sigma):
    """`read_one` of a cell given its elements (float32; ``t_prog`` float64)."""
    one = np.float32(1.0)
    zero = np.float32(0.0)
    z = normal_of_word(np.uint32(raw & np.uint64(0xFFFFFFFF)))
    t = max(np.float32(now_s - t_prog), zero)
    xc = x * expf(-nu * logf(one + t / tau_s))
    g = g_on * (fl + (one - fl) * xc)
    sg = rel_sigma * g
    return np.float64(g + np.sqrt(sg * sg + abs_sigma * abs_sigma) * z)


def _pointer(ty: Any) -> Any:
    """An intrinsic: an address (int) as a numba pointer to ``ty`` (``p[0]`` loads/stores)."""
    @intrinsic
    def as_pointer(typingctx, addr):   # noqa: ARG001
        sig = types.CPointer(ty)(types.intp)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))
        return sig, codegen
    return as_pointer


_f32_at, _f64_at = _pointer(types.float32), _pointer(types.float64)
_i64_at, _u64_at = _pointer(types.int64), _pointer(types.uint64)


#: `read_one_at`'s cell block: int64 words 0-5 the addresses of the cell's x, t_prog, nu,
#: g_on and floor elements and of the PCG64 state words; float64 words 6-8 tau_s,
#: rel_sigma and abs_sigma (float32 values)
CELL_WORDS = 9


@njit(cache=True, error_model="numpy")   # holds the GIL: it steps the generator's own state
def read_one_at(cell_at, now_s):
    """`read_one` of the cell described by the block at address ``cell_at`` (`CELL_WORDS`:
    its elements' addresses, ``x``, ``nu``, ``g_on``, ``floor`` float32 and ``t_prog``
    float64, and the float32 constants), drawing its 64 random bits itself: one step of
    the PCG64 generator whose state words (uint64 [state low, state high, increment low,
    increment high]: the generator's own memory, `h1e1t_read.pcg64_words`) the block
    points to, advanced in place, with the output ``random_raw()`` gives (XSL-RR).  Two
    plain arguments: nothing to unbox per call (a spot query's kernel call).  The caller
    keeps the block, the arrays and the generator alive."""
    a = _i64_at(cell_at)
    k = _f64_at(cell_at + 48)
    pcg = _u64_at(a[5])
    h, lo = _pcg64_step(pcg[1], pcg[0], pcg[3], pcg[2])
    pcg[0] = lo
    pcg[1] = h
    return _read_g(_f32_at(a[0])[0], _f64_at(a[1])[0], _f32_at(a[2])[0], _f32_at(a[3])[0],
                   _f32_at(a[4])[0], pcg64_output(h, lo), now_s, np.float32(k[0]), np.float32(k[1]),
                   np.float32(k[2]))
