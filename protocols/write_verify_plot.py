"""The write-verify view: target vs programmed G, convergence per round, pulse and error
histograms (like MTT Fig. 6f,g and Fig. S8)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from protocols.ispp import HISTORY_COLUMNS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hil.store import Run

MAX_POINTS = 20000


def plot_write_verify(run: "Run", fig: "Figure") -> None:
    target = run.read_result("target_G_S")
    final = run.read_result("final_G_S")
    conv = run.read_result("converged").astype(bool)
    tol = run.read_result("tol_S")
    sel = np.isfinite(target)
    ax1, ax2, ax3, ax4 = (fig.add_subplot(2, 2, k) for k in range(1, 5))

    # target vs final (subsampled for large arrays)
    idx = np.flatnonzero(sel)
    if idx.size > MAX_POINTS:
        idx = np.random.default_rng(0).choice(idx, MAX_POINTS, replace=False)
    t, g, c = target.flat[idx] * 1e6, final.flat[idx] * 1e6, conv.flat[idx]
    ax1.plot(t[c], g[c], ".", ms=2, alpha=0.4, label="converged")
    if (~c).any():
        ax1.plot(t[~c], g[~c], "x", ms=4, color="tab:red", label="not converged")
    lim = [0, max(np.nanmax(t), np.nanmax(g)) * 1.05] if t.size else [0, 1]
    ax1.plot(lim, lim, "k-", lw=0.8)
    ax1.set_xlabel("target G (µS)")
    ax1.set_ylabel("programmed G (µS)")
    ax1.legend(loc="upper left", fontsize=7)
    ax1.set_title("target vs programmed", fontsize=9)

    # convergence per round
    hist = run.read_result("history")
    if hist.size:
        col = {k: i for i, k in enumerate(HISTORY_COLUMNS)}
        n = max(int(sel.sum()), 1)
        ax2.plot(hist[:, col["pulse"]], 100 * hist[:, col["n_converged"]] / n, "-", label="converged")
        ax2.plot(hist[:, col["pulse"]], 100 * hist[:, col["n_active"]] / n, "-", label="in progress")
        ax2.set_yscale("symlog", linthresh=0.1)
        ax2b = ax2.twinx()
        ax2b.plot(hist[:, col["pulse"]], hist[:, col["v_p_max_V"]], ":", color="tab:red", lw=1)
        ax2b.plot(hist[:, col["pulse"]], hist[:, col["v_d_max_V"]], ":", color="tab:blue", lw=1)
        ax2b.set_ylabel("max |V| of round (V): V_P red, V_D blue", fontsize=7)
        ax2.legend(loc="center right", fontsize=7)
    ax2.set_xlabel("pulse round")
    ax2.set_ylabel("cells (%)")
    ax2.set_title("convergence", fontsize=9)

    counts = run.read_result("pulse_hist")
    edges = run.dataset_attrs("results/pulse_hist")["edges"]
    ax3.bar(edges[:-1], counts, width=1.0, align="edge")
    ax3.set_yscale("log")
    ax3.set_xlabel("pulses to converge")
    ax3.set_ylabel("cells")
    ax3.set_title("pulse count", fontsize=9)

    ecounts = run.read_result("error_hist")
    eedges = run.dataset_attrs("results/error_hist")["edges"]
    ax4.bar(100 * eedges[:-1], ecounts, width=100 * np.diff(eedges), align="edge")
    rel_tol = np.nanmedian(tol[sel] / target[sel]) if sel.any() else np.nan
    for s in (-1, 1):
        ax4.axvline(100 * s * rel_tol, color="k", ls="--", lw=0.8)
    ax4.set_xlabel("final error (% of target)")
    ax4.set_ylabel("cells")
    ax4.set_title("error (dashed: median tolerance)", fontsize=9)

    rate = float(run.read_result("convergence_rate"))
    fig.suptitle(f"write-verify: {100 * rate:.2f} % of {int(sel.sum())} cells converged "
                 f"({run.path.name})", fontsize=10)
