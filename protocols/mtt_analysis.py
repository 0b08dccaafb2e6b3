"""From a measured MTT sweep (G_A+, G_A−, I_ts per point) to (W_h, W_b) and I_ts,max.

Eq 14 and Eq 15 themselves are `hil.analysis.mtt_fit.hidden_weight` / `binary_weight`.
What is protocol-specific is I_ts,max, "the channel reading current ... at infinite ECRAM
conductance" (MTT Methods 4.6), which no finite device reaches.  It is measured by
extrapolating the sweep's upper points to 1/G_e → 0: with the reference transistor's current
I_ref nearly independent of the node voltage, the divider node sits at V_n = V_read_H − I_ref/G_e,
so I_ts is linear in 1/G_e where the inference transistor is in its linear region (Eq 12)
and ln I_ts is linear in 1/G_e where it is subthreshold (Eq 13, V_read_H below 2·V_T).
Both are fitted and the better one is used.
"""
from __future__ import annotations

import numpy as np

#: fraction of the sweep (by conductance span) at the top used for the extrapolation
TOP_FRACTION = 0.4


def extrapolate_i_max(g_S: np.ndarray, i_A: np.ndarray) -> tuple[float, str]:
    """|I_ts| at 1/G -> 0 from the top of a sweep: (I_max, "linear" | "log")."""
    g, i = np.asarray(g_S, float).ravel(), np.abs(np.asarray(i_A, float).ravel())
    ok = np.isfinite(g) & np.isfinite(i) & (g > 0)
    g, i = g[ok], i[ok]
    if g.size < 2:
        return float(np.max(i)) if i.size else float("nan"), "max"
    top = g >= g.min() + (1 - TOP_FRACTION) * (g.max() - g.min())
    if top.sum() < 2:
        top = g >= np.sort(g)[-2]
    x, y = 1.0 / g[top], i[top]
    p_lin = np.polyfit(x, y, 1)
    r_lin = np.sqrt(np.mean((np.polyval(p_lin, x) - y) ** 2))
    if np.all(y > 0):
        p_log = np.polyfit(x, np.log(y), 1)
        r_log = np.sqrt(np.mean((np.exp(np.polyval(p_log, x)) - y) ** 2))
        if r_log < r_lin:
            return float(np.exp(p_log[1])), "log"
    return float(p_lin[1]), "linear"


def transfer_points(g_plus_S: np.ndarray, g_minus_S: np.ndarray, i_ts_A: np.ndarray,
                    n_points: int) -> dict[str, np.ndarray]:
    """(W_h, W_b) of every point and unit for one bias point.

    Inputs are (2·n_points, units): the first ``n_points`` rows sweep G_A+ (positive branch,
    G_A− idle), the next sweep G_A− (negative branch).  Per unit: G_e is the swept device's
    conductance, G_e,min/max its extremes over both branches (Eq 14), and I_ts,max is
    extrapolated separately for each branch (Eq 15).
    """
    from hil.analysis.mtt_fit import binary_weight, hidden_weight   # scipy: import only when used

    gp, gm, i = (np.asarray(a, float) for a in (g_plus_S, g_minus_S, i_ts_A))
    g_e = np.concatenate([gp[:n_points], gm[n_points:]], axis=0)
    units = g_e.shape[1]
    w_h, w_b = np.full(g_e.shape, np.nan), np.full(g_e.shape, np.nan)
    i_max = np.full((units, 2), np.nan)
    for u in range(units):
        ge, iu = g_e[:, u], i[:, u]
        if not np.isfinite(ge).any():
            continue
        lo, hi = np.nanmin(ge), np.nanmax(ge)
        if not hi > lo:
            continue
        w_h[:, u] = hidden_weight(ge, iu, lo, hi)
        for b, sl in enumerate((slice(0, n_points), slice(n_points, 2 * n_points))):
            im, _ = extrapolate_i_max(ge[sl], iu[sl])
            i_max[u, b] = im
            if np.isfinite(im) and im > 0:
                w_b[sl, u] = binary_weight(iu[sl], im)
    return {"g_e_S": g_e, "W_h": w_h, "W_b": w_b, "i_ts_max_A": i_max}
