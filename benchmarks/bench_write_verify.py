"""Write-verify of a random 16-level map to 2 % on a 2048 x 2048 (4 Mb) simulated ECRAM array.

Reports wall time (the whole `hil.runner.run_protocol` call: HDF5 file, checkpoints, results),
convergence of working cells, mean/max pulses per cell, and the per-cell speed-up over a
straightforward cell-by-cell loop (read one cell, pulse one cell, same ISPP ladders) timed
in the same run on a small array.  Target: the 4 Mb map in under 60 s.

Status (2026-11-23): the ECRAM relaxation clock restarts only on programming events (card
retention.programmed_dose; half-select micro-doses no longer restart the steep early relaxation)
and the simulator pulses the k-th amplitude of every row in one exact pass; the 4 Mb map then
converges (>= 99.9 %) but needs ~200 rounds, each touching nearly every row (pulse phases,
verify of the pulsed rows), so the run is still slower than the 60 s target: 95.4 s (was 117.3 s
before the whole-row verify path `IsppEngine.decide_rows` and the compact checkpoint; same
outcome, 99.996 %, mean 20.12 / max 189 pulses).  Profile (1024², cProfile): over half of
the time is the simulator's pulse phases (`H1e1tArray.program`), then its verify reads.

Run:  python benchmarks/bench_write_verify.py [--size 2048] [--loop-size 16] [--row-amplitude max]
      python -m pytest -m bench benchmarks/bench_write_verify.py -s
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from hil.runner import run_protocol
from hil.store import Run
from protocols.ispp import Ladder
from protocols.levels import level_values, target_map
from protocols.programming import ISPP_PRESETS
from sim_backends import SimBackend


def vectorized(n: int, out: Path, row_amplitude: str = "max") -> dict[str, float]:
    """Run the write_verify protocol on an n x n array; timings and outcome."""
    backend = SimBackend((n, n), seed=0)
    t0 = time.perf_counter()
    run_protocol("write_verify", backend, out, {"row_amplitude": row_amplitude},
                 seed=0, overwrite=True, progress=False)
    wall = time.perf_counter() - t0
    run = Run.open(out)
    a = run.dataset_attrs("results/convergence_rate")
    return {"cells": n * n, "wall_s": wall, "per_cell_s": wall / (n * n),
            "rate": float(run.read_result("convergence_rate")), "rate_working": float(a["rate_working"]),
            "n_stuck": int(a["n_stuck"]), "mean_pulses": float(a["mean_pulses"]),
            "max_pulses": int(a["max_pulses"]), "rounds": len(run.read_result("history")) - 1,
            "virtual_s": backend.clock.now()}


def cell_by_cell(n: int, max_pulses: int = 200) -> dict[str, float]:
    """The straightforward loop: for each cell, read it and pulse it alone until it is in band."""
    backend = SimBackend((n, n), seed=0)
    levels = level_values(16, 2.5e-6, 40e-6)
    _, target = target_map("random", np.ones((n, n), bool), levels, np.random.default_rng(0))
    e = ISPP_PRESETS["ecram"]
    pot = Ladder(e["v_p_start_V"], e["v_p_step_V"], e["v_p_max_V"])
    dep = Ladder(e["v_d_start_V"], e["v_d_step_V"], e["v_d_max_V"])
    pulses, ok = np.zeros((n, n), int), np.zeros((n, n), bool)
    t0 = time.perf_counter()
    for r in range(n):
        for c in range(n):
            mask = np.zeros((n, n), bool)
            mask[r, c] = True
            direction, level = 0, 0
            for _ in range(max_pulses + 1):
                g = float(backend.read([r], [c], v_read_V=0.1)[0, 0])
                err = g - target[r, c]
                if abs(err) <= 0.01 * target[r, c]:        # settle 0.5 of the 2 % band
                    ok[r, c] = True
                    break
                want = 1 if err < 0 else -1
                level = level + 1 if want == direction else 0
                direction = want
                amp = float(pot.amplitude(level)) if want > 0 else -float(dep.amplitude(level))
                backend.pulse_cells(mask, amp, e["width_s"])
                pulses[r, c] += 1
    wall = time.perf_counter() - t0
    return {"cells": n * n, "wall_s": wall, "per_cell_s": wall / (n * n), "rate": float(ok.mean()),
            "mean_pulses": float(pulses.mean()), "max_pulses": int(pulses.max())}


def report(size: int, loop_size: int, row_amplitude: str) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        vec = vectorized(size, Path(tmp) / "wv.h5", row_amplitude)
    loop = cell_by_cell(loop_size)
    print(f"vectorized write_verify {size}x{size} ({vec['cells']} cells, row_amplitude={row_amplitude}):")
    print(f"  wall {vec['wall_s']:.1f} s, {vec['rounds']} rounds, virtual array time {vec['virtual_s']:.0f} s")
    print(f"  converged {100 * vec['rate']:.3f} % of all cells, {100 * vec['rate_working']:.3f} % of working "
          f"cells ({vec['n_stuck']} given up as stuck)")
    print(f"  pulses per cell: mean {vec['mean_pulses']:.2f}, max {vec['max_pulses']}")
    print(f"cell-by-cell loop {loop_size}x{loop_size}: wall {loop['wall_s']:.2f} s, converged "
          f"{100 * loop['rate']:.1f} %, mean pulses {loop['mean_pulses']:.1f}")
    print(f"per-cell time: vectorized {1e6 * vec['per_cell_s']:.2f} µs, loop {1e6 * loop['per_cell_s']:.0f} µs "
          f"-> speed-up {loop['per_cell_s'] / vec['per_cell_s']:.0f}x")
    return {"vectorized": vec, "loop": loop}


@pytest.mark.bench
def test_write_verify_4mb():
    res = report(2048, 16, "max")
    assert res["vectorized"]["rate_working"] >= 0.999
    assert res["vectorized"]["wall_s"] < 60, "4 Mb write-verify target: under 60 s"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--loop-size", type=int, default=16)
    ap.add_argument("--row-amplitude", default="max", choices=("max", "cell"))
    args = ap.parse_args()
    report(args.size, args.loop_size, args.row_amplitude)
