"""Speed / memory of the simulated arrays at 256^2, 1024^2 and 2048^2 (4 Mb) cells.

Run:  python benchmarks/bench_array.py            (prints a table)
      python benchmarks/bench_array.py --baseline --sizes 1024   (kernels vs commit 462508a)
      python -m pytest -m bench benchmarks/bench_array.py
Memory: bytes of the array's persistent numpy state, and tracemalloc peak of each operation
(numpy reports its buffers to tracemalloc).  Times: best of ``repeat`` wall-clock runs.
"""
from __future__ import annotations

import time
import tracemalloc
from typing import Any, Callable

import numpy as np
import pytest

from hil.backend import Lines
from sim_backends import SimBackend

SIZES = (256, 1024, 2048)


def _state_bytes(obj: Any) -> int:
    total = 0
    for v in vars(obj).values():
        if isinstance(v, np.ndarray):
            total += v.nbytes
        elif hasattr(v, "__dataclass_fields__"):
            total += sum(a.nbytes for a in vars(v).values() if isinstance(a, np.ndarray))
    return total


def _measure(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, int]:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best, peak


def bench(n: int, array: str = "h1e1t", repeat: int = 3, mtt: bool = True) -> dict[str, float]:
    """Times (s) and memory (bytes) of the main operations on an n x n array."""
    tracemalloc.start()
    t0 = time.perf_counter()
    b = SimBackend(shape=(n, n), array=array, seed=0)
    t_init = time.perf_counter() - t0
    _, peak_init = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    mask = np.ones((n, n), dtype=bool)
    amp = 10.0 if array == "h1e1t" else 1.2
    half = np.zeros((n, n), dtype=bool)
    half[::2] = True
    if array == "h1e1t":
        lines = Lines(np.full(n, 10.0), np.zeros(n), 6.0, 0.0)
    else:
        lines = Lines(np.full(n, 2.5), np.full(n, 1.2), 0.0)
    out = {"n": n, "cells": n * n, "init_s": t_init, "init_peak_B": peak_init,
           "state_B": _state_bytes(b.array)}
    out["pulse_s"], out["pulse_peak_B"] = _measure(lambda: b.pulse_cells(mask, amp, 2e-3), repeat)
    out["pulse_half_rows_s"], _ = _measure(lambda: b.pulse_cells(half, -amp, 2e-3), repeat)
    out["apply_lines_s"], _ = _measure(lambda: b.apply_pulse(lines, 2e-3), repeat)
    out["read_s"], out["read_peak_B"] = _measure(lambda: b.read(), repeat)
    out["pulse_plus_read_s"] = out["pulse_s"] + out["read_s"]
    v_h, v_ref = (1.4, 0.6) if array == "h1e1t" else (0.8, 0.7)
    out["mtt_read_s"], out["mtt_peak_B"] = (
        _measure(lambda: b.mtt_read(None, v_h, v_ref, 0.01), 1) if mtt else (float("nan"), 0))
    return out


def table(rows: list[dict[str, float]]) -> str:
    head = (f"{'array':>6} {'cells':>9} {'state MB':>9} {'peak MB':>8} {'init s':>7} "
            f"{'pulse s':>8} {'read s':>7} {'p+r s':>6} {'lines s':>8} {'mtt s':>7} {'ns/cell p+r':>11}")
    lines = [head]
    for r in rows:
        peak = max(r["init_peak_B"], r["pulse_peak_B"], r["read_peak_B"], r["mtt_peak_B"])
        lines.append(f"{r['array']:>6} {r['cells']:>9d} {r['state_B'] / 1e6:>9.1f} {peak / 1e6:>8.1f} "
                     f"{r['init_s']:>7.3f} {r['pulse_s']:>8.3f} {r['read_s']:>7.3f} "
                     f"{r['pulse_plus_read_s']:>6.3f} {r['apply_lines_s']:>8.3f} "
                     f"{r['mtt_read_s']:>7.3f} {1e9 * r['pulse_plus_read_s'] / r['cells']:>11.1f}")
    return "\n".join(lines)


@pytest.mark.bench
@pytest.mark.parametrize("array", ["h1e1t", "1t1r"])
def test_4mb_array_fits_and_is_fast(array):
    r = bench(2048, array, repeat=2)
    assert r["state_B"] + max(r["pulse_peak_B"], r["read_peak_B"]) < 1e9
    assert r["pulse_plus_read_s"] < 1.0
    assert r["mtt_read_s"] < 5.0          # full-array MTT read (RRAM: nonlinear divider solve)


#: per-operation timings of one tree, in a child process (JSON line): a full-array
#: potentiation phase, a depression phase with per-row amplitudes, a full read, a read of
#: every other row, a single-cell read, and (both trees) numpy's float32 normal draw
_KERNELS_CHILD = """
import json, sys, time
import numpy as np
from sim_backends import SimBackend
n = int(sys.argv[1])
b = SimBackend((n, n), seed=0)
rng = np.random.default_rng(1)
mask = rng.random((n, n)) < 0.5
amp = -rng.choice([3.0, 5.0, 8.0], (n, 1)) * np.ones((1, n))
ops = {"pulse_full": lambda: b.pulse_cells(mask, 10.0, 2e-3),
       "pulse_rows": lambda: b.pulse_cells(mask, amp, 2e-3),
       "read_full": lambda: b.read(),
       "read_half_rows": lambda: b.read(np.arange(0, n, 2)),
       "read_cell": lambda: b.read([3], [5]),
       "np_normal": lambda: rng.standard_normal(n * n, dtype=np.float32)}
out = {}
for name, fn in ops.items():
    fn()
    times = []
    for _ in range(200 if name == "read_cell" else 3):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    out[name] = min(times)
print(json.dumps(out))
"""


def kernels_vs_baseline(n: int = 1024, repeats: int = 2) -> dict[str, dict[str, float]]:
    """Best CPU time per operation of this tree and of commit 462508a, alternating processes."""
    import json
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from bench_write_verify import ROOT, baseline_tree
    res: dict[str, dict[str, float]] = {"new": {}, "old": {}}
    with tempfile.TemporaryDirectory() as d:
        trees = {"new": ROOT, "old": baseline_tree(Path(d))}
        for _ in range(repeats):
            for tag, root in trees.items():
                r = subprocess.run([sys.executable, "-c", _KERNELS_CHILD, str(n)], check=True, text=True,
                                   capture_output=True, cwd=root, env=dict(os.environ, PYTHONPATH=str(root)))
                for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items():
                    res[tag][k] = min(v, res[tag].get(k, float("inf")))
    print(f"H-1E1T {n}x{n}, best CPU time per operation (load avg {os.getloadavg()[0]:.1f}):")
    for k in res["new"]:
        unit, f = ("µs", 1e6) if k == "read_cell" else ("ms", 1e3)
        print(f"  {k:15s} new {f * res['new'][k]:9.1f} {unit}   462508a {f * res['old'][k]:9.1f} {unit}"
              f"   ratio {res['old'][k] / res['new'][k]:5.2f}x")
    return res


def main(argv: list[str] | None = None) -> None:
    """``python benchmarks/bench_array.py [h1e1t|1t1r ...] [--sizes 256,1024]``."""
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("arrays", nargs="*", help="h1e1t and/or 1t1r (default both)")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--baseline", action="store_true",
                    help="per-operation CPU time vs commit 462508a (H-1E1T, first size)")
    args = ap.parse_args(argv)
    if args.baseline:
        kernels_vs_baseline(int(args.sizes.split(",")[0]))
        return
    rows = []
    bad = set(args.arrays) - {"h1e1t", "1t1r"}
    if bad:
        ap.error(f"array types {sorted(bad)}; allowed: h1e1t, 1t1r")
    for array in args.arrays or ["h1e1t", "1t1r"]:
        for n in (int(v) for v in args.sizes.split(",")):
            r = bench(n, array)
            r["array"] = array
            rows.append(r)
            print(table([r]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    print("peak MB: tracemalloc peak of init / pulse / read / mtt (numpy buffers); mtt s: one "
          "full-array mtt_read (H-1E1T: 1.4 V / 0.6 V; 1T1R RRAM-MTT: 0.8 V / 0.7 V)")


if __name__ == "__main__":
    main()
