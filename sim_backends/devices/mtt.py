"""Memory-transistor-transfer (MTT) unit: divider node and inference current (MTT §2.2).

One half of the symmetric unit: the hidden memory device sits between V_read_H and the
divider node, the reference transistor (gate at V_ref_G, source grounded) between the node
and ground.  The node drives the gate of the inference transistor, whose drain is read at
+V_drain (G_A+ half) or -V_drain (G_A- half); I_ts is the sum of both drain currents, so
G_B = G_B+ - G_B- (Eq 2).  The node voltage solves

    I_mem(V_read_H - V_n) = I_ref(V_gs = V_ref_G, V_ds = V_n)

by vectorized bisection (both sides monotone), for any memory I-V (ECRAM: linear, Fig. S20,
solved on a 1-D table of G for large arrays; RRAM: nonlinear at high resistance, Fig. S19f,
solved by a monotone Newton iteration, `node_voltage_newton`).  Pure numpy functions.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from sim_backends.devices.transistor import (TransistorParams, drain_current,
                                             forward_current_and_slope)

MemCurrent = Callable[[np.ndarray], np.ndarray]
_TABLE_MIN_SIZE = 65536


def linear_memory(g_S: np.ndarray) -> MemCurrent:
    """I-V of an ohmic memory device (ECRAM channel, Fig. S20)."""
    g = np.asarray(g_S, dtype=np.float64)
    return lambda v: g * v


def _bisect_node(mem: MemCurrent, shape: tuple[int, ...], v_read_H_V: float, v_ref_G_V: float,
                 ref: TransistorParams, n_iter: int = 34, dtype: type = np.float64) -> np.ndarray:
    lo = np.zeros(shape, dtype=dtype)
    hi = np.full(shape, v_read_H_V, dtype=dtype)
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        f = mem(v_read_H_V - mid) - drain_current(v_ref_G_V, mid, ref)
        up = f > 0
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
    return 0.5 * (lo + hi)


def node_voltage(mem: MemCurrent, shape: tuple[int, ...], v_read_H_V: float, v_ref_G_V: float,
                 ref: TransistorParams, dtype: type = np.float64) -> np.ndarray:
    """Divider node voltage V_n (V) for memory devices with I-V ``mem``.

    float64: 34 bisection steps (< 1e-10 V); float32 (large arrays): 24 steps (~5e-8 V)."""
    if v_read_H_V <= 0:
        raise ValueError(f"v_read_H_V must be > 0, got {v_read_H_V!r}")
    n_iter = 24 if dtype == np.float32 else 34
    return _bisect_node(mem, shape, v_read_H_V, v_ref_G_V, ref, n_iter, dtype)


def node_voltage_newton(mem_and_slope: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                        shape: tuple[int, ...], v_read_H_V: float, v_ref_G_V: float,
                        ref: TransistorParams, dtype: type = np.float64,
                        max_iter: int = 60) -> np.ndarray:
    """V_n as `node_voltage`, by Newton's method, for memories whose I-V is convex for V >= 0
    (ohmic plus sinh-like, the RRAM model); ``mem_and_slope(v)`` gives (I, dI/dV).

    On x = V_read_H - V_n, h(x) = I_mem(x) - I_ref(V_read_H - x) is increasing and convex
    (the reference transistor's I(V_ds) is concave), so Newton from x = V_read_H converges
    monotonically; it stops when no cell moves by more than V_read_H * 2^-24 (float32) or
    * 1e-13 (float64), below the bisection's resolution."""
    if v_read_H_V <= 0:
        raise ValueError(f"v_read_H_V must be > 0, got {v_read_H_V!r}")
    f = np.dtype(dtype).type
    tol = v_read_H_V * (2.0 ** -24 if dtype == np.float32 else 1e-13)
    x = np.full(shape, v_read_H_V, dtype=dtype)
    for _ in range(max_iter):
        i_m, d_m = mem_and_slope(x)
        i_r, d_r = forward_current_and_slope(v_ref_G_V, f(v_read_H_V) - x, ref)
        i_m -= i_r
        d_m += d_r
        i_m /= d_m                                         # Newton step
        x -= i_m
        np.clip(x, f(0), f(v_read_H_V), out=x)
        if not np.abs(i_m).max(initial=0.0) > tol:
            break
    return np.subtract(f(v_read_H_V), x, out=x)


def node_voltage_linear(g_S: np.ndarray, v_read_H_V: float, v_ref_G_V: float,
                        ref: TransistorParams) -> np.ndarray:
    """V_n for ohmic memories of conductance ``g_S``.

    Large arrays: V_n(G) is smooth and monotone, so it is solved exactly on a 2048-point
    log-spaced grid of G and interpolated (error < 1e-6 V); small arrays are solved directly.
    """
    g = np.asarray(g_S, dtype=np.float64)
    if g.size < _TABLE_MIN_SIZE:
        return node_voltage(linear_memory(g), g.shape, v_read_H_V, v_ref_G_V, ref)
    gpos = np.maximum(g, 1e-15)
    grid = np.geomspace(gpos.min(), gpos.max() * (1 + 1e-9), 2048)
    vg = node_voltage(linear_memory(grid), grid.shape, v_read_H_V, v_ref_G_V, ref)
    return np.interp(np.log(gpos), np.log(grid), vg)


def unit_current(v_node_plus: np.ndarray, v_node_minus: np.ndarray, v_drain_V: float,
                 inf: TransistorParams) -> np.ndarray:
    """I_ts (A): inference transistors with drains at +V_drain and -V_drain (Eq 2)."""
    return (drain_current(v_node_plus, abs(v_drain_V), inf)
            + drain_current(v_node_minus, -abs(v_drain_V), inf))


def mtt_current_linear(g_plus_S: np.ndarray, g_minus_S: np.ndarray, v_read_H_V: float,
                       v_ref_G_V: float, v_drain_V: float, ref: TransistorParams,
                       inf: TransistorParams, ref_beta_rel: tuple[Any, Any] = (1.0, 1.0),
                       inf_dvt_V: tuple[Any, Any] = (0.0, 0.0)) -> np.ndarray:
    """I_ts of units built from ohmic memories G_A+ and G_A- (ECRAM-MTT).

    Device-to-device transistor spread, per half (+, -): ``ref_beta_rel`` scales the reference
    transistor's beta (the node depends on G / beta only, so the table solve still applies),
    ``inf_dvt_V`` shifts the inference transistor's threshold (V_gs -> V_gs - dV_T).
    """
    vp = node_voltage_linear(np.asarray(g_plus_S) / np.asarray(ref_beta_rel[0]), v_read_H_V,
                             v_ref_G_V, ref)
    vm = node_voltage_linear(np.asarray(g_minus_S) / np.asarray(ref_beta_rel[1]), v_read_H_V,
                             v_ref_G_V, ref)
    return unit_current(vp - inf_dvt_V[0], vm - inf_dvt_V[1], v_drain_V, inf)


def g_min_linear(v_read_H_V: float, v_ref_G_V: float, ref: TransistorParams) -> float:
    """G_e,min: the memory conductance that puts the node at V_read_H / 2, i.e. the reference
    transistor's conductance at V_ds = V_read_H / 2 (MTT §2.2, Fig. 4d discussion)."""
    half = 0.5 * v_read_H_V
    return float(drain_current(v_ref_G_V, half, ref) / half)


def i_ts_max(v_read_H_V: float, v_node_min: float, v_drain_V: float, inf: TransistorParams,
             sign: int = 1) -> float:
    """|I_ts| with one memory at infinite conductance (node = V_read_H) and the other at
    G_e,min (node ``v_node_min``); Eq 15's normaliser for the branch of ``sign``."""
    if sign > 0:
        return float(abs(unit_current(np.float64(v_read_H_V), np.float64(v_node_min), v_drain_V, inf)))
    return float(abs(unit_current(np.float64(v_node_min), np.float64(v_read_H_V), v_drain_V, inf)))


def transfer_sweep_linear(g_max_S: float, v_read_H_V: float, v_ref_G_V: float, v_drain_V: float,
                          ref: TransistorParams, inf: TransistorParams,
                          n: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """Simulated (W_h, W_b) of an ECRAM-MTT unit (Eq 14, 15), both branches, sorted by W_h.

    Positive branch: G_A- held at G_e,min, G_A+ swept G_e,min..G_max; negative: mirrored.
    """
    g_min = g_min_linear(v_read_H_V, v_ref_G_V, ref)
    if g_max_S <= g_min:
        raise ValueError(f"g_max_S {g_max_S:.3g} S must exceed G_e,min {g_min:.3g} S at these biases")
    g = np.linspace(g_min, g_max_S, n)
    w = (g - g_min) / (g_max_S - g_min)                                    # Eq 14
    fixed = np.full_like(g, g_min)
    i_pos = mtt_current_linear(g, fixed, v_read_H_V, v_ref_G_V, v_drain_V, ref, inf)
    i_neg = mtt_current_linear(fixed, g, v_read_H_V, v_ref_G_V, v_drain_V, ref, inf)
    v_min = float(node_voltage_linear(np.array([g_min]), v_read_H_V, v_ref_G_V, ref)[0])
    wb_pos = i_pos / i_ts_max(v_read_H_V, v_min, v_drain_V, inf, +1)      # Eq 15
    wb_neg = i_neg / i_ts_max(v_read_H_V, v_min, v_drain_V, inf, -1)
    w_h = np.concatenate([-w[:0:-1], w])
    w_b = np.concatenate([wb_neg[:0:-1], wb_pos])
    return w_h, w_b


def transfer_sweep_states(current_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
                          g_read_fn: Callable[[np.ndarray], np.ndarray], w_max: float,
                          v_read_H_V: float, v_ref_G_V: float, v_drain_V: float,
                          ref: TransistorParams, inf: TransistorParams,
                          n: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """(W_h, W_b) of a unit whose memory has state w and I-V ``current_fn(w, v)`` (RRAM-MTT).

    G_e,min is the read conductance of the state that puts the node at V_read_H / 2; W_h
    follows Eq 14 with read conductances ``g_read_fn(w)``, W_b Eq 15.
    """
    def node(w: np.ndarray) -> np.ndarray:
        w = np.asarray(w, dtype=np.float64)
        return node_voltage(lambda v: current_fn(w, v), w.shape, v_read_H_V, v_ref_G_V, ref)

    lo, hi = np.zeros(1), np.full(1, float(w_max))
    if node(lo)[0] > 0.5 * v_read_H_V:
        raise ValueError("the fully reset memory already lifts the node above V_read_H/2")
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        above = node(mid) > 0.5 * v_read_H_V
        hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
    w_min = float(0.5 * (lo + hi)[0])
    w = np.linspace(w_min, float(w_max), n)
    g = g_read_fn(w)
    w_h = (g - g[0]) / (g[-1] - g[0])
    v_plus, v_fixed = node(w), np.full(n, node(np.array([w_min]))[0])
    i_pos = unit_current(v_plus, v_fixed, v_drain_V, inf)
    i_neg = unit_current(v_fixed, v_plus, v_drain_V, inf)
    wb_pos = i_pos / i_ts_max(v_read_H_V, v_fixed[0], v_drain_V, inf, +1)
    wb_neg = i_neg / i_ts_max(v_read_H_V, v_fixed[0], v_drain_V, inf, -1)
    return (np.concatenate([-w_h[:0:-1], w_h]), np.concatenate([wb_neg[:0:-1], wb_pos]))
