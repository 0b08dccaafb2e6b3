"""DC I–V sweeps of one cell: the ECRAM gate transfer curve or RRAM set/reset loops.

ECRAM (``mode=transfer``, MTT Fig. 3a): the gate is swept 0 → +V_max → 0 → V_min → 0 in
``step_V`` steps (±8 V published) while the drain current is read at the card's read bias
after every point; the state follows the gate, so the curve is a hysteresis loop.  The DC
switching ratio of a cycle is I(V_G = 0 after the positive excursion) / I(V_G = 0 after the
negative excursion); published: 56 on average over 50 cycles.

RRAM (``mode=set_reset``): the cell voltage is swept 0 → V_set → 0 → V_reset → 0 with the
current clipped at ``compliance_A``.  Per cycle: V_set (first point of the positive sweep that
reaches 90 % of the compliance, else the largest current step), V_reset (the point before the
steepest fall of |I| on the negative sweep: the filament ruptures) and the on/off ratio of |I/V| at
±``v_ratio_V`` on the way back from set and from reset.

One step per cycle; events: one row per voltage point (op ``iv``; ``G_S`` = I / v_read for the
transfer curve, I / V for RRAM, NaN at 0 V).  Results: ``V_V`` (points), ``I_A`` (cycles,
points), ``ratio`` per cycle (and ``v_set_V``/``v_reset_V`` for RRAM).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hil.cards import preset
from hil.errors import ParameterError
from hil.store import make_events
from protocols.base import Protocol
from protocols.cells import parse_cells
from protocols.params import Param

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hil.store import Run

def sweep_waveform(v_max_V: float, v_min_V: float, step_V: float) -> tuple[np.ndarray, int, int]:
    """0 → v_max → 0 → v_min → 0 staircase; returns (V, index of the middle 0, index of the end)."""
    if not (v_max_V > 0 > v_min_V):
        raise ParameterError(f"sweep needs v_max_V > 0 > v_min_V; got {v_max_V} V and {v_min_V} V")
    if not 0 < step_V <= min(v_max_V, -v_min_V):
        raise ParameterError(f"step_V={step_V} V must be > 0 and no larger than the sweep extremes")
    from protocols.params import check_size

    check_size(f"an I-V sweep {v_min_V} .. {v_max_V} V in steps of step_V={step_V} V",
               (v_max_V - v_min_V) / step_V + 2)
    up = np.arange(0.0, v_max_V + step_V / 2, step_V)
    up[-1] = v_max_V
    dn = np.arange(0.0, v_min_V - step_V / 2, -step_V)
    dn[-1] = v_min_V
    v = np.concatenate([up, up[-2::-1], dn[1:], dn[-2::-1]])
    return np.round(v, 9), 2 * len(up) - 2, len(v) - 1


def transfer_ratio(i_A: np.ndarray, mid: int, end: int) -> float:
    """DC switching ratio at V_G = 0: after the positive excursion / after the negative one."""
    lo = abs(float(i_A[end]))
    return abs(float(i_A[mid])) / lo if lo > 0 else float("inf")


def set_reset_metrics(v: np.ndarray, i_A: np.ndarray, mid: int, compliance_A: float,
                      v_ratio_V: float) -> tuple[float, float, float]:
    """(V_set, V_reset, on/off ratio) of one RRAM loop (see module docstring)."""
    peak = int(np.argmax(v))
    up_v, up_i = v[: peak + 1], np.abs(i_A[: peak + 1])
    hit = np.flatnonzero(up_i >= 0.9 * compliance_A)
    v_set = float(up_v[hit[0]]) if hit.size else float(up_v[int(np.argmax(np.diff(up_i))) + 1])
    neg = np.flatnonzero(np.arange(len(v)) > mid)
    neg = neg[v[neg] < 0]
    trough = neg[int(np.argmin(v[neg]))] if neg.size else len(v) - 1
    first = neg[neg <= trough]
    if first.size >= 2:      # the point before the steepest fall of |I| while V goes more negative
        drop = np.abs(i_A[first[:-1]]) - np.abs(i_A[first[1:]])
        v_reset = float(v[first[int(np.argmax(drop))]])
    else:
        v_reset = float("nan")
    back_set = np.arange(peak, mid + 1)             # from V_set back to 0: low-resistance state
    back_reset = np.arange(trough, len(v))          # from V_reset back to 0: high-resistance state
    def g_at(idx: np.ndarray) -> float:
        k = idx[int(np.argmin(np.abs(np.abs(v[idx]) - v_ratio_V)))]
        return abs(float(i_A[k] / v[k])) if v[k] != 0 else float("nan")
    g_on, g_off = g_at(back_set), g_at(back_reset)
    return v_set, v_reset, (g_on / g_off if g_off > 0 else float("inf"))


class IvSweep(Protocol):
    name = "iv_sweep"
    description = "DC sweep of one cell: ECRAM gate transfer curve (±8 V, switching ratio) or RRAM set/reset I-V"
    batch_steps = 5
    params = (
        Param("cell", "0,0", "", "the cell to sweep: R,C", kind="str"),
        Param("mode", "auto", "", "transfer (ECRAM gate) | set_reset (RRAM) | auto (the card's presets.iv_sweep.mode)",
              kind="str", choices=("auto", "transfer", "set_reset")),
        Param("v_max_V", None, "V", "positive extreme", positive=True, limit="voltage",
              preset="iv_sweep.v_max_V"),
        Param("v_min_V", None, "V", "negative extreme", max=-1e-9, limit="voltage",
              preset="iv_sweep.v_min_V"),
        Param("step_V", None, "V", "staircase step", positive=True, preset="iv_sweep.step_V"),
        Param("cycles", None, "", "number of loops (ECRAM: 50 as published)", kind="int",
              min=1, max=100000, preset="iv_sweep.cycles"),
        Param("compliance_A", None, "A", "current compliance", positive=True, limit="compliance",
              preset="iv_sweep.compliance_A"),
        Param("v_ratio_V", 0.1, "V", "RRAM: |V| at which on/off is taken", positive=True),
    )

    def validate(self) -> None:
        mask = parse_cells(self.p.cell, self.backend.shape)
        if mask.sum() != 1:
            raise ParameterError(f"cell={self.p.cell!r} must name exactly one cell (R,C); it selects {mask.sum()}")
        card_mode = str(preset(self.backend.device, "iv_sweep.mode"))
        if self.p.mode not in ("auto", card_mode):
            raise ParameterError(f"mode={self.p.mode!r} does not fit device {self.backend.device.get('name')!r} "
                                 f"(kind {self.backend.device.get('kind')!r}); use {card_mode} or auto")
        sweep_waveform(self.p.v_max_V, self.p.v_min_V, self.p.step_V)

    def setup(self) -> None:
        mask = parse_cells(self.p.cell, self.backend.shape)
        self.cell = tuple(int(x) for x in np.argwhere(mask)[0])
        self.p.mode = str(preset(self.backend.device, "iv_sweep.mode"))
        self.v, self.mid, self.end = sweep_waveform(self.p.v_max_V, self.p.v_min_V, self.p.step_V)
        self.v_read_V = float(self.backend.device.get("read", {}).get("v_read_V", 0.1))
        self.I = np.full((self.p.cycles, len(self.v)), np.nan)

    def n_steps(self) -> int:
        return self.p.cycles

    def start(self, run: "Run") -> None:
        run.write_result("V_V", self.v, "V", description="swept voltage of every point of a cycle")

    def step(self, i: int, run: "Run") -> None:
        t0 = self.backend.clock.now()
        I = np.asarray(self.backend.iv_sweep(self.cell, self.v, self.p.compliance_A), dtype=float)
        self.I[i] = I
        t = np.linspace(t0, self.backend.clock.now(), len(self.v))
        if self.p.mode == "transfer":
            G = I / self.v_read_V
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                G = np.where(self.v != 0, I / self.v, np.nan)
        run.append_events(make_events(len(self.v), t_s=t, row=self.cell[0], col=self.cell[1],
                                      V_V=self.v, G_S=G, step=i, op="iv"))

    def finish(self, run: "Run") -> None:
        run.write_result("I_A", self.I, "A", description="current per cycle and point")
        if self.p.mode == "transfer":
            ratio = np.array([transfer_ratio(row, self.mid, self.end) for row in self.I])
            run.write_result("ratio", ratio, "", description="DC switching ratio at V_G = 0 per cycle")
            return
        m = np.array([set_reset_metrics(self.v, row, self.mid, self.p.compliance_A, self.p.v_ratio_V)
                      for row in self.I])
        run.write_result("v_set_V", m[:, 0], "V", description="set voltage per cycle")
        run.write_result("v_reset_V", m[:, 1], "V", description="reset voltage per cycle")
        run.write_result("ratio", m[:, 2], "", description=f"on/off |I/V| ratio at ±{self.p.v_ratio_V} V per cycle")

    def state_dict(self) -> dict[str, Any]:
        return {"I": self.I}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.I = np.asarray(state["I"], dtype=float)

    @classmethod
    def summary(cls, run: "Run") -> list[str]:
        r = run.read_result("ratio")
        p = run.attrs["params"]
        lines = [f"{p['mode']}: switching ratio mean {np.mean(r):.1f} (min {np.min(r):.1f}, max {np.max(r):.1f}) "
                 f"over {len(r)} cycles"]
        if p["mode"] == "set_reset":
            lines.append(f"V_set {np.mean(run.read_result('v_set_V')):.2f} V, "
                         f"V_reset {np.mean(run.read_result('v_reset_V')):.2f} V (means)")
        return lines

    @classmethod
    def plot(cls, run: "Run", fig: "Figure") -> None:
        plot_iv(run, fig)


def plot_iv(run: "Run", fig: "Figure") -> None:
    """|I| (log) vs V for every cycle (colour = cycle), and the ratio per cycle."""
    from hil.plotting import color_scale

    v, I, ratio = run.read_result("V_V"), run.read_result("I_A"), run.read_result("ratio")
    p = run.attrs["params"]
    ax1, ax2 = fig.add_subplot(1, 3, (1, 2)), fig.add_subplot(1, 3, 3)
    colors = color_scale(fig, ax1, np.arange(1, len(I) + 1), "cycle")
    for k, row in enumerate(I):
        ax1.semilogy(v, np.abs(row), "-", lw=0.8, color=colors[k], alpha=0.7)
    transfer = p["mode"] == "transfer"
    ax1.set_xlabel("gate voltage V_G (V)" if transfer else "cell voltage (V)")
    ax1.set_ylabel("drain current at read bias |I_D| (A)" if transfer else "|I| (A)")
    ax1.grid(True, which="both", alpha=0.3)
    ax2.plot(np.arange(1, len(ratio) + 1), ratio, "o-", ms=3)
    ax2.set_xlabel("cycle")
    ax2.set_ylabel("switching ratio at V_G = 0" if transfer else f"on/off at ±{p['v_ratio_V']} V")
    ax2.set_yscale("log")
    fig.suptitle(f"{'ECRAM transfer curve' if transfer else 'RRAM set/reset'} of cell {p['cell']}: "
                 f"ratio {np.mean(ratio):.1f} (mean of {len(ratio)} cycles)", fontsize=10)
