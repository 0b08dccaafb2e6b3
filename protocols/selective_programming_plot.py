"""The selective-programming view (like MTT Fig. 5a,c,d): pattern, ΔG map, G per pulse."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hil.store import Run


def plot_selective(run: "Run", fig: "Figure") -> None:
    from matplotlib.colors import ListedColormap

    pattern = run.read_result("pattern")
    delta = run.read_result("delta_G_S") * 1e6
    a = run.dataset_attrs("results/disturbance")
    ax1, ax2, ax3 = fig.add_subplot(2, 2, 1), fig.add_subplot(2, 2, 2), fig.add_subplot(2, 1, 2)

    # Fig. 5a colours: yellow = decrease, gray = maintain, blue = increase
    ax1.imshow(pattern, cmap=ListedColormap(["#e8b931", "#bdbdbd", "#3b75af"]), vmin=-1, vmax=1,
               interpolation="nearest")
    ax1.set_title("pattern (blue +, gray hold, yellow −)", fontsize=9)
    lim = np.nanmax(np.abs(delta)) or 1.0
    im = ax2.imshow(delta, cmap="coolwarm_r", vmin=-lim, vmax=lim, interpolation="nearest")
    fig.colorbar(im, ax=ax2, label="ΔG (µS)")
    ax2.set_title("measured ΔG", fontsize=9)
    for ax in (ax1, ax2):
        ax.set_xlabel("column")
        ax.set_ylabel("row")

    _, maps = run.read_maps()
    ev = run.read_events()
    first = int(run.dataset_attrs("results/pattern")["first_pattern_step"])
    ev = ev[(ev["op"] == 1) & (ev["step"] >= first)]     # the pattern's pulses, not the write-verify
    n_pulses = int(run.attrs["params"]["n_pulses"])
    for sign, color, label in ((1, "tab:blue", "potentiated"), (-1, "tab:orange", "depressed")):
        e = ev[np.sign(ev["V_V"]) == sign]
        if not e.size:
            continue
        # within one line's phase, events come in blocks of its target count, one per pulse
        k = np.empty(len(e), int)
        for step in np.unique(e["step"]):
            at = np.flatnonzero(e["step"] == step)
            k[at] = np.arange(at.size) // (at.size // n_pulses)
        x = k + 1 + (0 if sign > 0 else n_pulses)
        ax3.plot(x, e["G_S"] * 1e6, ".", ms=1.5, color=color, alpha=0.25)
        mean = np.array([e["G_S"][k == j].mean() for j in range(n_pulses)]) * 1e6
        ax3.plot(np.arange(n_pulses) + 1 + (0 if sign > 0 else n_pulses), mean, "-", color="tab:red", lw=1.5)
        ax3.plot([], [], ".", color=color, label=label)
    ax3.plot([], [], "-", color="tab:red", label="mean")
    held = pattern == 0
    if held.any() and len(maps):
        ax3.axhline(maps[0][held].mean() * 1e6, color="gray", ls="--", lw=1, label="held cells, before")
        ax3.axhline(maps[-1][held].mean() * 1e6, color="k", ls=":", lw=1, label="held cells, after")
    ax3.set_xlabel("pulse in phase (potentiation, then depression)")
    ax3.set_ylabel("G of target cells (µS)")
    ax3.legend(fontsize=7, loc="best")
    fig.suptitle(f"H-1E1T selective programming ({run.attrs['params']['mode']}-wise): held cells "
                 f"|ΔG|/G max {100 * float(a['held_max']):.2f} %, mean {100 * float(a['held_mean']):.3f} %",
                 fontsize=10)
