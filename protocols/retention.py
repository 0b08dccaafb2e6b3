"""Retention / drift capture: program N states, then read the array at log-spaced times.

Published settings: 16 ECRAM states (MTT Fig. 3i); 8 levels 5–40 µS for HfOx 1T1R read at
0.2 V (VeRA+ §IV-F).  The states are written with the write-verify of `protocols.programming`
(the first n_prog = ceil((max_pulses+1)/10) steps, 10 rounds each; the steps after
convergence do nothing), then step n_prog + k takes snapshot k: it waits until ``t_k``
seconds after programming ended (virtual clock on the simulator, so 10 years pass at once;
wall clock on a lab station) and reads the whole array.  Every step is its own batch, so each snapshot is flushed to the file as it is taken
and a run killed after snapshot k resumes with snapshot k+1.

File: `/maps/G_S` (n, rows, cols) with `/maps/t_s` = time since programming ended;
`/results/target_G_S` (rows, cols) S, `/results/state` (rows, cols) int32 (programmed state
index, -1 = not programmed or not converged), `/results/target_state` (the intended index),
`/results/levels_G_S`, `/results/schedule_t_s`, and the write-verify results.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hil.errors import ParameterError
from protocols.base import Protocol
from protocols.levels import log_times
from protocols.params import Param
from protocols.programming import ISPP_PARAMS, check_ladders
from protocols.write_verify import ProgramTargets, level_params

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hil.store import Run

TEN_YEARS_S = 10 * 365.25 * 86400.0
#: write-verify rounds per step while programming (each step is committed)
ROUNDS_PER_STEP = 10


class Retention(Protocol):
    name = "retention"
    description = "program N states by write-verify, then read the array at log-spaced times (drift)"
    batch_steps = 1     # every snapshot is committed (flushed) as soon as it is taken
    params = level_params() + (
        Param("horizon_s", TEN_YEARS_S, "s", "last read time after programming (10 years)", positive=True),
        Param("t_first_s", 1.0, "s", "first read time after programming", positive=True),
        Param("n_snapshots", 30, "", "number of log-spaced snapshots", kind="int", min=1, max=100000),
        Param("v_read_snap_V", None, "V", "snapshot read voltage (default: the card's read voltage)",
              positive=True, max=2.0),
    ) + ISPP_PARAMS

    def validate(self) -> None:
        p = self.p
        if p.horizon_s < p.t_first_s:
            raise ParameterError(f"horizon_s={p.horizon_s} s must be >= t_first_s={p.t_first_s} s")
        check_ladders(self.values)

    def setup(self) -> None:
        p = self.p
        self.times = log_times(p.t_first_s, p.horizon_s, p.n_snapshots)
        phase = ProgramTargets(self.backend, p)      # the programming phase, as write_verify's
        self.mask, self.levels, self.state, self.target = phase.mask, phase.levels, phase.state, phase.target
        self.prog = phase.prog
        self.t_end: float | None = None     # clock time when programming ended
        self.n_prog = -(-(p.max_pulses + 1) // ROUNDS_PER_STEP)

    def n_steps(self) -> int:
        return self.n_prog + self.p.n_snapshots

    def start(self, run: "Run") -> None:
        run.write_result("levels_G_S", self.levels, "S", description="state conductances")
        run.write_result("schedule_t_s", self.times, "s", description="requested snapshot times after programming")
        self._write_targets(run, self.state)

    def _write_targets(self, run: "Run", state: np.ndarray) -> None:
        run.write_result("target_G_S", self.target.astype(np.float64), "S",
                         description="target conductance per cell, NaN = not programmed")
        run.write_result("target_state", self.state, "", description="intended state index, -1 = none")
        run.write_result("state", state.astype(np.int32), "",
                         description="programmed state index per cell; -1 = none or not converged")

    def step(self, i: int, run: "Run") -> None:
        if i < self.n_prog:
            for _ in range(ROUNDS_PER_STEP):
                if self.prog.done or self.prog.iteration > self.p.max_pulses:
                    break
                self.prog.iterate(run, i)
            if self.t_end is None and (self.prog.done or i == self.n_prog - 1):
                self._programming_done(run)
            return
        if self.t_end is None:     # defensive: programming ended without the marker
            self._programming_done(run)
        k = i - self.n_prog
        clock = self.backend.clock
        dt = self.t_end + float(self.times[k]) - clock.now()
        if dt > 0:
            self.backend.wait(dt)
        G = self.backend.read(v_read_V=self.p.v_read_snap_V)
        run.append_map(clock.now() - self.t_end, G)

    def _programming_done(self, run: "Run") -> None:
        self.t_end = self.backend.clock.now()
        conv = self.prog.engine.as_map(self.prog.engine.converged)
        self.prog.write_results(run, self.target, None)
        self._write_targets(run, np.where(conv, self.state, -1))
        run.write_result("t_programmed_s", self.t_end, "s", description="clock time when programming ended")

    def state_dict(self) -> dict[str, Any]:
        return {"prog": self.prog.state_dict(), "t_end": self.t_end}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.prog.load_state_dict(state["prog"])
        self.t_end = None if state.get("t_end") is None else float(state["t_end"])

    @classmethod
    def summary(cls, run: "Run") -> list[str]:
        t, G = run.read_maps()
        state = run.read_result("state")
        lines = [f"{len(t)} snapshots from {t[0]:.3g} s to {t[-1]:.3g} s after programming"] if len(t) else []
        if len(t) and (state >= 0).any():
            drift = []
            for s in np.unique(state[state >= 0]):
                m = state == s
                drift.append(np.mean(G[-1][m]) / np.mean(G[0][m]) - 1)
            lines.append(f"{len(drift)} states; mean drift first -> last snapshot: "
                         f"{100 * np.min(drift):+.2f} % .. {100 * np.max(drift):+.2f} % per state")
        return lines

    @classmethod
    def plot(cls, run: "Run", fig: "Figure") -> None:
        plot_retention(run, fig)


def state_traces(run: "Run") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(t_s, state ids, mean G (n_t, n_states), std G (n_t, n_states)) from a retention run."""
    t, G = run.read_maps()
    state = run.read_result("state")
    ids = np.unique(state[state >= 0])
    mean = np.stack([G[:, state == s].mean(axis=1) for s in ids], axis=1) if ids.size else np.empty((len(t), 0))
    std = np.stack([G[:, state == s].std(axis=1) for s in ids], axis=1) if ids.size else np.empty((len(t), 0))
    return t, ids, mean, std


def plot_retention(run: "Run", fig: "Figure") -> None:
    """Per-state mean ± std conductance vs log time (MTT Fig. 3i), and relative drift."""
    from hil.plotting import color_scale

    t, ids, mean, std = state_traces(run)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    # colour = the state's conductance at the first read, named by a colourbar (not a legend
    # entry per state, which does not fit for 16 states)
    colors = color_scale(fig, ax2, mean[0] * 1e6 if len(t) else np.arange(len(ids)),
                         "state: mean G at the first read (µS)")
    for j, s in enumerate(ids):
        ax1.plot(t, mean[:, j] * 1e6, "o-", ms=2.5, lw=1, color=colors[j])
        ax1.fill_between(t, (mean[:, j] - std[:, j]) * 1e6, (mean[:, j] + std[:, j]) * 1e6,
                         color=colors[j], alpha=0.25, lw=0)
        ax2.plot(t, 100 * (mean[:, j] / mean[0, j] - 1), "-", lw=1, color=colors[j], label=f"state {s}")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("time after programming (s)")
        ax.grid(True, which="major", alpha=0.3)
    ax1.set_ylabel("conductance G (µS), mean ± std per state")
    ax2.set_ylabel("mean drift from first snapshot (%)")
    fig.suptitle(f"retention: {len(ids)} states, {len(t)} snapshots ({run.path.name})", fontsize=10)
