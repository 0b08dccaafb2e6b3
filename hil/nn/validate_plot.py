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
    with saved_figure(out, figsize=(5.5, 3.8), dpi=120) as fig:
        _draw_accuracy(run, fig.subplots(), Path(run_path).name)
    return Path(out)


def _draw_accuracy(run: Run, ax, title: str) -> None:  # noqa: ANN001
    acc = run.read_result("accuracy")
    a = run.dataset_attrs("results/accuracy")
    t = np.asarray(a["times_s"], dtype=float)
    tt = np.maximum(t, 1e-1)
    ax.semilogx(tt, 100 * acc, "o-", label="measured maps")
    ax.axhline(100 * float(a["software_accuracy"]), color="k", ls="--", lw=1, label="software")
    for x, y in zip(tt, acc):
        ax.annotate(_fmt_t(x), (x, 100 * y), textcoords="offset points", xytext=(0, 6),
                    ha="center", fontsize=7)
    ax.set_xlabel("time after programming (s)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{title}: {run.attrs['params'].get('model', '')}", fontsize=9)
    ax.legend(loc="lower left")


def plot_validate(run_path: str | Path, out) -> str | Path:  # noqa: ANN001
    """`hil plot` of a ``validate`` run: accuracy vs time above, measured vs target G per layer."""
    run = Run.open(run_path)
    n = len(NetworkMap.from_json(run.dataset_attrs("results/target_G_S")["netmap"]).layers)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    with saved_figure(out, figsize=(3.2 * cols, 3.0 * rows + 3.2), dpi=120) as fig:
        grid = fig.add_gridspec(rows + 1, cols, height_ratios=(3.2,) + (3.0,) * rows)
        _draw_accuracy(run, fig.add_subplot(grid[0, :]), Path(run_path).name)
        axes = np.array([[fig.add_subplot(grid[1 + r, c]) for c in range(cols)] for r in range(rows)])
        _draw_scatter(run, axes, (0, -1))
    return out


def plot_scatter(run_path: str | Path, out: str | Path, snapshots: tuple[int, ...] = (0, -1)
                 ) -> Path:
    """Measured vs target conductance, one panel per layer, first and last snapshot."""
    run = Run.open(run_path)
    n = len(NetworkMap.from_json(run.dataset_attrs("results/target_G_S")["netmap"]).layers)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    with saved_figure(out, figsize=(3.2 * cols, 3.0 * rows), dpi=120) as fig:
        _draw_scatter(run, fig.subplots(rows, cols, squeeze=False), snapshots)
    return Path(out)


def _draw_scatter(run: Run, axes, snapshots: tuple[int, ...]) -> None:  # noqa: ANN001
    net = NetworkMap.from_json(run.dataset_attrs("results/target_G_S")["netmap"])
    target = net.plan.gather(run.read_result("target_G_S"))
    t_s, maps = run.read_maps()
    n = len(net.layers)
    for i, (ax, name) in enumerate(zip(axes.ravel(), net.layers)):
        tg = target[name].ravel() * 1e6
        for k in dict.fromkeys(i % len(t_s) for i in snapshots):
            meas = net.plan.gather(maps[k])[name].ravel() * 1e6
            ax.plot(tg, meas, ".", ms=2, alpha=0.5, label=f"t = {_fmt_t(float(t_s[k]))}")
        lim = [np.nanmin(tg), np.nanmax(tg)]
        ax.plot(lim, lim, "k-", lw=0.8)
        r, c = net.plan.layer_shapes[name]
        # the module's name in the model ('1' in a Sequential) says little: number the layer
        ax.set_title(f"layer {i + 1} of {n} (module '{name}', {r} x {c} map)", fontsize=8)
        ax.set_xlabel("target G (µS)")
        ax.set_ylabel("measured G (µS)")
        ax.legend(fontsize=7, markerscale=4)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
