"""Figures of drift statistics: mean ± σ vs log time per state, per-state distributions."""
from __future__ import annotations

from pathlib import Path

import matplotlib.cm
import numpy as np

from hil.analysis.drift import ReferenceFit, StateStats
from hil.plotting import saved_figure


def plot_drift(stats: StateStats, ref: ReferenceFit, snapshot_G_S: np.ndarray,
               state: np.ndarray, t_snapshot_s: float, png: str | Path, dpi: int = 130) -> Path:
    """Two panels: (a) per-state mean ± σ vs t with the fitted mean line, (b) histograms of
    G per state at ``t_snapshot_s`` (``snapshot_G_S`` (rows, cols), ``state`` (rows, cols))."""
    with saved_figure(png, figsize=(11, 4.5), dpi=dpi) as fig:
        ax1, ax2 = fig.subplots(1, 2)
        keep = stats.t_s > 0
        t = stats.t_s[keep]
        colors = matplotlib.cm.viridis(np.linspace(0, 0.9, len(stats.states)))
        for k, c in enumerate(colors):
            m = stats.mean_G_S[k, keep] * 1e6
            s = stats.std_G_S[k, keep] * 1e6
            ax1.plot(t, m, "o", ms=3, color=c, label=f"state {stats.states[k]}")
            ax1.fill_between(t, m - s, m + s, color=c, alpha=0.2)
            fit = stats.target_G_S[k] * 1e6 + ref.offset_uS[k] + ref.mu_ln_uS * np.log(t)
            ax1.plot(t, fit, "-", lw=1, color=c)
        ax1.set_xscale("log")
        ax1.set_xlabel("time since programming (s)")
        ax1.set_ylabel("conductance (µS)")
        ax1.set_title(f"mean ± σ per state; fit µ_ln = {ref.mu_ln_uS:.4f} µS, "
                      f"σ = {ref.sigma_ln_uS:.4f}·ln t + {ref.sigma_0_uS:.3f} µS", fontsize=8)
        if len(stats.states) <= 16:
            ax1.legend(fontsize=6, ncol=2)
        for k, c in enumerate(colors):
            g = snapshot_G_S[state == stats.states[k]] * 1e6
            ax2.hist(g, bins=40, color=c, alpha=0.6)
        ax2.set_xlabel("conductance (µS)")
        ax2.set_ylabel("cells")
        ax2.set_title(f"per-state distributions at t = {t_snapshot_s:.3g} s", fontsize=9)
    return Path(png)
