"""Dry runs: a plan recorder backend that records every request a protocol makes and predicts
the device's answers with the simulator of the station's device card.  Nothing is sent to an
instrument (the recorder never opens a connection).

`hil run PROTOCOL --dry-run [--station F]` runs the protocol against a `PlanRecorder` and
prints the pulses, the largest voltage per line kind, the estimated bench time and the
instruments the run would use.  The recorder is a `hil.backend.Backend`, so the station's
limits are checked exactly as on the bench: a violation shows up in the dry run.

Bench time is estimated from REFERENCE.md §9 (B1500A data sheet / user's guide): every
physical pulse costs its width plus the SPGU output-relay switching (100 µs) and one bus round
trip (1 ms in practice); every read command one round trip plus the minimum measurement time
(16 µs, HR/MP SMU) per cell measured; a DC sweep its dwell per point; waits count in full.
It is a floor, not a promise: a bench never runs faster, and usually slower.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from hil.backend import Backend, Cell, Lines, _program_extremes
from hil.clock import Clock

#: REFERENCE.md §9 timing floor
RELAY_SWITCH_S = 100e-6       # HV-SPGU output relay switching
BUS_ROUND_TRIP_S = 1e-3       # one command + reply over GPIB/LAN/USB ("ms in practice")
MEASURE_MIN_S = 16e-6         # minimum measurement time per spot measurement (HP/MP/HR SMU)
#: pulse records kept for printing (the totals count every pulse)
MAX_RECORDS = 10_000
#: bus round trips of one read request per wiring: "cell" = one spot measurement query per
#: cell (B1500 through a matrix, `hil.lab.matrix`), "row" = one block read per row
READ_QUERY_PER = {"b1500_matrix": "cell", "array_controller": "row", None: "row"}


@dataclass
class PulseRecord:
    """One pulse request: what was asked (`pulse_cells` / `apply_pulse`) and what it means."""

    t_s: float
    op: str                   # "pulse_cells" | "apply_pulse"
    n_pulses: int             # physical pulses
    width_s: float
    cells: int                # cells addressed
    amplitude_V: tuple[float, float]      # (most negative, most positive) amplitude
    line_max_V: dict[str, float]


@dataclass
class Plan:
    """Totals of everything a protocol asked the recorder for."""

    pulses: list[PulseRecord] = field(default_factory=list)
    n_pulse_requests: int = 0
    n_pulses: int = 0
    pulse_on_s: float = 0.0
    line_max_V: dict[str, float] = field(default_factory=dict)
    width_range_s: tuple[float, float] = (np.inf, 0.0)
    n_reads: int = 0
    cells_read: int = 0
    read_rows: int = 0
    n_sweeps: int = 0
    sweep_points: int = 0
    sweep_s: float = 0.0
    n_mtt_reads: int = 0
    wait_s: float = 0.0

    def add_pulse(self, rec: PulseRecord) -> None:
        self.n_pulse_requests += 1
        self.n_pulses += rec.n_pulses
        self.pulse_on_s += rec.n_pulses * rec.width_s
        for k, v in rec.line_max_V.items():
            self.line_max_V[k] = max(self.line_max_V.get(k, 0.0), v)
        lo, hi = self.width_range_s
        self.width_range_s = (min(lo, rec.width_s), max(hi, rec.width_s))
        if len(self.pulses) < MAX_RECORDS:
            self.pulses.append(rec)

    def bench_time_s(self, read_query_per: str = "row") -> float:
        """Estimated bench time (REFERENCE §9 floor, see the module docstring)."""
        pulses = self.pulse_on_s + self.n_pulses * (RELAY_SWITCH_S + BUS_ROUND_TRIP_S)
        queries = self.cells_read if read_query_per == "cell" else self.read_rows
        reads = queries * BUS_ROUND_TRIP_S + self.cells_read * MEASURE_MIN_S
        sweeps = self.sweep_s + self.sweep_points * MEASURE_MIN_S
        mtt = self.n_mtt_reads * BUS_ROUND_TRIP_S
        return pulses + reads + sweeps + mtt + self.wait_s


class PlanRecorder(Backend):
    """Records every request and answers with a simulator of the same device and shape."""

    kind = "dry-run"

    def __init__(self, sim: Backend, wiring: str | None = None,
                 instruments: Sequence[Any] = ()) -> None:
        self.sim = sim
        self.wiring = wiring
        self.instruments = tuple(instruments)
        self.plan = Plan()

    @classmethod
    def for_station(cls, station: Any, seed: int | None = None) -> "PlanRecorder":
        """The recorder of a station (sim or lab): its device card, shape, seed and limits."""
        from sim_backends import SimBackend

        cfg = station.config.backend
        sim = SimBackend(shape=cfg.shape, device=dict(station.config.card), array=cfg.array,
                         seed=cfg.seed if seed is None else int(seed), faults=cfg.faults,
                         **dict(cfg.array_options))
        rec = cls(sim, getattr(cfg, "wiring", None), station.config.instruments)
        rec.set_limits(station.config.limits)
        return rec

    # -- Backend ----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self.sim.shape

    @property
    def device(self) -> dict[str, Any]:
        return self.sim.device

    @property
    def clock(self) -> Clock:
        return self.sim.clock

    def read(self, rows: Sequence[int] | np.ndarray | None = None,
             cols: Sequence[int] | np.ndarray | None = None,
             v_read_V: float | None = None) -> np.ndarray:
        G = self.sim.read(rows, cols, v_read_V)
        self.plan.n_reads += 1
        self.plan.cells_read += int(G.size)
        self.plan.read_rows += int(G.shape[0]) if G.ndim else 1
        return G

    def apply_pulse(self, lines: Lines, width_s: float) -> None:
        t = self.clock.now()
        self.sim.apply_pulse(lines, width_s)
        line_max = {k: float(np.max(np.abs(np.asarray(getattr(lines, k), float))))
                    for k in ("gate_rows", "select_cols", "drain", "source")
                    if np.size(getattr(lines, k))}
        vals = np.concatenate([np.atleast_1d(np.asarray(getattr(lines, k), float))
                               for k in ("gate_rows", "select_cols", "drain", "source")])
        self.plan.add_pulse(PulseRecord(t, "apply_pulse", 1, float(width_s), 0,
                                        (float(vals.min()), float(vals.max())), line_max))

    def pulse_cells(self, mask: np.ndarray, amplitude_V: float | np.ndarray,
                    width_s: float) -> Any:
        from hil.families import family_of

        t = self.clock.now()
        plan = self.sim.pulse_cells(mask, amplitude_V, width_s)
        n = getattr(plan, "n_pulses", None)
        if n is None:                       # the clock advanced by n * width
            n = int(round((self.clock.now() - t) / float(width_s)))
        pos, neg = _program_extremes(mask, amplitude_V)
        fam, line_max = family_of(self.device), {}
        for direction, amp in (("potentiate", pos), ("depress", neg)):
            if amp is not None:
                for k, v in fam.program_line_voltages(self.device, direction, amp).items():
                    line_max[k] = max(line_max.get(k, 0.0), v)
        self.plan.add_pulse(PulseRecord(t, "pulse_cells", int(n), float(width_s), int(np.sum(mask)),
                                        (-neg if neg else 0.0, pos or 0.0), line_max))
        return plan

    def iv_sweep(self, cell: Cell, v_V: np.ndarray, compliance_A: float) -> np.ndarray:
        t0 = self.clock.now()
        i = self.sim.iv_sweep(cell, v_V, compliance_A)
        v = np.asarray(v_V, float)
        self.plan.n_sweeps += 1
        self.plan.sweep_points += int(v.size)
        self.plan.sweep_s += self.clock.now() - t0
        if v.size:
            self.plan.line_max_V["sweep"] = max(self.plan.line_max_V.get("sweep", 0.0),
                                                float(np.max(np.abs(v))))
        return i

    def mtt_read(self, unit: Cell | None, v_read_H_V: float, v_ref_G_V: float,
                 v_drain_V: float) -> np.ndarray:
        self.plan.n_mtt_reads += 1
        return self.sim.mtt_read(unit, v_read_H_V, v_ref_G_V, v_drain_V)

    def wait(self, seconds: float) -> None:
        super().wait(seconds)
        self.plan.wait_s += float(seconds)

    def state_dict(self) -> dict[str, Any]:
        return self.sim.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sim.load_state_dict(state)

    # -- report -----------------------------------------------------------------------------
    def report(self, max_pulses: int = 20) -> list[str]:
        """The plan as lines for the terminal."""
        p = self.plan
        out = [f"dry run: nothing was sent; predictions from the simulator of {self.device.get('name')!r} "
               f"({self.shape[0]} x {self.shape[1]})"]
        out.append(f"pulses: {p.n_pulses} physical pulse(s) in {p.n_pulse_requests} request(s), "
                   f"{p.pulse_on_s:.6g} s pulsed"
                   + (f", widths {p.width_range_s[0]:g}..{p.width_range_s[1]:g} s" if p.n_pulses else ""))
        for rec in p.pulses[:max_pulses]:
            lines = ", ".join(f"{k} {v:g} V" for k, v in rec.line_max_V.items())
            out.append(f"  t={rec.t_s:.6g} s {rec.op}: {rec.n_pulses} pulse(s) x {rec.width_s:g} s, "
                       f"{rec.cells} cell(s), amplitude {rec.amplitude_V[0]:g}..{rec.amplitude_V[1]:g} V; {lines}")
        if p.n_pulse_requests > max_pulses:
            out.append(f"  ... {p.n_pulse_requests - max_pulses} more request(s)")
        if p.line_max_V:
            out.append("max |V| per line: " + ", ".join(f"{k} {v:g} V" for k, v in sorted(p.line_max_V.items())))
        out.append(f"reads: {p.n_reads} ({p.cells_read} cells); DC sweeps: {p.n_sweeps} ({p.sweep_points} "
                   f"points); MTT reads: {p.n_mtt_reads}; waits: {p.wait_s:.6g} s")
        per = READ_QUERY_PER.get(self.wiring, "row")
        out.append(f"estimated bench time: {p.bench_time_s(per):.6g} s (REFERENCE §9 floor: {p.n_pulses} x "
                   f"(width + {RELAY_SWITCH_S * 1e6:g} µs relay + {BUS_ROUND_TRIP_S * 1e3:g} ms bus), "
                   f"one bus round trip per read {per} + {MEASURE_MIN_S * 1e6:g} µs per cell measured, "
                   "waits in full)")
        out.append(f"limits: {self.limits.describe()} ({self.limits.source})")
        if self.instruments:
            out.append(f"instruments it would use (wiring {self.wiring}):")
            out += [f"  {i.name}: {i.driver} at {i.address}" for i in self.instruments]
        else:
            out.append("instruments it would use: none (simulated station)")
        return out


def dry_run(protocol: Any, station: Any, params: dict[str, Any] | None = None, *,
            out: Any = None, seed: int | None = None, overwrite: bool = False,
            progress: bool = False) -> tuple[PlanRecorder, Any]:
    """Run ``protocol`` against the station's `PlanRecorder`; returns (recorder, run path).

    The run file goes to a temporary folder that is removed afterwards, unless ``out`` asks
    for it to be kept (then it holds the simulator's predictions, marked backend "dry-run", and
    no station text, so that it cannot be resumed on the bench)."""
    import tempfile
    from pathlib import Path

    from hil.runner import run_protocol

    rec = station.make_recorder(seed=seed)
    if out is not None:
        # no station text in the file: `hil resume` of a prediction must never rebuild the
        # station's real backend and continue it on the bench
        path = run_protocol(protocol, rec, out, params, station=None, overwrite=overwrite,
                            progress=progress)
        return rec, path
    with tempfile.TemporaryDirectory(prefix="hil-dry-run-") as tmp:
        run_protocol(protocol, rec, Path(tmp) / "dry-run.h5", params, station=station,
                     progress=progress, fsync=False)
    return rec, None
