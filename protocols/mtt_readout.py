"""MTT readout: sweep the hidden devices of MTT units through their conductance range and
measure the inference current I_ts at one or more bias points (MTT §2.2, Fig. 4, Methods 4.6).

Unit (r, k) is the pair of columns 2k (G_A+) and 2k+1 (G_A−) of row r.  Step j < n_points
writes G_A+ of every selected unit to the j-th of ``n_points`` conductances from g_low_S to
g_high_S with G_A− held at g_low_S (positive branch); steps n_points.. do the same with the
roles swapped (negative branch).  Each step write-verifies all units at once
(`protocols.programming`), reads both devices and calls `Backend.mtt_read` at every bias
point (V_read_H, V_ref_G, V_drain; lists of equal length, or length 1 to broadcast).

At the end: W_h from conductance (Eq 14) and W_b = I_ts / I_ts,max (Eq 15, with I_ts,max
extrapolated to infinite G_e, see `protocols.mtt_analysis`) per unit, then Eq 7 is fitted
(`hil.analysis.mtt_fit.fit_eq7`) to all units pooled and to each unit; where V_read_H is below
2·V_T of the inference transistor, the ternary Eq 11 with its dead-zone radius r as well.
Results: `/results/G_plus_S`, `G_minus_S` (points, units), `I_ts_A`, `W_h`, `W_b`
(bias, points, units), `bias` (bias, 3), `units` (units, 2); fits: `/fits/eq7` (bias, 4:
A_p, B_p, A_n, B_n; attrs rms), `/fits/eq7_units` (bias, units, 4), `/fits/i_ts_max_A`
(bias, units, 2), `/fits/eq11` (bias, 5: A_p, B_p, A_n, B_n, r; NaN rows where not ternary).
I_ts is in `/results` only; `/events` holds the write-verify pulses and reads.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from hil.cards import load_card, preset
from hil.errors import HilError, ParameterError
from protocols.base import Protocol
from protocols.cells import parse_cells
from protocols.mtt_analysis import transfer_points
from protocols.params import Param
from protocols.programming import ISPP_PARAMS, check_ladders, make_programmer

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hil.store import Run

EQ7_COLUMNS = ["A_p", "B_p", "A_n", "B_n"]
EQ11_COLUMNS = ["A_p", "B_p", "A_n", "B_n", "r"]


def default_bias(device: dict[str, Any]) -> tuple[float, float, float]:
    """Published (V_read_H, V_ref_G, V_drain) of the device: its card's ``[presets.mtt_readout]``."""
    return tuple(float(preset(device, f"mtt_readout.{k}"))   # type: ignore[return-value]
                 for k in ("v_read_H_V", "v_ref_G_V", "v_drain_V"))


def inference_v_t(device: dict[str, Any]) -> float:
    """Threshold voltage of the unit's inference transistor from the cards (default 0.7 V)."""
    name = device.get("mtt", {}).get("inference")
    try:
        return float(load_card(name)["v_t_V"]) if name else 0.7
    except (HilError, KeyError, TypeError, ValueError):
        return 0.7


class MttReadout(Protocol):
    name = "mtt_readout"
    description = "sweep MTT hidden devices, read I_ts at bias points, fit Eq 7 (and ternary Eq 11)"
    batch_steps = 1
    params = (
        Param("units", "all", "", "MTT units (row, unit index) as cells of the (rows, cols/2) unit grid",
              kind="str"),
        Param("n_points", 11, "", "conductance points per branch", kind="int", min=4, max=1000),
        Param("g_low_S", None, "S", "lowest swept (and idle) conductance", positive=True,
              preset="mtt_readout.g_low_S"),
        Param("g_high_S", None, "S", "highest swept conductance: the card's G_max (ECRAM 50 µS, the "
              "condition of Eq 16, Methods 4.7)", positive=True, preset="mtt_readout.g_high_S"),
        Param("v_read_H_V", None, "V", "hidden-weight read bias(es) (Fig. 4a,h)",
              kind="floats", min=0.0, max=5.0, preset="mtt_readout.v_read_H_V"),
        Param("v_ref_G_V", None, "V", "reference-transistor gate bias(es)",
              kind="floats", min=0.0, max=5.0, preset="mtt_readout.v_ref_G_V"),
        Param("v_drain_V", None, "V", "inference drain bias(es), ± applied (Fig. 4a,b)",
              kind="floats", min=0.0, max=1.0, preset="mtt_readout.v_drain_V"),
        Param("v_t_V", None, "V", "inference-transistor V_T for the ternary rule (default: from the card)",
              positive=True, max=5.0),
    ) + tuple(dataclasses.replace(p, default=0.005, help=p.help + " (0.5 %: near W_h = 0 the unit's "
                                  "current is steep in G_A+ - G_A-, Fig. 4a,b)") if p.name == "tol" else p
              for p in ISPP_PARAMS)

    def validate(self) -> None:
        rows, cols = self.backend.shape
        if cols < 2:
            raise ParameterError(f"MTT units need at least 2 columns; the array has {cols}")
        v = self.values
        if not v["g_high_S"] > v["g_low_S"]:
            raise ParameterError(f"g_high_S={v['g_high_S']} S must exceed g_low_S={v['g_low_S']} S")
        lists = [v["v_read_H_V"], v["v_ref_G_V"], v["v_drain_V"]]
        n = max(len(x) for x in lists)
        if any(len(x) not in (1, n) for x in lists):
            raise ParameterError(
                f"bias lists v_read_H_V={lists[0]}, v_ref_G_V={lists[1]}, v_drain_V={lists[2]} must "
                f"have equal lengths or length 1")
        if any(x <= 0 for x in lists[0]):
            raise ParameterError(f"v_read_H_V={lists[0]} V: every value must be > 0")
        check_ladders(v)

    def setup(self) -> None:
        rows, cols = self.backend.shape
        self.unit_mask = parse_cells(self.p.units, (rows, cols // 2))
        self.units = np.argwhere(self.unit_mask)
        lists = [self.p.v_read_H_V, self.p.v_ref_G_V, self.p.v_drain_V]
        n = max(len(x) for x in lists)
        self.bias = np.array([[x[k] if len(x) > 1 else x[0] for x in lists] for k in range(n)])
        if self.p.v_t_V is None:
            self.p.v_t_V = inference_v_t(self.backend.device)
        self.sweep_S = np.linspace(self.p.g_low_S, self.p.g_high_S, self.p.n_points)
        U, P, B = len(self.units), 2 * self.p.n_points, len(self.bias)
        self.G_plus, self.G_minus = np.full((P, U), np.nan), np.full((P, U), np.nan)
        self.I_ts = np.full((B, P, U), np.nan)
        self.converged = np.zeros((P, U), bool)

    def n_steps(self) -> int:
        return 2 * self.p.n_points

    def _targets(self, j: int) -> np.ndarray:
        n = self.p.n_points
        t = np.full(self.backend.shape, np.nan)
        swept, idle = (self.sweep_S[j], self.p.g_low_S) if j < n else (self.p.g_low_S, self.sweep_S[j - n])
        r, k = self.units[:, 0], self.units[:, 1]
        t[r, 2 * k], t[r, 2 * k + 1] = swept, idle
        return t

    def step(self, i: int, run: "Run") -> None:
        target = self._targets(i)
        prog = make_programmer(self.backend, target, self.values, (self.p.g_low_S, self.p.g_high_S))
        for _ in range(self.p.max_pulses + 1):
            prog.iterate(run, i)
            if prog.done:
                break
        conv = prog.engine.as_map(prog.engine.converged)
        r, k = self.units[:, 0], self.units[:, 1]
        self.converged[i] = conv[r, 2 * k] & conv[r, 2 * k + 1]
        G = self.backend.read(v_read_V=self.p.v_read_V)
        self.G_plus[i], self.G_minus[i] = G[r, 2 * k], G[r, 2 * k + 1]
        for b, (vh, vg, vd) in enumerate(self.bias):
            self.I_ts[b, i] = np.asarray(self.backend.mtt_read(None, vh, vg, vd))[r, k]

    def finish(self, run: "Run") -> None:
        from hil.analysis.mtt_fit import fit_eq7, fit_eq11   # scipy: import only when used

        n, B = self.p.n_points, len(self.bias)
        run.write_result("units", self.units.astype(np.int32), "", description="(row, unit index) per unit")
        run.write_result("bias", self.bias, "V", columns=["v_read_H_V", "v_ref_G_V", "v_drain_V"])
        run.write_result("sweep_S", self.sweep_S, "S", description="target of the swept device per point")
        run.write_result("G_plus_S", self.G_plus, "S", description="G_A+ per point (2*n_points) and unit")
        run.write_result("G_minus_S", self.G_minus, "S", description="G_A- per point and unit")
        run.write_result("converged", self.converged, "", description="both devices inside tolerance")
        run.write_result("I_ts_A", self.I_ts, "A", description="inference current (bias, point, unit)")
        eq7, eq7u = np.full((B, 4), np.nan), np.full((B, len(self.units), 4), np.nan)
        eq11 = np.full((B, 5), np.nan)
        W_h, W_b = np.full(self.I_ts.shape, np.nan), np.full(self.I_ts.shape, np.nan)
        i_max = np.full((B, len(self.units), 2), np.nan)
        rms7, rms11 = np.full(B, np.nan), np.full(B, np.nan)
        for b in range(B):
            tp = transfer_points(self.G_plus, self.G_minus, self.I_ts[b], n)
            W_h[b], W_b[b], i_max[b] = tp["W_h"], tp["W_b"], tp["i_ts_max_A"]
            ok = np.isfinite(W_h[b]) & np.isfinite(W_b[b])
            if ok.sum() >= 4:
                f = fit_eq7(W_h[b][ok], W_b[b][ok])
                eq7[b], rms7[b] = [f[c] for c in EQ7_COLUMNS], f["rms"]
                for u in range(len(self.units)):
                    ou = ok[:, u]
                    if ou.sum() >= 4:
                        fu = fit_eq7(W_h[b][ou, u], W_b[b][ou, u])
                        eq7u[b, u] = [fu[c] for c in EQ7_COLUMNS]
                if self.bias[b, 0] < 2 * self.p.v_t_V:
                    f11 = fit_eq11(W_h[b][ok], W_b[b][ok])
                    eq11[b], rms11[b] = [f11[c] for c in EQ11_COLUMNS], f11["rms"]
        run.write_result("W_h", W_h, "", description="hidden weight, Eq 14 (bias, point, unit)")
        run.write_result("W_b", W_b, "", description="binary weight, Eq 15 (bias, point, unit)")
        run.write_fit("eq7", eq7, "", columns=EQ7_COLUMNS, rms=rms7, bias=self.bias,
                      description="Eq 7 fit to all units pooled, per bias point")
        run.write_fit("eq7_units", eq7u, "", columns=EQ7_COLUMNS, description="Eq 7 fit per unit (bias, unit, 4)")
        run.write_fit("eq11", eq11, "", columns=EQ11_COLUMNS, rms=rms11, v_t_V=self.p.v_t_V,
                      description="ternary Eq 11 fit where V_read_H < 2 V_T (NaN rows otherwise)")
        run.write_fit("i_ts_max_A", i_max, "A", columns=["positive", "negative"],
                      description="I_ts at infinite G_e, extrapolated per unit and branch (Eq 15)")

    def state_dict(self) -> dict[str, Any]:
        return {"G_plus": self.G_plus, "G_minus": self.G_minus, "I_ts": self.I_ts,
                "converged": self.converged}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("G_plus", "G_minus", "I_ts", "converged"):
            setattr(self, key, np.asarray(state[key]).astype(getattr(self, key).dtype))

    @classmethod
    def summary(cls, run: "Run") -> list[str]:
        eq7, eq11 = run.read_fit("eq7"), run.read_fit("eq11")
        bias = run.read_result("bias")
        out = []
        for b, (vh, vg, vd) in enumerate(bias):
            line = (f"V_read_H {vh:g} V, V_ref_G {vg:g} V, V_drain {vd:g} V: Eq 7 A_p {eq7[b, 0]:.2f}, "
                    f"B_p {eq7[b, 1]:.2f}, A_n {eq7[b, 2]:.2f}, B_n {eq7[b, 3]:.2f}")
            if np.isfinite(eq11[b, 4]):
                line += f"; ternary r = {eq11[b, 4]:.3f}"
            out.append(line)
        return out

    @classmethod
    def plot(cls, run: "Run", fig: "Figure") -> None:
        plot_mtt(run, fig)


def plot_mtt(run: "Run", fig: "Figure") -> None:
    """W_b vs W_h with the fitted Eq 7 (or Eq 11) curve per bias point, like MTT Fig. 4c/4e."""
    import matplotlib.pyplot as plt

    from hil.analysis.mtt_fit import transfer_eq7, transfer_eq11

    W_h, W_b = run.read_result("W_h"), run.read_result("W_b")
    bias = run.read_result("bias")
    eq7, eq11 = run.read_fit("eq7"), run.read_fit("eq11")
    ax = fig.add_subplot(111)
    colors = plt.cm.tab10(np.arange(len(bias)) % 10)
    w = np.linspace(-1, 1, 401)
    for b, (vh, vg, vd) in enumerate(bias):
        ax.plot(W_h[b].ravel(), W_b[b].ravel(), "o", ms=3, alpha=0.35, color=colors[b])
        if np.isfinite(eq11[b]).all():
            ax.plot(w, transfer_eq11(w, *eq11[b]), "-", color=colors[b], lw=1.5,
                    label=f"{vh:g}/{vg:g} V: ternary fit, dead zone r = {eq11[b, 4]:.2f}")
        elif np.isfinite(eq7[b]).all():
            ax.plot(w, transfer_eq7(w, *eq7[b]), "-", color=colors[b], lw=1.5,
                    label=f"{vh:g}/{vg:g} V: A_p {eq7[b, 0]:.1f} B_p {eq7[b, 1]:.1f} "
                          f"A_n {eq7[b, 2]:.1f} B_n {eq7[b, 3]:.1f}")
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("hidden weight W_h (from the conductance pair)")
    ax.set_ylabel("binary weight W_b (normalised unit current)")
    # the equations behind the words, as a caption (MTT paper, docs/references.md)
    fig.supxlabel("W_h = (G_A+ - G_A-) / range (MTT Eq 14); W_b = I_ts / I_ts,max (Eq 15); "
                  "lines: fitted transfer, Eq 7 (binary) or Eq 11 (ternary)", fontsize=7)
    ax.legend(fontsize=7, loc="lower right", title="V_read_H / V_ref_G", title_fontsize=7)
    n_units = W_h.shape[-1]
    ax.set_title(f"MTT transfer: {n_units} unit(s), points = measured, lines = fit ({run.path.name})",
                 fontsize=9)
