"""Write-verify: program a target conductance map with incremental step pulse programming.

MTT Fig. S8: read; while a cell is outside tolerance, pulse it towards its target with an
amplitude that rises one step after every miss (separate V_P and V_D ladders; after an
overshoot the other direction starts again at its lowest amplitude).  Each step of the run
is one round over the whole array: all unconverged cells below their band are pulsed
together (one potentiation phase), then all above it (one depression phase), through the
backend's selection scheme, then the rows still in progress are read.  With
``row_amplitude=max`` (default) each row gets one pulse per phase, at the highest level any of
its cells is due (cells due less wait a round), as one EG/ED pulse of the H-1E1T scheme
delivers; ``cell`` gives every cell its own amplitude (one pulse per row and distinct
amplitude).  A cell converges within ``settle·tol`` of ``target + aim·tol`` (default: the upper
half of the band, because ECRAM/RRAM conductance relaxes down after programming) and is
reopened if a later read of its (pulsed) row, or the final sweep over all converged cells,
finds it outside ``target ± tol``.  The run ends early (remaining steps do nothing) when every
cell has converged, failed or been given up; the outcome is judged on one final read.

Events: per-cell rows up to ``event_cells_max`` programmed cells, aggregate rows per phase
(row = col = -1) above, see `protocols.programming`.  Per-cell results in `/results`:
``n_pulses``, ``error_S``/``rel_error``, ``converged``, ``stuck``, ``final_G_S``,
``target_G_S``, ``state``; summaries ``convergence_rate`` (attrs: mean/max pulses),
``pulse_hist``, ``error_hist`` and ``history`` (one row per round).  Checkpoints are written
every max(10, cells / 1e5) rounds (41 rounds at 4 Mb, where one checkpoint is ~85 MB: 50 MB
simulated array, 34 MB engine flags/pulse counts, plus the ladder state of the active cells).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from protocols.base import Protocol
from protocols.cells import parse_cells
from protocols.levels import default_levels, level_values, target_map
from protocols.params import Param
from protocols.programming import ISPP_PARAMS, check_ladders, make_programmer

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hil.backend import Backend

    from hil.store import Run


def level_params(target_default: str = "random") -> tuple[Param, ...]:
    """Parameters that define a target map of discrete levels."""
    return (
        Param("cells", "all", "", "cells to program: all | R,C | R,C;R,C | R0:R1,C0:C1", kind="str"),
        Param("target", target_default, "", "target map: random | checkerboard | ramp | uniform:K | FILE.npy",
              kind="str"),
        Param("n_levels", None, "", "number of levels", kind="int", min=1, max=4096,
              preset="levels.n_levels"),
        Param("g_low_S", None, "S", "lowest level", positive=True, preset="levels.g_low_S"),
        Param("g_high_S", None, "S", "highest level", positive=True, preset="levels.g_high_S"),
        Param("seed", 0, "", "seed of the random target arrangement", kind="int", min=0),
    )


def resolve_levels(values: dict[str, Any], device: dict[str, Any]) -> np.ndarray:
    """The level conductances from n_levels/g_low_S/g_high_S, the card's presets filling gaps."""
    n, lo, hi = default_levels(device)
    n = values["n_levels"] if values["n_levels"] is not None else n
    lo = values["g_low_S"] if values["g_low_S"] is not None else lo
    hi = values["g_high_S"] if values["g_high_S"] is not None else hi
    return level_values(n, lo, hi)


class ProgramTargets:
    """The programming phase of a protocol: a level target map written by write-verify.

    Built from the resolved parameters (`level_params` + `ISPP_PARAMS`); used by `WriteVerify`
    and composed by `protocols.retention.Retention`."""

    def __init__(self, backend: "Backend", p: Any) -> None:
        self.mask = parse_cells(p.cells, backend.shape)
        self.levels = resolve_levels(vars(p), backend.device)
        rng = np.random.default_rng(p.seed)
        self.state, self.target = target_map(p.target, self.mask, self.levels, rng)
        self.prog = make_programmer(backend, self.target, vars(p), (self.levels[0], self.levels[-1]))


class WriteVerify(Protocol):
    name = "write_verify"
    description = "program a target conductance map by incremental-step write-verify (MTT Fig. S8)"
    batch_steps = 10
    params = level_params() + ISPP_PARAMS

    def validate(self) -> None:
        check_ladders(self.values)

    def setup(self) -> None:
        self.phase = ProgramTargets(self.backend, self.p)
        self.mask, self.levels = self.phase.mask, self.phase.levels
        self.state, self.target, self.prog = self.phase.state, self.phase.target, self.phase.prog
        # large arrays checkpoint less often: a checkpoint (engine + array state) is ~20 B per
        # cell (~85 MB at 4 Mb), so one every cells/50k rounds writes <= ~0.4 MB per round; the
        # run's checkpoint_s still bounds the wall time between two checkpoints
        self.batch_steps = max(type(self).batch_steps, int(self.mask.sum()) // 50_000)

    def n_steps(self) -> int:
        # round 0 reads, rounds 1.. pulse and verify.  Adaptive levels differ from cell to cell,
        # so with one amplitude per row and phase its cells wait rounds more often than ISPP's:
        # twice the rounds, the same max_pulses per cell.
        adaptive = self.p.strategy == "adaptive" and self.p.row_amplitude == "max"
        return self.p.max_pulses * (2 if adaptive else 1) + 1

    def start(self, run: "Run") -> None:
        run.write_result("levels_G_S", self.levels, "S", description="level conductances")

    def step(self, i: int, run: "Run") -> None:
        self.prog.iterate(run, i)

    def finish(self, run: "Run") -> None:
        self.prog.write_results(run, self.target, self.state)

    def state_dict(self) -> dict[str, Any]:
        return self.prog.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.prog.load_state_dict(state)

    @classmethod
    def summary(cls, run: "Run") -> list[str]:
        return write_verify_summary(run)

    @classmethod
    def plot(cls, run: "Run", fig: "Figure") -> None:
        from protocols.write_verify_plot import plot_write_verify

        plot_write_verify(run, fig)


def write_verify_summary(run: "Run") -> list[str]:
    """Convergence rate, pulses per cell and final error of a finished write-verify run."""
    a = run.dataset_attrs("results/convergence_rate")
    rate = float(run.read_result("convergence_rate"))
    rel = run.read_result("rel_error")
    conv = run.read_result("converged")
    err = np.abs(rel[conv.astype(bool)])
    lines = [
        f"converged: {100 * rate:.3f} % of {int(a['n_cells'])} cells "
        f"({int(a['n_stuck'])} given up as stuck; {100 * float(a['rate_working']):.3f} % of working cells)",
        f"pulses per cell: mean {float(a['mean_pulses']):.2f}, max {int(a['max_pulses'])}",
    ]
    if "mean_pulse_time_s" in a:
        lines.append(f"pulse-on time per cell: mean {1e3 * float(a['mean_pulse_time_s']):.3g} ms")
    if err.size:
        lines.append(f"|error| of converged cells: median {100 * np.median(err):.2f} %, "
                     f"max {100 * err.max():.2f} %")
    return lines
