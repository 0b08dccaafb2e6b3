"""nMOSFET drain current: linear (Eq 12) and subthreshold (Eq 13) regions, continuous.

Eq 12, I = beta (V_gs - V_T) V_ds + bias, is the V_ds << V_gs - V_T limit of the triode law
used here, I = beta ((V_gs - V_T) V_ds - V_ds^2 / 2) + bias, which saturates at
V_ds = V_gs - V_T.  ``bias`` is Eq 13 evaluated at V_gs = V_T, so the current is continuous
between the regions.  Negative V_ds swaps source and drain (the device is symmetric).
Everything is a pure numpy function of the voltages and a `TransistorParams`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim_backends.devices._card import get_card, num

K_B_OVER_Q = 8.617333262e-5  # V/K


@dataclass(frozen=True)
class TransistorParams:
    """Parameters of Eq 12/13 (SI)."""

    v_t_V: float
    beta_A_per_V2: float
    m: float
    temperature_K: float = 300.0

    @property
    def thermal_V(self) -> float:
        """T' = kT/q."""
        return K_B_OVER_Q * self.temperature_K

    @classmethod
    def from_card(cls, card: dict[str, Any] | str) -> "TransistorParams":
        c = get_card(card)
        return cls(v_t_V=num(c, "v_t_V"), beta_A_per_V2=num(c, "beta_A_per_V2"),
                   m=num(c, "m"), temperature_K=num(c, "temperature_K", 300.0))


def _forward_current(v_gs: np.ndarray, v_ds: np.ndarray, p: TransistorParams) -> np.ndarray:
    """Drain current for V_ds >= 0."""
    vt = p.thermal_V
    sub_base = p.beta_A_per_V2 * (p.m - 1.0) * vt * vt * (1.0 - np.exp(-v_ds / vt))
    v_ov = v_gs - p.v_t_V
    # Eq 13, exponent clipped at 0 (above threshold the strong-inversion branch is used)
    i_sub = sub_base * np.exp(np.minimum(v_ov, 0.0) / (p.m * vt))
    v_ovp = np.maximum(v_ov, 0.0)
    v_eff = np.minimum(v_ds, v_ovp)
    i_strong = p.beta_A_per_V2 * (v_ovp * v_eff - 0.5 * v_eff * v_eff) + sub_base  # Eq 12 (+ bias)
    return np.where(v_ov < 0.0, i_sub, i_strong)


def as_float(*values: np.ndarray | float) -> list[np.ndarray]:
    """Arrays in a common float dtype: float32 if every non-scalar input is float32 (fast
    whole-array paths), else float64."""
    arrs = [np.asarray(v) for v in values]
    big = [a for a in arrs if a.ndim > 0]
    dtype = np.float32 if big and all(a.dtype == np.float32 for a in big) else np.float64
    return [a.astype(dtype, copy=False) for a in arrs]


def drain_current(v_gs: np.ndarray | float, v_ds: np.ndarray | float,
                  p: TransistorParams) -> np.ndarray:
    """I_ds (A) for gate-source ``v_gs`` and drain-source ``v_ds`` (V), broadcasting.

    For V_ds < 0 the physical source is the drain terminal: I = -I(V_gs - V_ds, -V_ds).
    float32 inputs give float32 results (see `as_float`).
    """
    v_gs, v_ds = as_float(v_gs, v_ds)
    neg = v_ds < 0.0
    vgs_eff = np.where(neg, v_gs - v_ds, v_gs)
    i = _forward_current(vgs_eff, np.abs(v_ds), p)
    return np.where(neg, -i, i)


def channel_conductance(v_gs: np.ndarray | float, p: TransistorParams,
                        v_ds_V: float = 1e-3) -> np.ndarray:
    """Small-signal channel conductance I(V_gs, v_ds)/v_ds (S) used for switch-like selectors."""
    return drain_current(v_gs, v_ds_V, p) / v_ds_V


def forward_current_and_slope(v_gs_V: float, v_ds: np.ndarray,
                              p: TransistorParams) -> tuple[np.ndarray, np.ndarray]:
    """(I_ds, dI_ds/dV_ds) at one gate voltage for ``v_ds`` >= 0 (the dtype of ``v_ds``); the
    same current as `drain_current`, with one exp per element (Newton solves, `mtt.py`)."""
    f = v_ds.dtype.type
    vt = p.thermal_V
    v_ov = float(v_gs_V) - p.v_t_V
    scale = p.beta_A_per_V2 * (p.m - 1.0) * vt * np.exp(min(v_ov, 0.0) / (p.m * vt))
    ex = np.exp(v_ds * f(-1.0 / vt))
    slope = ex * f(scale)                                  # d(sub-threshold term)/dV_ds
    i = np.subtract(f(1), ex, out=ex)
    i *= f(scale * vt)
    if v_ov > 0:                                           # Eq 12 + bias (triode / saturated)
        v_eff = np.minimum(v_ds, f(v_ov))
        i += f(p.beta_A_per_V2) * (f(v_ov) * v_eff - f(0.5) * v_eff * v_eff)
        slope += f(p.beta_A_per_V2) * (f(v_ov) - v_eff)
    return i, slope
