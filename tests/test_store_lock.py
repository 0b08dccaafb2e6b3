"""The writer lock cannot go stale, and readers never hurt a run (issue 11 items 3, 4)."""
from __future__ import annotations

import os
import time

import h5py
import numpy as np
import pytest

from hil.errors import WriterBusyError
from hil.runner import KILL_ENV, resume, run_protocol
from hil.station import Station
from hil.store import Run
from sim_backends import SimBackend

PARAMS = {"cells": "0,0", "n_pot": 30, "n_dep": 30}
STATION = Station.load(None)


def _killed_run(path, after_batch: int = 0):
    """A run SIGKILLed after committing batch ``after_batch``; returns the unreaped child pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child)
        os.environ[KILL_ENV] = str(after_batch)
        try:
            run_protocol("pulse_train", SimBackend(), path, PARAMS, station=STATION, progress=False,
                         batch_steps=4)
        finally:
            os._exit(3)
    while True:  # wait until it is dead but do NOT reap it: it stays a zombie
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split(")")[1].split()[0] == "Z":
                return pid
        time.sleep(0.01)


def test_zombie_and_reused_pid_never_block_resume(tmp_path):
    out = tmp_path / "z.h5"
    zombie = _killed_run(out)
    try:
        assert Run.open(out).status == "running"
        # the old PID guard would see a live writer; mark a live PID (ours, init) as writer too
        Run.open(out).set_status("running", None, writer_pid=1, writer_host=os.uname().nodename)
        resume(out, progress=False)
    finally:
        os.waitpid(zombie, 0)
    run = Run.open(out)
    assert run.status == "complete" and run.n_events() == 60


def test_second_writer_is_refused_with_a_clear_message(tmp_path):
    out = tmp_path / "c.h5"
    os.waitpid(_killed_run(out), 0)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child): holds the file as its writer
        with Run(out).writing():
            os.write(w, b"1")
            time.sleep(30)
        os._exit(0)
    try:
        assert os.read(r, 1) == b"1"
        with pytest.raises(WriterBusyError, match=rf"being written by another process \(pid {pid} "):
            resume(out, progress=False)
        assert Run.open(out).status == "running"   # untouched, still readable
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    resume(out, progress=False)  # the killed holder's lock is gone with it
    assert Run.open(out).status == "complete"


def test_readers_during_a_run_neither_fail_nor_stop_it(tmp_path):
    """One process holds the file open with plain h5py (default locking) the whole time,
    another reads it through `Run` in a loop, while the writer commits batch after batch."""
    out = tmp_path / "r.h5"
    os.waitpid(_killed_run(out), 0)
    r, w = os.pipe()
    holder = os.fork()
    if holder == 0:  # pragma: no cover (child): an HDFView-like reader, file kept open
        with h5py.File(out, "r") as f:
            os.write(w, b"1")
            f["events"].shape
            time.sleep(60)
        os._exit(0)
    assert os.read(r, 1) == b"1"
    reader = os.fork()
    if reader == 0:  # pragma: no cover (child): `hil show`-like reads, as fast as it can
        bad = 0
        for _ in range(400):
            try:
                run = Run.open(out)
                ev = run.read_events()
                # read one after the other, so a commit may land in between: never fewer
                # committed steps than events read before
                assert len(ev) <= run.read_checkpoint()["step"] + 1 or run.status == "complete"
                if run.status == "complete":
                    break
            except Exception:
                bad += 1
        os._exit(min(bad, 100))
    try:
        resume(out, progress=False)
    finally:
        _, status = os.waitpid(reader, 0)
        os.kill(holder, 9)
        os.waitpid(holder, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # no reader call failed
    run = Run.open(out)
    assert run.status == "complete" and run.n_events() == 60
    np.testing.assert_array_equal(run.read_events()["step"], np.arange(60))
