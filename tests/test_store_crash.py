"""kill -9 at every kind of write inside a commit: every file opens and resumes to exactly
the uninterrupted result (issue 11: atomic, durable commits).

The hook ``HIL_FAIL_AT_WRITE=N`` (`hil.store.pagefile`) SIGKILLs the writer at its N-th
low-level write after writing half of it (a torn write).  The writer runs in a forked
child; the parent opens the file as a reader, resumes it and compares with a reference.
"""
from __future__ import annotations

import os
import traceback

import h5py
import numpy as np
import pytest

from hil.runner import resume, run_protocol
from hil.station import Station
from hil.store import Run, pagefile
from sim_backends import SimBackend

STATION = Station.load(None)
KILLS_PER_PROTOCOL = 2  # plus write 1 (a torn journal); 60 kills: see the note

CASES = {
    "pulse_train": (lambda: SimBackend((2, 2)), {"cells": "all", "n_pot": 8, "n_dep": 8}, 4),
    "retention": (lambda: SimBackend((2, 2), seed=2), {"n_snapshots": 4, "max_pulses": 20}, None),
    "write_verify": (lambda: SimBackend((2, 2), seed=3), {"max_pulses": 20}, 3),
    "iv_sweep": (lambda: SimBackend((2, 2), array="1t1r", device="rram_taox", seed=1),
                 {"cycles": 3}, 1),
    "mtt_readout": (lambda: SimBackend((2, 4)), {"units": "0,0", "n_points": 4}, 2),
    "selective_programming": (lambda: SimBackend((4, 4), seed=4),
                              {"n_pulses": 3, "max_pulses": 20}, 2),
}


def in_child(fn, env: dict[str, str] | None = None) -> int:
    """Run ``fn`` in a forked child; its exit code (negative: killed by that signal)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child)
        code = 0
        try:
            os.environ.update(env or {})
            pagefile.reset_fault_counter()
            fn()
        except BaseException:
            traceback.print_exc()
            code = 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def snapshot(path) -> dict[str, np.ndarray]:
    run = Run.open(path)
    t, G = run.read_maps()
    out = {"events": run.read_events(), "t_s": t, "G_S": G, "pulses": run.read_pulses()}
    for name in run.list("results"):
        out[f"results/{name}"] = run.read_result(name)
    return out


def assert_same(got: dict, ref: dict, where: str) -> None:
    assert sorted(got) == sorted(ref), where
    for key, value in ref.items():
        if value.dtype.names:
            for field in value.dtype.names:
                np.testing.assert_array_equal(got[key][field], value[field], err_msg=f"{where} {key}.{field}")
        else:
            np.testing.assert_array_equal(got[key], value, err_msg=f"{where} {key}")


@pytest.mark.parametrize("protocol", sorted(CASES))
def test_kill_inside_commits_then_resume_is_identical(tmp_path, protocol):
    make, params, batch = CASES[protocol]
    ref_path = tmp_path / "ref.h5"
    pagefile.reset_fault_counter()
    run_protocol(protocol, make(), ref_path, params, station=STATION, progress=False,
                 batch_steps=batch)
    writes = pagefile._writes
    ref = snapshot(ref_path)
    assert writes > 10
    # deterministic sample: the first writes (journal of the first commit), the middle, the end
    points = sorted({1} | {int(x) for x in np.linspace(2, writes - 1, KILLS_PER_PROTOCOL)})
    for n in points:
        out = tmp_path / f"kill{n}.h5"

        def work(out=out):
            run_protocol(protocol, make(), out, params, station=STATION, progress=False,
                         batch_steps=batch)
        code = in_child(work, {pagefile.FAIL_ENV: str(n)})
        assert code == -9, f"write {n} of {writes}: child ended {code}"
        if not out.exists():  # killed while the file was being created
            continue
        run = Run.open(out)  # a reader: rolls back a commit cut short, never fails
        assert run.status in ("running", "complete"), n
        with h5py.File(out) as f:  # then plain h5py with default locking opens it too
            assert f.attrs["format"] == "hil-run"
        assert run.n_events() <= len(ref["events"])
        if run.status != "complete":
            resume(out, progress=False, backend=make())
        assert Run.open(out).status == "complete"
        assert_same(snapshot(out), ref, f"{protocol} killed at write {n}/{writes}")
