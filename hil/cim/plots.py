"""Figures of the CIM analyses (matplotlib, through :func:`hil.plotting.saved_figure`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hil.plotting import saved_figure


def plot_cost(costs_by_unit: dict[str, list], png: str | Path) -> Path:
    """Per-layer energy of the network on each unit (grouped bars, log scale)."""
    names = [c.layer for c in next(iter(costs_by_unit.values()))]
    x = np.arange(len(names))
    w = 0.8 / max(len(costs_by_unit), 1)
    with saved_figure(png, figsize=(max(6.0, 0.35 * len(names) + 3), 4.5)) as fig:
        ax = fig.add_subplot()
        for k, (unit, costs) in enumerate(costs_by_unit.items()):
            ax.bar(x + k * w, [c.energy_J * 1e9 for c in costs], w,
                   label=f"{unit} ({costs[0].fmt})")
        ax.set_xticks(x + w * (len(costs_by_unit) - 1) / 2, names, rotation=70, fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel("energy per inference (nJ)")
        ax.legend(fontsize=8)
    return Path(png)


def plot_sensitivity(names: list[str], mean: np.ndarray, std: np.ndarray, png: str | Path,
                     formats: dict[str, list[float]] | None = None, title: str = "",
                     quantized: str = "weights + inputs") -> Path:
    """Per-item accuracy drop (mean ± σ over MC instances), format drops as markers
    (``quantized``: what each format quantized, for the legend)."""
    x = np.arange(len(names))
    with saved_figure(png, figsize=(max(6.0, 0.4 * len(names) + 3), 4.5)) as fig:
        ax = fig.add_subplot()
        ax.bar(x, 100 * np.asarray(mean), yerr=100 * np.asarray(std), capsize=3,
               color="tab:blue", alpha=0.8, label="device errors (MC mean ± σ)")
        for fmt, drops in (formats or {}).items():
            ax.plot(x, 100 * np.asarray(drops), "o", ms=4, label=f"{fmt} {quantized}")
        ax.set_xticks(x, names, rotation=60, fontsize=7)
        ax.set_ylabel("accuracy drop (percentage points)")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
    return Path(png)


def plot_pareto(front: list[tuple[float, float, float]], chosen: tuple[float, float],
                baselines: dict[str, tuple[float, float]], budget: float, png: str | Path) -> Path:
    """Energy vs accuracy drop: the exact solver's front (predicted and measured), the chosen
    partition and the single-unit baselines."""
    with saved_figure(png) as fig:
        ax = fig.add_subplot()
        if front:
            e, pred, meas = (np.array(v) for v in zip(*front))
            ax.plot(100 * pred, e * 1e9, "o-", color="0.6", ms=3, label="front (predicted drop)")
            ax.plot(100 * meas, e * 1e9, "s", color="tab:blue", ms=4, label="front (measured MC)")
        ax.plot(100 * chosen[1], chosen[0] * 1e9, "*", color="tab:red", ms=14,
                label="chosen (measured)")
        for name, (en, drop) in baselines.items():
            ax.plot(100 * drop, en * 1e9, "^", ms=8, label=name)
        ax.axvline(100 * budget, color="tab:red", ls="--", lw=1, label=f"budget {100 * budget:.2f} %")
        ax.set_yscale("log")
        ax.set_xlabel("accuracy drop (percentage points)")
        ax.set_ylabel("energy per inference (nJ)")
        ax.legend(fontsize=8)
    return Path(png)


def plot_energy_trend(sizes: np.ndarray, curves: dict[str, list[float]],
                      published: dict[str, float], png: str | Path) -> Path:
    """MTT energy advantage vs array size (Fig. 7k style), the 4 Mb point marked."""
    with saved_figure(png) as fig:
        ax = fig.add_subplot()
        for name, ratio in curves.items():
            ax.plot(sizes, ratio, "o-", ms=3, label=name)
        for dev, r in published.items():
            ax.plot([4 * 2 ** 20], [r], "*", ms=12, label=f"paper {dev} 4 Mb: {r}x")
        ax.axvline(4 * 2 ** 20, color="0.5", ls=":", lw=1)
        ax.axhline(1, color="k", lw=0.5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("array size N (cells)")
        ax.set_ylabel("energy advantage vs A100 + NVMe")
        ax.legend(fontsize=8)
    return Path(png)
