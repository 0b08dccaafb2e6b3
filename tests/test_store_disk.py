"""Full disk, damaged bytes and file size (issue 11 items 2 and 10)."""
from __future__ import annotations

import shutil
import subprocess

import h5py
import numpy as np
import pytest

from hil import cli
from hil.errors import DiskFullError, RunDamagedError
from hil.runner import resume, run_protocol
from hil.station import Station
from hil.store import Run
from sim_backends import SimBackend

STATION = Station.load(None)
PARAMS = {"cells": "all", "n_pot": 40, "n_dep": 40}


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 160 KiB tmpfs (needs root; skipped otherwise), grown later with `grow`."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode:
        pytest.skip(f"cannot mount a tmpfs (needs root): {res.stderr.strip()}")

    def grow():
        subprocess.run(["mount", "-o", "remount,size=16m", str(mnt)], check=True)
    try:
        yield mnt, grow
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_disk_full_fails_cleanly_and_resumes_after_freeing_space(tmp_path, small_tmpfs, capsys):
    mnt, grow = small_tmpfs
    ref = Run.open(run_protocol("pulse_train", SimBackend(), tmp_path / "ref.h5", PARAMS,
                                station=STATION, progress=False)).read_events()
    out = mnt / "full.h5"
    code = cli.main(["run", "pulse_train", "--out", str(out), "--no-progress",
                     "--set", "cells=all", "--set", "n_pot=40", "--set", "n_dep=40"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 2, err
    assert err[0].startswith("hil: warning: only") and "MB free" in err[0]  # warned before
    assert err[1].startswith("hil: error: disk full") and "hil resume" in err[1]
    run = Run.open(out)               # readable: exactly the last commit
    assert run.status == "running"
    n = run.n_events()
    assert 0 < n < len(ref) and n % (20 * 64) == 0
    np.testing.assert_array_equal(run.read_events()["G_S"], ref["G_S"][:n])
    with pytest.raises(DiskFullError):  # still full: refused cleanly again
        resume(out, progress=False)
    grow()
    resume(out, progress=False)
    ev = Run.open(out).read_events()
    for field in ref.dtype.names:
        np.testing.assert_array_equal(ev[field], ref[field], err_msg=field)


def test_flipped_bits_are_reported_not_shown(tmp_path, capsys):
    path = run_protocol("pulse_train", SimBackend(), tmp_path / "f.h5", {"n_pot": 20, "n_dep": 20},
                        station=STATION, progress=False)
    with h5py.File(path) as f:
        info = f["events"].id.get_chunk_info(0)
    with open(path, "r+b") as fh:  # flip one byte inside the events' data
        fh.seek(info.byte_offset + 100)
        b = fh.read(1)
        fh.seek(info.byte_offset + 100)
        fh.write(bytes([b[0] ^ 0x10]))
    with pytest.raises(RunDamagedError, match="damaged: a checksum does not match"):
        Run.open(path).read_events()
    assert cli.main(["show", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "damaged" in err[0]


CASES = {
    "pulse_train": (lambda: SimBackend((4, 4)), {"cells": "all", "n_pot": 60, "n_dep": 60}),
    "retention": (lambda: SimBackend((16, 16)), {"n_snapshots": 20, "max_pulses": 30}),
    "write_verify": (lambda: SimBackend((64, 64)), {"max_pulses": 20}),
}


@pytest.mark.parametrize("protocol", sorted(CASES))
def test_file_is_at_most_twice_its_data(tmp_path, protocol):
    make, params = CASES[protocol]
    path = run_protocol(protocol, make(), tmp_path / "s.h5", params, station=STATION, progress=False)
    data = sum(Run.open(path).verify().values())
    size = path.stat().st_size
    print(f"\n{protocol}: file {size / 1e3:.0f} kB for {data / 1e3:.0f} kB of datasets "
          f"({size / data:.2f}x)")
    assert size <= 2 * data + 64 * 1024  # + fixed overhead (superblock, attributes, groups)
