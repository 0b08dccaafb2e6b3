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


def current(w: np.ndarray, v: np.ndarray, g_on_S: np.ndarray, g_off_S: np.ndarray,
            v_nl_V: float) -> np.ndarray:
    """Cell current I(w, V) (A), odd in V (float32 if all array inputs are float32)."""
    w, v, g_on_S, g_off_S = as_float(w, v, g_on_S, g_off_S)
    gf = filament_conductance(w, g_on_S, g_off_S)
    return gf * (w * v + (1.0 - w) * v_nl_V * np.sinh(v / v_nl_V))


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
    f = dv.dtype.type
    a = np.abs(dv)
    v_ov = v_gs - f(tr.v_t_V)
    i_lim = np.abs(drain_current(v_gs, a, tr))            # current the transistor can pass
    v_cur = np.minimum(a, i_lim / g)                      # current-limited solution
    beta = f(tr.beta_A_per_V2)
    b = beta * np.maximum(v_ov, f(0)) + g
    u = (b - np.sqrt(np.maximum(b * b - f(2) * beta * g * a, f(0)))) / beta
    v_tri = a - u
    triode = (v_ov > 0) & (a - v_cur < v_ov)
    return np.sign(dv) * np.where(triode, v_tri, v_cur)


def _lognormal(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    z = rng.standard_normal(shape, dtype=np.float32)
    return np.exp(np.float32(sigma) * z - np.float32(0.5 * sigma * sigma))


def compliance_state(i_cc_A: np.ndarray, g_on_S: np.ndarray, g_off_S: np.ndarray,
                     p: RramParams, rng: np.random.Generator | None) -> np.ndarray:
    """Set end point w_cc: G = I_cc / V_hold (+ programming noise of REFERENCE §5)."""
    i_cc_A, g_on_S, g_off_S = as_float(i_cc_A, g_on_S, g_off_S)
    g = i_cc_A / p.v_hold_V
    if p.prog_noise_uS is not None and rng is not None:
        g_uS = g * 1e6
        sigma = p.prog_noise_uS[0] + p.prog_noise_uS[1] * g_uS
        g = (g_uS + sigma * rng.standard_normal(g.shape, dtype=g.dtype)) * 1e-6
    w = (g - g_off_S) / (g_on_S - g_off_S)
    return np.clip(w, 0.0, 1.0)


def update(w: np.ndarray, v_cell: np.ndarray, width_s: float, w_cc: np.ndarray,
           p: RramParams, rng: np.random.Generator | None) -> np.ndarray:
    """State after one pulse of ``v_cell`` (V across the RRAM) for ``width_s`` (float32)."""
    v, w, w_cc = as_float(v_cell, w, w_cc)
    pos = v > 0
    f = v.dtype.type
    z = np.abs(v) / np.where(pos, f(p.v0_set_V), f(p.v0_reset_V))
    if p.reset_gap_factor:   # the gap left by reset raises the barrier: reset is gradual
        z = np.where(pos, z, np.maximum(z - f(p.reset_gap_factor) * (f(1) - w), f(0)))
    dose = (np.where(pos, f(p.k_set_per_s), f(p.k_reset_per_s)) * np.sinh(np.minimum(z, f(80.0)))
            * f(width_s))
    if rng is not None and p.c2c_sigma > 0:
        dose = dose * _lognormal(rng, dose.shape, p.c2c_sigma)
    decay = np.exp(-dose)
    w_set = np.where(w < w_cc, w_cc - (w_cc - w) * decay, w)
    return np.where(pos, w_set, np.where(v < 0, w * decay, w)).astype(np.float32)
