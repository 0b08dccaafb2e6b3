"""Bipolar filamentary RRAM (TaOx for the MTT study, HfOx 1T1R for the drift study).

State: w in [0, 1], the filament strength.
  I(w, V) = G_f(w) (w V + (1 - w) V_nl sinh(V / V_nl)),  G_f = G_off + (G_on - G_off) w
ohmic when the filament is complete, tunnelling-like (super-linear) at high resistance:
the nonlinear read of Fig. S19f.  Switching is soft-bounded like the ECRAM model but with a
small field scale (threshold-like) and a large lognormal cycle-to-cycle spread ("stochastic
set/reset", §2.2):
  set   (V > 0): w -> w_cc - (w_cc - w) e^-dose,  dose = k_set sinh(V / V0_set) t
  reset (V < 0): w -> w e^-dose,  dose = k_reset sinh(max(|V| / V0_reset - gamma (1 - w), 0)) t
(gamma > 0: the growing gap raises the reset barrier, so reset is voltage-controlled and
gradual instead of running away as the cell current drops.)
The set end point w_cc is where the filament carries the compliance current at the hold
voltage, G(w_cc) = I_cc / V_hold (I_cc: the access transistor's current; Ielmini's
R = V_hold / I_cc law), with per-pulse programming noise sigma_prog(G) of REFERENCE §5 when the
card asks for it (HfOx, "2 %" setting).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim_backends.devices._card import get_card, num
from sim_backends.devices.transistor import TransistorParams, as_float, drain_current


@dataclass(frozen=True)
class RramParams:
    g_on_S: float
    g_off_S: float
    v_nl_V: float
    k_set_per_s: float
    v0_set_V: float
    k_reset_per_s: float
    v0_reset_V: float
    c2c_sigma: float
    v_hold_V: float
    g_sigma: float
    read_rel_sigma: float
    read_abs_sigma_S: float
    prog_noise_uS: tuple[float, float] | None   # (c0, c1) of sigma_prog, or None
    reset_gap_factor: float = 0.0               # reset barrier grows with the gap: gradual reset

    @classmethod
    def from_card(cls, card: dict[str, Any] | str) -> "RramParams":
        c = get_card(card)
        prog = None
        setting = c.get("switching", {}).get("prog_noise_setting")
        if setting:
            ref = get_card(c.get("drift", {}).get("reference_card", "drift_reference"))
            prog = tuple(float(v) for v in ref["programming_noise"][setting])
        return cls(num(c, "iv.g_on_S"), num(c, "iv.g_off_S"), num(c, "iv.v_nl_V"),
                   num(c, "switching.k_set_per_s"), num(c, "switching.v0_set_V"),
                   num(c, "switching.k_reset_per_s"), num(c, "switching.v0_reset_V"),
                   num(c, "switching.c2c_sigma"), num(c, "switching.v_hold_V"),
                   num(c, "variation.g_sigma"), num(c, "noise.read_rel_sigma"),
                   num(c, "noise.read_abs_sigma_S"), prog,
                   num(c, "switching.reset_gap_factor", 0.0))


def filament_conductance(w: np.ndarray, g_on_S: np.ndarray, g_off_S: np.ndarray) -> np.ndarray:
    return g_off_S + (g_on_S - g_off_S) * w


def sinh(x: np.ndarray) -> np.ndarray:
    """np.sinh, but fast for float32 arrays (numpy's float32 sinh is unvectorised): exp-based
    for |x| >= 0.5, 9th-order Taylor below (relative error < 3 ulp either way)."""
    x = np.asarray(x)
    if x.dtype != np.float32 or x.size < 256:
        return np.sinh(x)
    f = np.float32
    a = np.abs(x)
    with np.errstate(over="ignore"):
        e = np.exp(a)
    out = np.divide(f(-0.5), e)                 # 0.5 (e - 1/e)
    out += f(0.5) * e
    a2 = np.multiply(a, a, out=e)
    poly = a2 * f(1 / 72)                       # a (1 + a2/6 (1 + a2/20 (1 + a2/42 (1 + a2/72))))
    for k in (42, 20, 6):
        poly += f(1)
        poly *= a2
        poly *= f(1 / k)
    poly += f(1)
    poly *= a
    np.copyto(out, poly, where=a < f(0.5))
    return np.copysign(out, x, out=out)


def _ip(op: np.ufunc, a: Any, b: Any) -> Any:
    """op(a, b), written into ``a`` when its shape and dtype allow (saves a temporary)."""
    if (isinstance(a, np.ndarray) and a.ndim and a.shape == np.broadcast_shapes(a.shape, np.shape(b))
            and a.dtype == np.result_type(a, b)):
        return op(a, b, out=a)
    return op(a, b)


def current(w: np.ndarray, v: np.ndarray, g_on_S: np.ndarray, g_off_S: np.ndarray,
            v_nl_V: float) -> np.ndarray:
    """Cell current I(w, V) (A), odd in V (float32 if all array inputs are float32)."""
    w, v, g_on_S, g_off_S = as_float(w, v, g_on_S, g_off_S)
    gf = filament_conductance(w, g_on_S, g_off_S)
    tail = _ip(np.multiply, 1.0 - w, v_nl_V)               # (1 - w) V_nl sinh(V / V_nl)
    tail = _ip(np.multiply, tail, sinh(v / v_nl_V))
    tail = _ip(np.add, w * v, tail)
    return _ip(np.multiply, gf, tail)


def current_and_slope(w: np.ndarray, v: np.ndarray, g_f_S: np.ndarray,
                      v_nl_V: float) -> tuple[np.ndarray, np.ndarray]:
    """I(w, V) and dI/dV for filament conductance ``g_f_S`` (Newton solves, `mtt.py`)."""
    f = v.dtype.type
    sh = sinh(v * f(1.0 / v_nl_V))
    ch = np.multiply(sh, sh)
    ch += f(1)
    np.sqrt(ch, out=ch)                         # cosh
    one_m_w = f(1) - w
    i = one_m_w * f(v_nl_V)
    i *= sh
    i += w * v
    i *= g_f_S
    ch *= one_m_w
    ch += w
    ch *= g_f_S
    return i, ch


def read_conductance(w: np.ndarray, v_read_V: float, g_on_S: np.ndarray, g_off_S: np.ndarray,
                     v_nl_V: float) -> np.ndarray:
    """I(w, V_read) / V_read (S)."""
    return current(w, v_read_V, g_on_S, g_off_S, v_nl_V) / v_read_V


def state_for_conductance(g_S: np.ndarray, v_V: float, g_on_S: np.ndarray, g_off_S: np.ndarray,
                          v_nl_V: float) -> np.ndarray:
    """w with I(w, V)/V = g (inverse of `read_conductance`; quadratic in w), clipped to [0, 1]."""
    s = np.sinh(v_V / v_nl_V) / (v_V / v_nl_V)          # HRS enhancement factor >= 1
    g0 = np.asarray(g_off_S, np.float64)
    d = np.asarray(g_on_S, np.float64) - g0
    g = np.asarray(g_S, np.float64)
    # (g0 + d w)(s - (s - 1) w) = g  ->  a w^2 + b w + c = 0
    a = -d * (s - 1.0)
    b = d * s - g0 * (s - 1.0)
    c = g0 * s - g
    if abs(s - 1.0) < 1e-12:
        w = -c / b
    else:
        disc = np.maximum(b * b - 4 * a * c, 0.0)
        w = (-b + np.sqrt(disc)) / (2 * a)
        w = np.where(np.isfinite(w), w, -c / b)
    return np.clip(w, 0.0, 1.0)


def series_cell_voltage(dv: np.ndarray, v_gs: np.ndarray, g_S: np.ndarray,
                        tr: TransistorParams) -> np.ndarray:
    """Voltage on an (ohmic, low-field G) memory in series with an access transistor, for
    ``dv`` across both: exact for the square-law transistor of `transistor.py`.

    Saturated transistor (current source I_sat): v = I_sat / G if that leaves the transistor
    in saturation (|dv| - v >= V_ov); triode: G v = beta (V_ov u - u^2/2), u = |dv| - v (closed
    form); subthreshold: v = min(|dv|, I_sub / G).  Sign follows ``dv``.
    """
    dv, v_gs, g = as_float(dv, v_gs, g_S)
    return series_solve(*series_lines(dv, v_gs, tr), g, tr)


def series_lines(dv: np.ndarray, v_gs: np.ndarray, tr: TransistorParams) -> tuple[np.ndarray, ...]:
    """The cell-independent part of `series_cell_voltage`: (|dv|, V_ov, I_lim, sign(dv)), with
    I_lim = |I_ds(V_gs, |dv|)| the current the transistor can pass (also the set compliance).
    Callers evaluate it on the distinct line-voltage combinations only."""
    f = dv.dtype.type
    a = np.abs(dv)
    return a, v_gs - f(tr.v_t_V), np.abs(drain_current(v_gs, a, tr)), np.sign(dv)


def series_solve(a: np.ndarray, v_ov: np.ndarray, i_lim: np.ndarray, sign: np.ndarray,
                 g: np.ndarray, tr: TransistorParams) -> np.ndarray:
    """Per-cell part of `series_cell_voltage` from `series_lines` (broadcasting; ``g`` sets
    the dtype and must have the full shape)."""
    f = g.dtype.type
    v_cur = np.divide(i_lim, g)
    np.minimum(a, v_cur, out=v_cur)                       # current-limited solution
    if np.any(v_ov > 0):                                  # triode possible somewhere
        beta = f(tr.beta_A_per_V2)
        b = beta * np.maximum(v_ov, f(0)) + g
        t = np.multiply(g, f(2) * beta)
        t *= a
        disc = b * b
        disc -= t
        np.maximum(disc, f(0), out=disc)
        np.sqrt(disc, out=disc)
        np.subtract(b, disc, out=b)
        b /= beta                                         # u = |dv| - v
        v_tri = np.subtract(a, b, out=b)
        np.subtract(a, v_cur, out=t)
        triode = np.less(t, v_ov)
        triode &= v_ov > 0
        np.copyto(v_cur, v_tri, where=triode)
    return np.multiply(sign, v_cur, out=v_cur)


def _lognormal(rng: np.random.Generator | None, shape: tuple[int, ...], sigma: float,
               normal: np.ndarray | None = None) -> np.ndarray:
    z = (rng.standard_normal(shape, dtype=np.float32) if normal is None
         else np.array(normal, dtype=np.float32))
    z *= np.float32(sigma)
    z -= np.float32(0.5 * sigma * sigma)
    return np.exp(z, out=z)


def compliance_state(i_cc_A: np.ndarray, g_on_S: np.ndarray, g_off_S: np.ndarray,
                     p: RramParams, rng: np.random.Generator | None,
                     normal: np.ndarray | None = None) -> np.ndarray:
    """Set end point w_cc: G = I_cc / V_hold (+ programming noise of REFERENCE §5).

    ``i_cc_A`` may be a line-level array that broadcasts against the per-cell G_on, G_off.
    ``normal``: pre-drawn standard normals for the noise (instead of drawing from ``rng``)."""
    i_cc_A, g_on_S, g_off_S = as_float(i_cc_A, g_on_S, g_off_S)
    shape = np.broadcast_shapes(i_cc_A.shape, g_on_S.shape, g_off_S.shape)
    g = i_cc_A / p.v_hold_V
    if p.prog_noise_uS is not None and (rng is not None or normal is not None):
        g_uS = g * 1e6
        sigma = p.prog_noise_uS[0] + p.prog_noise_uS[1] * g_uS
        z = (rng.standard_normal(shape, dtype=g.dtype) if normal is None
             else np.array(normal, dtype=g.dtype))
        z *= sigma
        z += g_uS
        z *= 1e-6
        g = z
    w = np.subtract(g, g_off_S, out=g if g.shape == shape and g.ndim else None)
    w = _ip(np.divide, w, g_on_S - g_off_S)
    return np.clip(w, 0.0, 1.0, out=w if w.ndim else None)


def update(w: np.ndarray, v_cell: np.ndarray, width_s: float, w_cc: np.ndarray,
           p: RramParams, rng: np.random.Generator | None,
           normal: np.ndarray | None = None) -> np.ndarray:
    """State after one pulse of ``v_cell`` (V across the RRAM) for ``width_s`` (float32).
    ``normal``: pre-drawn standard normals of the cycle-to-cycle spread (instead of ``rng``)."""
    v, w, w_cc = as_float(v_cell, w, w_cc)
    v, w, w_cc = np.broadcast_arrays(v, w, w_cc)
    pos = v > 0
    f = v.dtype.type
    z = np.abs(v)
    if p.v0_set_V == p.v0_reset_V:
        z /= f(p.v0_set_V)
    else:
        z /= np.where(pos, f(p.v0_set_V), f(p.v0_reset_V))
    if p.reset_gap_factor:   # the gap left by reset raises the barrier: reset is gradual
        gap = f(1) - w
        gap *= f(p.reset_gap_factor)
        np.subtract(z, gap, out=gap)
        np.maximum(gap, f(0), out=gap)
        np.copyto(z, gap, where=~pos)
    np.minimum(z, f(80.0), out=z)
    dose = sinh(z)
    dose *= f(p.k_set_per_s) if p.k_set_per_s == p.k_reset_per_s else \
        np.where(pos, f(p.k_set_per_s), f(p.k_reset_per_s))
    dose *= f(width_s)
    if p.c2c_sigma > 0 and (rng is not None or normal is not None):
        dose *= _lognormal(rng, dose.shape, p.c2c_sigma, normal)
    decay = np.exp(np.negative(dose, out=dose), out=dose)
    out = np.array(w, dtype=np.float32)
    w_set = np.subtract(w_cc, w, out=z)                   # w_cc - (w_cc - w) decay
    w_set *= decay
    np.subtract(w_cc, w_set, out=w_set)
    np.copyto(out, w_set, where=pos & (w < w_cc))
    np.multiply(w, decay, out=out, where=v < 0, casting="same_kind")
    return out
