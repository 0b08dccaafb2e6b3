"""MTT weight-transfer functions (MTT Eq 4, 7, 11, 14, 15) and their fits.

All four Eq 7 parameters are positive magnitudes; the negative branch is written with
|W_h| (Eq 16/17 print it as (-A_n W_h + 1)/(-B_n W_h + 2) for W_h < 0, the same thing):

    W_b =  2 ((A_p W_h + 1) / (B_p W_h + 2) - 0.5)          W_h >= 0
    W_b = -2 ((A_n |W_h| + 1) / (B_n |W_h| + 2) - 0.5)      W_h <  0

Eq 4 is Eq 7 with A = B = K; Eq 11 (ternary) is Eq 7 shifted by the dead-zone radius r and
zero for |W_h| <= r.  Pure numpy functions plus scipy least-squares fits.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import least_squares

from hil.errors import ParameterError


def _branch(w: np.ndarray, a: float, b: float) -> np.ndarray:
    return 2.0 * ((a * w + 1.0) / (b * w + 2.0) - 0.5)


def transfer_eq7(w_h: np.ndarray | float, a_p: float, b_p: float, a_n: float,
                 b_n: float) -> np.ndarray:
    """Generalized MTT transfer W_b(W_h) (Eq 7)."""
    w = np.asarray(w_h, dtype=np.float64)
    return np.where(w >= 0, _branch(np.abs(w), a_p, b_p), -_branch(np.abs(w), a_n, b_n))


def transfer_eq4(w_h: np.ndarray | float, k: float) -> np.ndarray:
    """Ideal symmetric MTT transfer with scaling factor K (Eq 4)."""
    return transfer_eq7(w_h, k, k, k, k)


def transfer_eq11(w_h: np.ndarray | float, a_p: float, b_p: float, a_n: float, b_n: float,
                  r: float) -> np.ndarray:
    """Ternary MTT transfer with dead-zone radius ``r`` (Eq 11)."""
    w = np.asarray(w_h, dtype=np.float64)
    shifted = np.sign(w) * np.maximum(np.abs(w) - r, 0.0)
    return np.where(np.abs(w) <= r, 0.0, transfer_eq7(shifted, a_p, b_p, a_n, b_n))


def hidden_weight(g_e_S: np.ndarray, i_ts_A: np.ndarray, g_min_S: float,
                  g_max_S: float) -> np.ndarray:
    """Quantized hidden weight from conductance, sign from I_ts (Eq 14)."""
    if not g_max_S > g_min_S:
        raise ParameterError(f"g_max_S ({g_max_S}) must exceed g_min_S ({g_min_S})")
    w = (np.asarray(g_e_S, dtype=np.float64) - g_min_S) / (g_max_S - g_min_S)
    return np.where(np.asarray(i_ts_A) >= 0, w, -w)


def binary_weight(i_ts_A: np.ndarray, i_ts_max_A: float) -> np.ndarray:
    """Binary weight from the inference current (Eq 15)."""
    if not i_ts_max_A > 0:
        raise ParameterError(f"i_ts_max_A must be > 0, got {i_ts_max_A!r}")
    return np.asarray(i_ts_A, dtype=np.float64) / i_ts_max_A


def _check(w_h: np.ndarray, w_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w_h = np.asarray(w_h, dtype=np.float64).ravel()
    w_b = np.asarray(w_b, dtype=np.float64).ravel()
    if w_h.shape != w_b.shape or w_h.size < 4:
        raise ParameterError(f"need matching W_h, W_b with >= 4 points; got {w_h.size}, {w_b.size}")
    if not (np.all(np.isfinite(w_h)) and np.all(np.isfinite(w_b))):
        raise ParameterError("W_h and W_b must be finite")
    return w_h, w_b


def _fit_branch(w: np.ndarray, wb: np.ndarray) -> tuple[float, float, float]:
    """Fit A, B of one branch (w >= 0, wb >= 0 side); returns (A, B, rms)."""
    if w.size < 2:
        return float("nan"), float("nan"), float("nan")
    def resid(p: np.ndarray) -> np.ndarray:
        return _branch(w, p[0], p[1]) - wb
    best = None
    for k0 in (2.0, 20.0, 200.0):
        sol = least_squares(resid, x0=[k0, k0], bounds=([0.0, 0.0], [1e5, 1e5]))
        if best is None or sol.cost < best.cost:
            best = sol
    rms = float(np.sqrt(np.mean(best.fun ** 2)))
    return float(best.x[0]), float(best.x[1]), rms


def fit_eq7(w_h: np.ndarray, w_b: np.ndarray) -> dict[str, float]:
    """Least-squares fit of Eq 7 to measured/simulated (W_h, W_b) points.

    Returns ``{"A_p", "B_p", "A_n", "B_n", "rms"}`` (rms: W_b residual over all points).
    """
    w_h, w_b = _check(w_h, w_b)
    pos, neg = w_h >= 0, w_h < 0
    a_p, b_p, r_p = _fit_branch(w_h[pos], w_b[pos])
    a_n, b_n, r_n = _fit_branch(-w_h[neg], -w_b[neg])
    res = transfer_eq7(w_h, a_p, b_p, a_n, b_n) - w_b
    return {"A_p": a_p, "B_p": b_p, "A_n": a_n, "B_n": b_n,
            "rms": float(np.sqrt(np.nanmean(res ** 2)))}


def fit_eq11(w_h: np.ndarray, w_b: np.ndarray) -> dict[str, float]:
    """Least-squares fit of the ternary Eq 11 (A_p, B_p, A_n, B_n and radius r)."""
    w_h, w_b = _check(w_h, w_b)

    def resid(p: np.ndarray) -> np.ndarray:
        return transfer_eq11(w_h, *p) - w_b
    best = None
    for r0 in (0.05, 0.2, 0.4):
        for k0 in (5.0, 50.0):
            sol = least_squares(resid, x0=[k0, k0, k0, k0, r0],
                                bounds=([0, 0, 0, 0, 0], [1e5, 1e5, 1e5, 1e5, 0.95]))
            if best is None or sol.cost < best.cost:
                best = sol
    a_p, b_p, a_n, b_n, r = (float(v) for v in best.x)
    return {"A_p": a_p, "B_p": b_p, "A_n": a_n, "B_n": b_n, "r": r,
            "rms": float(np.sqrt(np.mean(best.fun ** 2)))}


def fit_summary(fit: dict[str, Any]) -> str:
    """One line for logs/reports."""
    return ", ".join(f"{k}={v:.4g}" for k, v in fit.items())
