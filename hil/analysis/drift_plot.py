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
        i_t = int(np.argmin(np.abs(stats.t_s - t_snapshot_s)))
        per_state = [snapshot_G_S[state == s] * 1e6 for s in stats.states]
        finite = np.concatenate([g[np.isfinite(g)] for g in per_state]) if per_state else np.empty(0)
        if finite.size == 0:
            ax2.text(0.5, 0.5, "no readable programmed cell in this snapshot",
                     ha="center", va="center", transform=ax2.transAxes)
        else:
            # one set of bins for every state, so small arrays still show each state's spread
            bins = np.linspace(finite.min(), finite.max(), max(10, min(80, finite.size // 4)) + 1)
            width = bins[1] - bins[0]
            x = np.linspace(bins[0], bins[-1], 400)
            for k, c in enumerate(colors):
                g = per_state[k][np.isfinite(per_state[k])]
                ax2.hist(g, bins=bins, color=c, alpha=0.5)
                mu, sd = stats.mean_G_S[k, i_t] * 1e6, stats.std_G_S[k, i_t] * 1e6
                if g.size and np.isfinite(sd) and sd > 0:    # fitted Gaussian, scaled to counts
                    pdf = np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))
                    ax2.plot(x, pdf * g.size * width, "-", lw=1, color=c)
        ax2.set_xlabel("conductance (µS)")
        ax2.set_ylabel("cells")
        ax2.set_title(f"per-state histograms and Gaussians at t = {t_snapshot_s:.3g} s "
                      "(nearest snapshot)", fontsize=9)
    return Path(png)
