"""H-1E1T selective programming: write a +/0/- pattern row-wise or column-wise with the
terminal voltages of MTT Table S2, and measure how much the cells that should stay put move.

Per line (a row, or a column with ``mode=column``) there are two phases (MTT Fig. 5a):
  potentiation: EG = V_P on the pulsed row(s), their ED = V_D; TG = 0 (selector off) where a
                cell is to rise, V_SS elsewhere, so row-mates see V_P − V_D ("half-selected");
  depression:   EG = 0; ED = V_D on the pulsed row(s); TG = V_SS (selector on) where a cell
                is to fall (it sees −V_D), 0 elsewhere (selector off, ≈ 0 V).
Every other line is at 0 V.  No negative voltage is applied anywhere; whether the held cells
stay put follows from the backend's physics of those terminal voltages (`apply_pulse`).
Published settings (Fig. 5b): V_EG = 10 V, V_ED = 6 V, 5 ms pulses.

Optionally the selected cells are first written to ``g_start_S`` by write-verify, so that
both directions have room.  Steps: those write-verify rounds, then one step per line
(``n_pulses`` potentiation pulses, then ``n_pulses`` depression pulses, reading the line's
targets after each pulse: one `/events` row per target cell and pulse); a full map is stored
before the pattern and after every line.  Results: ``pattern``,
``G_before_S``, ``G_after_S``, ``delta_G_S``, ``disturb_rel`` (|ΔG|/G of held cells),
``half_select_pulses`` and a ``disturbance`` summary (attrs: max/mean over held cells and over
the half-selected ones, mean change of targets, bound, pass).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from hil.backend import Lines
from hil.errors import ParameterError
from hil.families import family_of
from hil.store import make_events
from protocols.base import Protocol
from protocols.cells import parse_cells
from protocols.params import Param
from protocols.programming import ISPP_PARAMS, check_ladders, make_programmer

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hil.backend import Backend
    from hil.store import Run

PATTERNS = ("random", "checkerboard", "diagonal", "FILE.npy")


def make_pattern(spec: str, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """+1 (potentiate) / 0 (hold) / -1 (depress) per cell (int8); 0 outside ``mask``."""
    text = str(spec).strip()
    rr, cc = np.indices(mask.shape)
    if text.endswith(".npy"):
        try:
            arr = np.load(text, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ParameterError(f"pattern file {text!r} cannot be read as a .npy array: {exc}") from None
        if arr.shape != mask.shape:
            raise ParameterError(f"pattern file {text!r} has shape {arr.shape}; the array is {mask.shape}")
        if not np.isin(arr, (-1, 0, 1)).all():
            raise ParameterError(f"pattern file {text!r} must hold only -1, 0, +1")
        pat = arr.astype(np.int8)
    elif text == "random":
        pat = rng.integers(-1, 2, mask.shape).astype(np.int8)
    elif text == "checkerboard":
        pat = np.where((rr + cc) % 2 == 0, 1, -1).astype(np.int8)
    elif text == "diagonal":
        pat = np.zeros(mask.shape, np.int8)
        pat[rr == cc] = 1
        pat[rr + cc == mask.shape[1] - 1] = -1
    else:
        raise ParameterError(f"pattern={spec!r} not understood; forms: {', '.join(PATTERNS)}")
    return np.where(mask, pat, 0).astype(np.int8)


def phase_lines(mode: str, line: int, targets: np.ndarray, potentiate: bool, shape: tuple[int, int],
                v_p_V: float, v_d_V: float, v_ss_V: float) -> Lines:
    """Line voltages of one Table S2 phase on ``line`` (row or column); ``targets`` is a bool
    vector along the line (columns of the row, or rows of the column).  The one scheme
    implementation, `hil.plan.scheme_lines` (depression at |V| = V_D)."""
    from hil.plan import scheme_lines

    return scheme_lines("h1e1t-rows" if mode == "row" else "h1e1t-cols", shape, line, targets,
                        potentiate, v_p_V if potentiate else v_d_V,
                        {"v_d_V": v_d_V, "v_ss_V": v_ss_V})


class SelectiveProgramming(Protocol):
    name = "selective_programming"
    description = "H-1E1T row/column-wise selective programming of a +/0/- pattern (Table S2) with disturb report"
    batch_steps = 4
    params = (
        Param("cells", "all", "", "cells the pattern covers: all | R,C | R,C;R,C | R0:R1,C0:C1", kind="str"),
        Param("pattern", "random", "", "random | checkerboard | diagonal | FILE.npy (-1/0/+1)", kind="str"),
        Param("mode", "row", "", "program row-wise or column-wise", kind="str", choices=("row", "column")),
        Param("n_pulses", 20, "", "pulses per phase for each target cell", kind="int", min=1, max=100000),
        Param("v_p_V", 10.0, "V", "V_EG in potentiation (MTT Fig. 5b)", positive=True, limit="line:gate_rows"),
        Param("v_d_V", 6.0, "V", "V_ED: inhibit and depression voltage (MTT Fig. 5b)", positive=True,
              limit="line:drain"),
        Param("v_ss_V", 10.0, "V", "V_TG that turns a selector on (Table S2 V_SS)", positive=True,
              limit="line:select_cols"),
        Param("pulse_width_s", 5e-3, "s", "pulse width (MTT Fig. 5b)", positive=True, limit="width"),
        Param("g_start_S", 20e-6, "S", "write every covered cell here first (write-verify); 0 = skip",
              min=0.0),
        Param("disturb_bound", 0.02, "", "bound on |ΔG|/G of held cells reported as pass/fail",
              positive=True, max=1.0),
        Param("seed", 0, "", "seed of the random pattern", kind="int", min=0),
    ) + ISPP_PARAMS

    def __init__(self, backend: "Backend", **values: Any) -> None:
        if family_of(backend.device).array != "h1e1t":   # before the voltages meet its limits
            raise ParameterError(
                f"selective_programming drives the H-1E1T scheme of ECRAM arrays; device "
                f"{backend.device.get('name')!r} (kind {backend.device.get('kind')!r}) is not an ECRAM card built "
                "into an H-1E1T array")
        super().__init__(backend, **values)

    def validate(self) -> None:
        check_ladders(self.values)

    def setup(self) -> None:
        self.mask = parse_cells(self.p.cells, self.backend.shape)
        self.pattern = make_pattern(self.p.pattern, self.mask, np.random.default_rng(self.p.seed))
        self.n_prog = self.p.max_pulses + 1 if self.p.g_start_S > 0 else 0
        target = np.where(self.mask, self.p.g_start_S, np.nan)
        self.prog = make_programmer(self.backend, target, self.values, (0.0, 1.0)) if self.n_prog else None
        lines = np.flatnonzero(self.mask.any(axis=1 if self.p.mode == "row" else 0))
        self.lines = lines
        self.G_before: np.ndarray | None = None

    def n_steps(self) -> int:
        return self.n_prog + len(self.lines)

    def start(self, run: "Run") -> None:
        run.write_result("pattern", self.pattern, "", first_pattern_step=self.n_prog, mode=self.p.mode,
                         description="+1 potentiate, 0 hold, -1 depress; steps >= first_pattern_step "
                                     "are the pattern's lines")

    def step(self, i: int, run: "Run") -> None:
        if i < self.n_prog:
            self.prog.iterate(run, i)
            return
        if self.G_before is None:
            self.G_before = self.backend.read(v_read_V=self.p.v_read_V)
            run.append_map(self.backend.clock.now(), self.G_before)
        line = int(self.lines[i - self.n_prog])
        along = self.pattern[line, :] if self.p.mode == "row" else self.pattern[:, line]
        for sign in (1, -1):
            targets = along == sign
            if not targets.any():
                continue
            lines = phase_lines(self.p.mode, line, targets, sign > 0, self.backend.shape,
                                self.p.v_p_V, self.p.v_d_V, self.p.v_ss_V)
            idx = np.flatnonzero(targets)
            r, c = (np.full(idx.size, line), idx) if self.p.mode == "row" else (idx, np.full(idx.size, line))
            for k in range(self.p.n_pulses):
                self.backend.apply_pulse(lines, self.p.pulse_width_s)
                G = self._read_line(line)[idx]
                run.append_events(make_events(
                    idx.size, t_s=self.backend.clock.now(), row=r, col=c,
                    V_V=self.p.v_p_V if sign > 0 else -self.p.v_d_V, width_s=self.p.pulse_width_s,
                    G_S=G, step=i, op="pulse"))
        run.append_map(self.backend.clock.now(), self.backend.read(v_read_V=self.p.v_read_V))

    def _read_line(self, line: int) -> np.ndarray:
        if self.p.mode == "row":
            return self.backend.read([line], None, v_read_V=self.p.v_read_V)[0]
        return self.backend.read(None, [line], v_read_V=self.p.v_read_V)[:, 0]

    def finish(self, run: "Run") -> None:
        if self.prog is not None:
            conv = self.prog.engine.as_map(self.prog.engine.converged)
            run.write_result("start_converged", conv, "", description="write-verify to g_start_S converged")
        _, maps = run.read_maps()
        before, after = maps[0].astype(np.float64), maps[-1].astype(np.float64)
        write_disturbance(run, self.pattern, self.mask, before, after, self.p.disturb_bound,
                          self.half_select_pulses())

    def half_select_pulses(self) -> np.ndarray:
        """Potentiation pulses each non-target cell saw at V_P − V_D (its row at EG = V_P while its
        selector was on): row-wise once per row with a + target, column-wise once per + target
        elsewhere in its row."""
        plus = self.pattern > 0
        per_row = plus.sum(axis=1, keepdims=True)
        if self.p.mode == "row":
            count = np.where(per_row > 0, 1, 0) * np.ones_like(self.pattern, dtype=int)
        else:
            count = per_row - plus
        return np.where(plus, 0, count) * self.p.n_pulses

    def state_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"G_before": self.G_before if self.G_before is not None else np.zeros(0)}
        if self.prog is not None:
            out["prog"] = self.prog.state_dict()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        g = np.asarray(state["G_before"])
        self.G_before = g if g.size else None
        if self.prog is not None:
            self.prog.load_state_dict(state["prog"])

    @classmethod
    def summary(cls, run: "Run") -> list[str]:
        a = run.dataset_attrs("results/disturbance")
        return [f"targets: potentiated mean {100 * float(a['target_up_mean']):+.1f} %, "
                f"depressed mean {100 * float(a['target_down_mean']):+.1f} % (ΔG/G)",
                f"held cells: |ΔG|/G mean {100 * float(a['held_mean']):.3f} %, max {100 * float(a['held_max']):.3f} % "
                f"({100 * float(a['held_within']):.2f} % within the {100 * float(a['bound']):g} % bound); "
                f"{int(a['n_half'])} half-selected: max {100 * float(a['half_max']):.3f} %"]

    @classmethod
    def plot(cls, run: "Run", fig: "Figure") -> None:
        from protocols.selective_programming_plot import plot_selective

        plot_selective(run, fig)


def write_disturbance(run: "Run", pattern: np.ndarray, mask: np.ndarray, before: np.ndarray,
                      after: np.ndarray, bound: float, half_pulses: np.ndarray) -> None:
    """Per-cell change and the summary of how far held cells moved, to `/results`."""
    delta = after - before
    rel = delta / np.maximum(before, 1e-30)
    held = mask & (pattern == 0)
    half = held & (half_pulses > 0)
    hh = np.abs(rel[half])
    run.write_result("half_select_pulses", half_pulses.astype(np.int32), "",
                     description="pulses at V_P - V_D each non-target cell saw")
    up, down = mask & (pattern > 0), mask & (pattern < 0)
    drel = np.where(held, np.abs(rel), np.nan)
    run.write_result("G_before_S", before, "S", description="map before the pattern")
    run.write_result("G_after_S", after, "S", description="map after the pattern")
    run.write_result("delta_G_S", delta, "S", description="after - before")
    run.write_result("disturb_rel", drel, "", description="|ΔG|/G of held (pattern 0) cells; NaN elsewhere")
    h = np.abs(rel[held])
    run.write_result(
        "disturbance", float(h.max()) if h.size else 0.0, "", bound=bound,
        held_max=float(h.max()) if h.size else 0.0, held_mean=float(h.mean()) if h.size else 0.0,
        held_within=float((h <= bound).mean()) if h.size else 1.0,
        passed=bool((h <= bound).all()) if h.size else True,
        half_max=float(hh.max()) if hh.size else 0.0, half_mean=float(hh.mean()) if hh.size else 0.0,
        n_half=int(half.sum()), target_up_mean=float(rel[up].mean()) if up.any() else 0.0,
        target_down_mean=float(rel[down].mean()) if down.any() else 0.0,
        description="max |ΔG|/G of held cells (attrs: mean, fraction within bound, target changes)")
