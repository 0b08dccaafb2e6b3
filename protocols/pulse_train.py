"""Pulse trains (LTP/LTD, alternating, random, custom) with a read after every pulse.

Defaults are the published ECRAM characterisation (REFERENCE §1, Fig. 3d): 180 pulses at
+10 V / 2 ms, then 180 at -7 V / 2 ms, drain read at 0.1 V.  Each step applies one pulse to
all selected cells at once (the backend's selection scheme) and reads them; one `/events`
row per selected cell and pulse.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hil.errors import ParameterError
from hil.store import make_events
from protocols.base import Protocol
from protocols.cells import parse_cells
from protocols.params import Param, check_size

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hil.store import Run

SEQUENCES = ("ltp_ltd", "alternating", "random", "custom")
MAX_FITTED_CELLS = 256  # nonlinearity fits per run (each is a small curve_fit)


def pulse_schedule(sequence: str, n_pot: int, v_pot_V: float, width_pot_s: float,
                   n_dep: int, v_dep_V: float, width_dep_s: float, cycles: int = 1,
                   seed: int = 0, amplitudes_V: list[float] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(amplitude_V, width_s) of every pulse, in order.  Pure and deterministic."""
    if sequence == "custom":
        if not amplitudes_V:
            raise ParameterError("sequence='custom' needs amplitudes_V (e.g. --set amplitudes_V=10,10,-7)")
        amp = np.tile(np.asarray(amplitudes_V, dtype=float), cycles)
    else:
        one = np.concatenate([np.full(n_pot, v_pot_V), np.full(n_dep, v_dep_V)])
        if sequence == "alternating":
            k = min(n_pot, n_dep)
            pairs = np.ravel(np.column_stack([np.full(k, v_pot_V), np.full(k, v_dep_V)]))
            one = np.concatenate([pairs, np.full(n_pot - k, v_pot_V), np.full(n_dep - k, v_dep_V)])
        amp = np.tile(one, cycles)
        if sequence == "random":
            amp = np.random.default_rng(seed).permutation(amp)
    width = np.where(amp > 0, width_pot_s, width_dep_s)
    return amp, width


class PulseTrain(Protocol):
    name = "pulse_train"
    description = "LTP/LTD (or alternating/random/custom) pulse train with a read after every pulse"
    batch_steps = 20
    params = (
        Param("cells", "0,0", "", "cells to pulse: all | R,C | R,C;R,C | R0:R1,C0:C1", kind="str"),
        Param("sequence", "ltp_ltd", "", "pulse order", kind="str", choices=SEQUENCES),
        Param("n_pot", 180, "", "potentiation pulses per cycle", kind="int", min=0, max=10**6),
        Param("v_pot_V", 10.0, "V", "potentiation amplitude (> 0)", positive=True, limit="voltage"),
        Param("width_pot_s", 2e-3, "s", "potentiation pulse width", positive=True, limit="width"),
        Param("n_dep", 180, "", "depression pulses per cycle", kind="int", min=0, max=10**6),
        Param("v_dep_V", -7.0, "V", "depression amplitude (< 0)", max=-1e-9, limit="voltage"),
        Param("width_dep_s", 2e-3, "s", "depression pulse width", positive=True, limit="width"),
        Param("cycles", 1, "", "repetitions of the sequence", kind="int", min=1, max=10**5),
        Param("v_read_V", 0.1, "V", "drain read voltage", positive=True, max=1.0),
        Param("seed", 0, "", "seed of the 'random' order", kind="int", min=0),
        Param("amplitudes_V", None, "V", "explicit amplitudes for sequence=custom", kind="floats",
              limit="voltage"),
    )

    def _schedule(self) -> tuple[np.ndarray, np.ndarray]:
        p = self.p
        return pulse_schedule(p.sequence, p.n_pot, p.v_pot_V, p.width_pot_s, p.n_dep, p.v_dep_V,
                              p.width_dep_s, p.cycles, p.seed, p.amplitudes_V)

    def validate(self) -> None:
        p = self.p
        per_cycle = len(p.amplitudes_V or ()) if p.sequence == "custom" else p.n_pot + p.n_dep
        cells = int(parse_cells(p.cells, self.backend.shape).sum())
        check_size(f"a pulse train of {per_cycle} pulses x cycles={p.cycles} on {cells} cell(s)",
                   float(per_cycle) * p.cycles * max(1, cells), 40)  # one event row each
        amp, _ = self._schedule()
        if len(amp) == 0:
            raise ParameterError("the pulse train is empty: set n_pot and/or n_dep > 0")
        if np.any(amp == 0):
            raise ParameterError("amplitudes_V contains 0 V; every pulse needs a direction")

    def setup(self) -> None:
        self.mask = parse_cells(self.p.cells, self.backend.shape)
        self.amp_V, self.width_s = self._schedule()
        self.rows_idx, self.cols_idx = np.nonzero(self.mask)
        self._r = np.unique(self.rows_idx)
        self._c = np.unique(self.cols_idx)

    def n_steps(self) -> int:
        return len(self.amp_V)

    def _read_selected(self) -> np.ndarray:
        G = self.backend.read(self._r, self._c, v_read_V=self.p.v_read_V)
        return G[np.searchsorted(self._r, self.rows_idx), np.searchsorted(self._c, self.cols_idx)]

    def start(self, run: "Run") -> None:
        run.write_result("G_initial_S", self._read_selected(), "S",
                         description="conductance of each selected cell before the first pulse")
        run.write_result("cells", np.column_stack([self.rows_idx, self.cols_idx]), "",
                         description="(row, col) of each selected cell, in event order")

    def step(self, i: int, run: "Run") -> None:
        amp, width = float(self.amp_V[i]), float(self.width_s[i])
        self.backend.pulse_cells(self.mask, amp, width)
        G = self._read_selected()
        run.append_events(make_events(
            len(G), t_s=self.backend.clock.now(), row=self.rows_idx, col=self.cols_idx,
            V_V=amp, width_s=width, G_S=G, step=i, op="pulse"))

    def settle(self, i: int, applied: int, run: "Run") -> int:
        """Resume on a bench after step ``i``'s pulse reached the device but not the file:
        record the step from the measured state (a fresh read) instead of pulsing again."""
        amp, width = float(self.amp_V[i]), float(self.width_s[i])
        G = self._read_selected()
        run.append_events(make_events(
            len(G), t_s=self.backend.clock.now(), row=self.rows_idx, col=self.cols_idx,
            V_V=amp, width_s=width, G_S=G, step=i, op="pulse"))
        return i + 1

    def finish(self, run: "Run") -> None:
        stats = train_stats(run.read_events(), len(self.rows_idx), run.read_result("G_initial_S"))
        for name, (value, units, desc) in stats.items():
            run.write_result(name, value, units, description=desc)
        p = self.p
        if p.sequence == "ltp_ltd" and p.cycles == 1 and min(p.n_pot, p.n_dep) >= 4:
            from hil.analysis.nonlinearity import fit_nonlinearity  # scipy: only when fitting

            G = run.read_events()["G_S"].reshape(-1, len(self.rows_idx))[:, :MAX_FITTED_CELLS]
            fits = {"ltp": [fit_nonlinearity(g, "ltp") for g in G[:p.n_pot].T],
                    "ltd": [fit_nonlinearity(g, "ltd") for g in G[p.n_pot:].T]}
            for d, fs in fits.items():
                run.write_fit(f"nonlinearity/A_{d}_pulses", [f.A_pulses for f in fs], "pulses",
                              model="G(P) = B(1 - exp(-P/A)) + G_min (LTP) / G_max - ... (LTD)")
                run.write_fit(f"nonlinearity/B_{d}_S", [f.B_S for f in fs], "S")

    @classmethod
    def summary(cls, run: "Run") -> list[str]:
        ratio = run.read_result("on_off_ratio")
        acc = run.read_result("switching_accuracy")
        lines = []
        if "nonlinearity/A_ltp_pulses" in run.list("fits"):
            a_p, a_d = run.read_fit("nonlinearity/A_ltp_pulses"), run.read_fit("nonlinearity/A_ltd_pulses")
            lines.append(f"nonlinearity A: LTP {np.mean(a_p):.1f}, LTD {np.mean(a_d):.1f} pulses")
        return [f"on/off ratio: {np.mean(ratio):.1f} (mean of {len(ratio)} cell(s); "
                f"min {np.min(ratio):.1f}, max {np.max(ratio):.1f})",
                f"switching accuracy: {100 * np.mean(acc):.1f} % of pulses moved G the intended way"] + lines

    @classmethod
    def plot(cls, run: "Run", fig: "Figure") -> None:
        from protocols.pulse_train_plot import plot_pulse_train

        plot_pulse_train(run, fig)


def train_stats(ev: np.ndarray, n_cells: int, G0: np.ndarray) -> dict[str, tuple[Any, str, str]]:
    """Per-cell on/off ratio, bounds and switching accuracy from a pulse train's events."""
    G = ev["G_S"].reshape(-1, n_cells).astype(float)          # (pulses, cells)
    amp = ev["V_V"].reshape(-1, n_cells)[:, 0]
    prev = np.vstack([G0[None, :], G[:-1]])
    moved_right = np.sign(G - prev) == np.sign(amp)[:, None]
    return {
        "G_max_S": (G.max(0), "S", "largest conductance reached per cell"),
        "G_min_S": (G.min(0), "S", "smallest conductance reached per cell"),
        "on_off_ratio": (G.max(0) / G.min(0), "", "G_max / G_min per cell"),
        "switching_accuracy": (moved_right.mean(0), "",
                               "fraction of pulses that moved G in the pulse's direction, per cell"),
    }
