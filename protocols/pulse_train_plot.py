"""The pulse-train view: conductance vs pulse number, LTP/LTD shaded (like MTT Fig. 3d)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hil.store import Run

MAX_TRACES = 16
#: more cells than this get one legend line, not one per cell
MAX_LABELS = 6


def plot_pulse_train(run: "Run", fig: "Figure") -> None:
    ev = run.read_events()
    n_cells = len(run.read_result("cells"))
    G_uS = ev["G_S"].reshape(-1, n_cells) * 1e6
    amp = ev["V_V"].reshape(-1, n_cells)[:, 0]
    pulse = np.arange(1, len(G_uS) + 1)
    cells = run.read_result("cells")
    ax = fig.add_subplot(111)
    for k in range(min(n_cells, MAX_TRACES)):
        r, c = (int(x) for x in cells[k])
        ax.plot(pulse, G_uS[:, k], ".", ms=3, alpha=0.8 if n_cells == 1 else 0.4,
                label=f"cell ({r}, {c})" if n_cells <= MAX_LABELS else None)
    if n_cells > MAX_LABELS:  # one legend line for the traces instead of a line per cell
        ax.plot([], [], ".", color="0.5", label=f"{min(n_cells, MAX_TRACES)} of {n_cells} cells, one trace each")
    if n_cells > 1:
        ax.plot(pulse, G_uS.mean(1), "k-", lw=1.5, label=f"mean of {n_cells} cells")
    # shade runs of potentiation (LTP) and depression (LTD) pulses, each named once in the legend
    pot = amp > 0
    for mask, color, what in ((pot, "tab:red", "potentiation (LTP)"), (~pot, "tab:blue", "depression (LTD)")):
        edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
        volts = f" {amp[mask].min():+g} V" if mask.any() and amp[mask].min() == amp[mask].max() else ""
        for i, (lo, hi) in enumerate(zip(edges[::2], edges[1::2])):
            ax.axvspan(lo + 0.5, hi + 0.5, color=color, alpha=0.08, lw=0,
                       label=f"{what} pulses{volts}" if i == 0 else None)
    ax.legend(loc="best", fontsize=8, ncol=2 if n_cells > 4 else 1)
    ax.set_yscale("log")
    ax.set_xlabel("pulse number")
    ax.set_ylabel("conductance G (µS)")
    v_pot = amp[pot].max() if pot.any() else float("nan")
    v_dep = amp[~pot].min() if (~pot).any() else float("nan")
    widths = ev["width_s"]
    ratio = run.read_result("on_off_ratio") if "on_off_ratio" in run.list("results") else None
    title = f"Pulse train: {v_pot:+g} V / {v_dep:+g} V, {1e3 * widths.max():g} ms"
    if ratio is not None:
        title += f"  (on/off {np.mean(ratio):.0f})"
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
