"""Figures of the MTT BNN experiments: continual learning and programming-noise sweeps."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from hil.nn.continual import ContinualResult
from hil.plotting import saved_figure


def plot_continual(results: Mapping[str, ContinualResult], out: str | Path) -> Path:
    """Accuracy on each task after each training stage, one panel per run (e.g. m = 0 vs 12)."""
    n = len(results)
    with saved_figure(out, figsize=(4.2 * n, 3.4), dpi=120) as fig:
        axes = fig.subplots(1, n, squeeze=False, sharey=True)
        for ax, (label, res) in zip(axes[0], results.items()):
            stages = np.arange(1, len(res.task_names) + 1)
            for j, name in enumerate(res.task_names):
                ax.plot(stages[j:], 100 * res.acc[j:, j], "o-", label=name)
            ax.set_xticks(stages, [f"after\n{t}" for t in res.task_names], fontsize=7)
            ax.set_title(f"{label}: mean final {100 * res.mean_final:.1f} %", fontsize=9)
            ax.set_ylim(0, 100)
            ax.grid(alpha=0.3)
        axes[0, 0].set_ylabel("test accuracy (%)")
        axes[0, -1].legend(fontsize=7, loc="lower left")
    return Path(out)


def plot_noise_sweep(results: Mapping[float, ContinualResult], out: str | Path,
                     title: str = "") -> Path:
    """Final accuracy per task (and mean) vs relative programming-error level."""
    levels = np.array(sorted(results))
    with saved_figure(out, figsize=(5.2, 3.6), dpi=120) as fig:
        ax = fig.subplots()
        names = results[levels[0]].task_names
        for j, name in enumerate(names):
            ax.plot(100 * levels, [100 * results[lv].final[j] for lv in levels], "o-", lw=1,
                    label=name)
        ax.plot(100 * levels, [100 * results[lv].mean_final for lv in levels], "ks-", lw=2,
                label="mean")
        ax.set_xlabel("programming error level (%)")
        ax.set_ylabel("final test accuracy (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    return Path(out)


def plot_xor(run_path: str | Path, out: str | Path) -> Path:
    """A ``bnn_xor`` run: binary weights read from I_ts (Eq 15) vs the trained ones, and the
    hidden weights read from G (Eq 14) vs their 3-bit targets."""
    from hil.store import Run

    run = Run.open(run_path)
    names = sorted(n.split("/")[1] for n in run.list("results") if n.startswith("W_b_measured/"))
    with saved_figure(out, figsize=(8.4, 3.9), dpi=120) as fig:
        axes = fig.subplots(1, 2)
        for name in names:
            ws = run.read_result(f"W_b_software/{name}").ravel()
            wm = run.read_result(f"W_b_measured/{name}").ravel()
            axes[0].plot(ws, wm, "o", label=name)
            wh = run.read_result(f"W_h_measured/{name}").ravel()
            axes[1].plot(np.arange(wh.size), wh, "o", label=name)
        axes[0].plot([-1, 1], [-1, 1], "k-", lw=0.8)
        axes[0].set_xlabel("binary weight, trained (from the hidden weight)")
        axes[0].set_ylabel("binary weight, measured (from the current)")
        acc = run.read_result("accuracy")
        axes[0].set_title(f"accuracy: software {100 * acc[0]:.1f} %, measured {100 * acc[1]:.1f} %",
                          fontsize=9)
        for lv in np.linspace(-1, 1, 8):
            axes[1].axhline(lv, color="0.8", lw=0.6, zorder=0)
        axes[1].set_xlabel("weight index")
        axes[1].set_ylabel("hidden weight read from conductance")
        # the equations behind the words (MTT paper, docs/references.md)
        fig.supxlabel("left: trained W_b = f(W_h) (MTT Eq 16), measured W_b = I_ts / I_ts,max "
                      "(Eq 15); right: W_h from G_A+ - G_A- (Eq 14), grey lines: the 3-bit levels",
                      fontsize=7)
        for ax in axes:
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
    return Path(out)
