"""Conductance drift after programming: the reference statistical model and an empirical one.

Reference model (REFERENCE.md §5; VeRA+ §II-A = aihwkit 1.1.0 ``ReRamCMONoiseModel``), with
g in uS and t in s since programming:
    g_prog  = g_T + sigma_prog(g_T) z_p,            sigma_prog = c0 + c1 g_T
    g_drift = g_prog + mu_ln ln t + (sigma_ln ln t + sigma_0) z_d
    g_read  = g_drift + c log10(g_drift) sqrt(ln((t + t_eps) / t_ref)) z_r
    clipped to [g_min, g_max]; t = 0 returns g_prog (as aihwkit does).
The ln t fit is meant for t >= 1 s; below t_onset = 1 s (inside a write-verify loop) the
drift terms ramp linearly from 0 (mu = 0, sigma_drift(1 s) t / 1 s) instead of extrapolating
ln t to large positive shifts, so verify reads microseconds after a pulse see no relaxation.
The standard normals are arguments, so callers choose the correlation: the simulated arrays
draw z_d once per device at programming time (a fixed, correlated trajectory per device:
reading the same cell at t1 < t2 gives one smooth path in ln t, not independent resamples)
and z_r fresh at every read.  Negative sigmas at very small t are clamped to 0.

Empirical model (VeRA+ §IV-F): per-state Gaussians of (g_measured - g_target) from data read
at one time t_meas; at other times both mean and std are scaled by ln(1 + t/t0) /
ln(1 + t_meas/t0) (an assumption: the data hold one time only; t0 = 1 s).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hil.errors import ParameterError
from sim_backends.devices._card import get_card, num


@dataclass(frozen=True)
class ReferenceDrift:
    """Coefficients of the reference model (uS, s), from ``drift_reference.toml``."""

    prog_c0_uS: float
    prog_c1: float
    mu_ln_uS: float
    sigma_ln_uS: float
    sigma_0_uS: float
    read_c_uS: float
    t_eps_s: float
    t_ref_s: float
    g_min_uS: float
    g_max_uS: float
    t_onset_s: float = 1.0

    @classmethod
    def from_card(cls, card: dict[str, Any] | str = "drift_reference",
                  setting: str = "2%") -> "ReferenceDrift":
        c = get_card(card)
        prog = c.get("programming_noise", {})
        if setting not in prog:
            raise ParameterError(f"programming-noise setting {setting!r} unknown; allowed: "
                                 f"{sorted(prog)}")
        c0, c1 = (float(v) for v in prog[setting])
        return cls(c0, c1, num(c, "drift.mu_ln"), num(c, "drift.sigma_ln"),
                   num(c, "drift.sigma_0"), num(c, "read_noise.c"),
                   num(c, "read_noise.t_eps_s"), num(c, "read_noise.t_ref_s"),
                   num(c, "g_min_uS"), num(c, "g_max_uS"))

    def sigma_prog_uS(self, g_target_uS: np.ndarray) -> np.ndarray:
        return self.prog_c0_uS + self.prog_c1 * np.asarray(g_target_uS, dtype=np.float64)

    def mu_drift_uS(self, t_s: np.ndarray | float) -> np.ndarray:
        """mu_ln ln t (t >= t_onset; 0 before)."""
        t = np.asarray(t_s, dtype=np.float64)
        return self.mu_ln_uS * np.log(np.maximum(t, self.t_onset_s))

    def sigma_drift_uS(self, t_s: np.ndarray | float) -> np.ndarray:
        """sigma_ln ln t + sigma_0 (t >= t_onset; linear ramp from 0 before)."""
        t = np.asarray(t_s, dtype=np.float64)
        lt = np.log(np.maximum(t, self.t_onset_s))
        ramp = np.clip(t / self.t_onset_s, 0.0, 1.0)
        return np.maximum(self.sigma_ln_uS * lt + self.sigma_0_uS, 0.0) * ramp

    def sigma_read_uS(self, g_uS: np.ndarray, t_s: np.ndarray | float) -> np.ndarray:
        t = np.asarray(t_s, dtype=np.float64)
        arg = np.maximum(np.log((t + self.t_eps_s) / self.t_ref_s), 0.0)
        return self.read_c_uS * np.log10(np.maximum(g_uS, 1e-12)) * np.sqrt(arg)


def program_reference(g_target_uS: np.ndarray, model: ReferenceDrift,
                      z_prog: np.ndarray) -> np.ndarray:
    """g_prog = g_T + sigma_prog(g_T) z_p (uS)."""
    g = np.asarray(g_target_uS, dtype=np.float64)
    return g + model.sigma_prog_uS(g) * z_prog


def drift_reference(g_prog_uS: np.ndarray, t_s: np.ndarray | float, model: ReferenceDrift,
                    z_drift: np.ndarray, z_read: np.ndarray | None,
                    clip: tuple[float, float] | None = None) -> np.ndarray:
    """Conductance (uS) read ``t_s`` after programming (module docstring)."""
    g = np.asarray(g_prog_uS, dtype=np.float64)
    t = np.broadcast_to(np.asarray(t_s, dtype=np.float64), g.shape)
    g_drift = g + model.mu_drift_uS(t) + model.sigma_drift_uS(t) * z_drift
    out = g_drift if z_read is None else g_drift + model.sigma_read_uS(g_drift, t) * z_read
    out = np.where(t > 0, out, g)
    lo, hi = clip if clip is not None else (model.g_min_uS, model.g_max_uS)
    return np.clip(out, lo, hi)


@dataclass(frozen=True)
class EmpiricalDrift:
    """Per-state Gaussian drift model built from measured data (uS, s)."""

    levels_uS: np.ndarray
    mean_uS: np.ndarray
    std_uS: np.ndarray
    t_meas_s: float
    t0_s: float = 1.0

    @classmethod
    def from_data(cls, g_target_uS: np.ndarray, g_measured_uS: np.ndarray, t_meas_s: float,
                  levels_uS: np.ndarray | None = None) -> "EmpiricalDrift":
        """Fit one Gaussian per programmed state; samples are assigned to the nearest level
        (``levels_uS`` default: the distinct targets)."""
        gt = np.asarray(g_target_uS, dtype=np.float64).ravel()
        gm = np.asarray(g_measured_uS, dtype=np.float64).ravel()
        if gt.shape != gm.shape or gt.size == 0:
            raise ParameterError("g_target_uS and g_measured_uS must be non-empty, same size")
        if not t_meas_s > 0:
            raise ParameterError(f"t_meas_s must be > 0, got {t_meas_s!r}")
        levels = np.unique(gt) if levels_uS is None else np.sort(np.asarray(levels_uS, float))
        state = np.abs(gt[:, None] - levels[None, :]).argmin(axis=1)
        mean = np.empty(levels.size)
        std = np.empty(levels.size)
        for k in range(levels.size):
            d = (gm - gt)[state == k]
            if d.size < 2:
                raise ParameterError(f"state {levels[k]:.4g} uS has {d.size} samples; need >= 2")
            mean[k], std[k] = d.mean(), d.std(ddof=1)
        return cls(levels, mean, std, float(t_meas_s))

    def time_scale(self, t_s: np.ndarray | float) -> np.ndarray:
        t = np.maximum(np.asarray(t_s, dtype=np.float64), 0.0)
        return np.log1p(t / self.t0_s) / np.log1p(self.t_meas_s / self.t0_s)

    def apply(self, g_prog_uS: np.ndarray, t_s: np.ndarray | float,
              z_drift: np.ndarray) -> np.ndarray:
        """Conductance (uS) at ``t_s`` after programming to ``g_prog_uS``."""
        g = np.asarray(g_prog_uS, dtype=np.float64)
        k = np.abs(g[..., None] - self.levels_uS).argmin(axis=-1)
        s = self.time_scale(t_s)
        return g + s * (self.mean_uS[k] + self.std_uS[k] * z_drift)
