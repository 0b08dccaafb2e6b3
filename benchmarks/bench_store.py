"""Run-file throughput: events/s, 2048x2048 map snapshots/s, checkpoint cost, file size.

Run: python -m pytest -m bench benchmarks/bench_store.py -s
"""
import time

import numpy as np
import pytest

from hil.store import Run, make_events

pytestmark = pytest.mark.bench


def _run(path, shape):
    return Run.create(path, protocol="bench", params={}, station_text="", backend="sim",
                      device={}, seed=0, shape=shape)


def test_event_throughput(tmp_path):
    run = _run(tmp_path / "ev.h5", (8, 8))
    n_batches, per_batch = 200, 5000
    t0 = time.perf_counter()
    for b in range(n_batches):
        run.append_events(make_events(per_batch, op="pulse", step=b, G_S=1e-6))
        run.commit({"step": b})
    dt = time.perf_counter() - t0
    size = (tmp_path / "ev.h5").stat().st_size
    print(f"\nevents: {n_batches * per_batch / dt:,.0f} rows/s in batches of {per_batch} "
          f"({dt / n_batches * 1e3:.1f} ms per committed batch); {size / (n_batches * per_batch):.1f} B/row")
    assert Run.open(tmp_path / "ev.h5").n_events() == n_batches * per_batch


def test_4mb_map_snapshots_and_checkpoint(tmp_path):
    shape = (2048, 2048)
    run = _run(tmp_path / "maps.h5", shape)
    G = np.random.default_rng(0).random(shape, dtype=np.float32) * 50e-6
    n = 10
    t0 = time.perf_counter()
    for k in range(n):
        run.append_map(float(k), G)
        run.commit()
    t_map = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for k in range(n):
        run.commit({"step": k, "backend": {"x": G, "t_prog_s": G}})
    t_cp = (time.perf_counter() - t0) / n
    size = (tmp_path / "maps.h5").stat().st_size / 2**20
    print(f"\n2048x2048 map snapshot: {t_map * 1e3:.0f} ms each; checkpoint with 2 x 16 MiB state: "
          f"{t_cp * 1e3:.0f} ms; file {size:.0f} MiB for {n} maps + state")
    assert run.read_maps()[1].shape == (n,) + shape


def test_fsync_cost_per_batch(tmp_path):
    """Cost of durable commits (journal + file + journal-clear fsyncs) per batch, measured
    against the same commits without fsync, interleaved so that load changes hit both."""
    import os

    state = {"x": np.random.default_rng(1).random((8, 8)), "rng": {"k": 1}}
    ev = make_events(20 * 64, op="pulse", G_S=1e-6)
    times = {True: [], False: []}
    n_batches, reps = 40, 5
    for rep in range(reps):
        for fsync in (True, False):
            path = tmp_path / f"f{rep}{int(fsync)}.h5"
            run = _run(path, (8, 8))
            with run.writing(fsync=fsync):
                t0 = time.perf_counter()
                for b in range(n_batches):
                    run.append_events(ev)
                    run.commit({"step": b, "backend": state})
                times[fsync].append((time.perf_counter() - t0) / n_batches)
    on, off = np.median(times[True]) * 1e3, np.median(times[False]) * 1e3
    print(f"\ncommit of 1280 events + 8x8 checkpoint: {on:.2f} ms with fsync, {off:.2f} ms "
          f"without; fsync costs {on - off:.2f} ms per batch ({on / off:.1f}x); load "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    assert Run.open(path).n_events() == n_batches * len(ev)
