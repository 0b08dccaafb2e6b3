"""Plots of a ``validate`` run: accuracy vs time, measured vs target conductance per layer."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hil.nn.netmap import NetworkMap
from hil.plotting import saved_figure
from hil.store import Run


def _fmt_t(t: float) -> str:
    for unit, s in (("y", 3.1536e7), ("d", 86400.0), ("h", 3600.0)):
        if t >= 0.999 * s:
            return f"{t / s:.3g} {unit}"
    return f"{t:.3g} s"


def plot_accuracy(run_path: str | Path, out: str | Path) -> Path:
    """Accuracy from measured maps vs time after programming (log axis), software line."""
    run = Run.open(run_path)
    acc = run.read_result("accuracy")
    a = run.dataset_attrs("results/accuracy")
    t = np.asarray(a["times_s"], dtype=float)
    with saved_figure(out, figsize=(5.5, 3.8), dpi=120) as fig:
        ax = fig.subplots()
        tt = np.maximum(t, 1e-1)
        ax.semilogx(tt, 100 * acc, "o-", label="measured maps")
        ax.axhline(100 * float(a["software_accuracy"]), color="k", ls="--", lw=1, label="software")
        for x, y in zip(tt, acc):
            ax.annotate(_fmt_t(x), (x, 100 * y), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=7)
        ax.set_xlabel("time after programming (s)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{Path(run_path).name}: {run.attrs['params'].get('model', '')}", fontsize=9)
        ax.legend(loc="lower left")
    return Path(out)


def plot_scatter(run_path: str | Path, out: str | Path, snapshots: tuple[int, ...] = (0, -1)
                 ) -> Path:
    """Measured vs target conductance, one panel per layer, first and last snapshot."""
    run = Run.open(run_path)
    net = NetworkMap.from_json(run.dataset_attrs("results/target_G_S")["netmap"])
    target = net.plan.gather(run.read_result("target_G_S"))
    t_s, maps = run.read_maps()
    n = len(net.layers)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    with saved_figure(out, figsize=(3.2 * cols, 3.0 * rows), dpi=120) as fig:
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax, name in zip(axes.ravel(), net.layers):
            tg = target[name].ravel() * 1e6
            for k in dict.fromkeys(i % len(t_s) for i in snapshots):
                meas = net.plan.gather(maps[k])[name].ravel() * 1e6
                ax.plot(tg, meas, ".", ms=2, alpha=0.5, label=f"t = {_fmt_t(float(t_s[k]))}")
            lim = [np.nanmin(tg), np.nanmax(tg)]
            ax.plot(lim, lim, "k-", lw=0.8)
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("target G (µS)")
            ax.set_ylabel("measured G (µS)")
            ax.legend(fontsize=7, markerscale=4)
        for ax in axes.ravel()[n:]:
            ax.axis("off")
    return Path(out)
