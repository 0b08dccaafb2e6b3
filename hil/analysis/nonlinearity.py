"""Pulse-response nonlinearity fits (Chen et al. model used by the MTT paper, REFERENCE §1).

LTP:  G(P) = B·(1 − exp(−P/A)) + G_min
LTD:  G(P) = G_max − B·(1 − exp(−P/A))
A (in pulses) measures the nonlinearity: large A = nearly linear, small A = early saturation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit

from hil.errors import ParameterError


@dataclass(frozen=True)
class NonlinearityFit:
    A_pulses: float
    B_S: float
    G0_S: float          # G_min for LTP, G_max for LTD
    direction: str       # "ltp" | "ltd"
    rmse_S: float

    def predict(self, P: np.ndarray) -> np.ndarray:
        sat = self.B_S * (1.0 - np.exp(-np.asarray(P, float) / self.A_pulses))
        return self.G0_S + sat if self.direction == "ltp" else self.G0_S - sat


def fit_nonlinearity(G_S: np.ndarray, direction: str) -> NonlinearityFit:
    """Fit one LTP or LTD branch; ``G_S[k]`` is the conductance after pulse k+1 (P = 1..n)."""
    if direction not in ("ltp", "ltd"):
        raise ParameterError(f"direction={direction!r}; allowed: 'ltp', 'ltd'")
    G = np.asarray(G_S, dtype=float)
    if G.ndim != 1 or len(G) < 4 or not np.all(np.isfinite(G)):
        raise ParameterError(f"need >= 4 finite conductances for a fit, got {G.shape} values")
    P = np.arange(1, len(G) + 1, dtype=float)
    scale = float(np.ptp(G)) or float(np.abs(G).max()) or 1.0
    sign = 1.0 if direction == "ltp" else -1.0

    def model(p: np.ndarray, A: float, B: float, G0: float) -> np.ndarray:
        return G0 + sign * B * (1.0 - np.exp(-p / A))

    g0 = G[0] - sign * scale / len(G)
    p0 = (len(G) / 3.0, scale * 1.2, g0)
    bounds = ([0.1, 0.0, -np.inf], [1e6, np.inf, np.inf])
    (A, B, G0), _ = curve_fit(model, P, G, p0=p0, bounds=bounds, maxfev=20000,
                              x_scale=(len(G) / 3.0, scale, scale))
    rmse = float(np.sqrt(np.mean((model(P, A, B, G0) - G) ** 2)))
    return NonlinearityFit(float(A), float(B), float(G0), direction, rmse)
