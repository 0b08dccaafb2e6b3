"""Bad input (issue 11 item 11): one clear line naming the value and what is allowed, exit 2,
no traceback, and no file created or modified."""
from __future__ import annotations

import os

import h5py
import pytest

from hil import cli
from hil.runner import run_protocol
from hil.station import Station
from sim_backends import SimBackend

HUGE = str(10 ** 30)
RUN_CASES = [
    (["pulse_train", "--seed", HUGE], HUGE),
    (["pulse_train", "--seed", "-1"], "-1"),
    (["pulse_train", "--seed", "1.5"], "1.5"),
    (["retention", "--set", "horizon_s=inf"], "inf"),
    (["retention", "--set", "horizon_s=nan"], "horizon_s"),
    (["retention", "--set", "t_first_s=0"], "t_first_s=0"),
    (["retention", "--set", "n_snapshots=0"], "n_snapshots=0"),
    (["retention", "--set", "n_snapshots=1e9"], "n_snapshots"),
    (["pulse_train", "--set", "n_pot=1e9"], "n_pot"),
    (["pulse_train", "--set", "n_pot=1000000", "--set", "n_dep=1000000", "--set", "cycles=100000"],
     "2e+11 values"),
    (["pulse_train", "--set", "v_pot_V=nan"], "v_pot_V"),
    (["pulse_train", "--set", "v_pot_V=-inf"], "v_pot_V"),
    (["pulse_train", "--set", "width_pot_s=-1"], "width_pot_s=-1"),
    (["pulse_train", "--set", "cells=99,99"], "99"),
    (["pulse_train", "--set", "sequence=zigzag"], "zigzag"),
    (["pulse_train", "--set", "bogus=1"], "bogus"),
    (["pulse_train", "--set", "n_pot"], "n_pot"),
    (["iv_sweep", "--set", "step_V=1e-9"], "step_V=1e-09"),
    (["no_such_protocol"], "no_such_protocol"),
]


def _tree(d) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in d.iterdir()}


def _cli(args, capsys) -> tuple[int, list[str]]:
    try:
        code = cli.main(args)
    except SystemExit as exc:  # argparse rejects the value itself (usage + one error line)
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


@pytest.mark.parametrize("args,named", RUN_CASES, ids=[" ".join(a) for a, _ in RUN_CASES])
def test_bad_run_input_is_one_clear_line_and_leaves_no_file(tmp_path, capsys, args, named):
    (tmp_path / "keep.h5").write_bytes(b"not touched")
    before = _tree(tmp_path)
    code, err = _cli(["run", args[0], "--out", str(tmp_path / "new.h5"), "--no-progress", *args[1:]],
                     capsys)
    assert code == 2, err
    assert not any("Traceback" in line for line in err)
    assert "error" in err[-1] and named in err[-1], err
    assert _tree(tmp_path) == before  # nothing created or modified


@pytest.mark.parametrize("target", ["/dev/null", "DIR", "EXISTING"])
def test_bad_output_path(tmp_path, capsys, target):
    (tmp_path / "EXISTING").write_bytes(b"old run")
    (tmp_path / "DIR").mkdir()
    out = target if target.startswith("/") else str(tmp_path / target)
    before = _tree(tmp_path)
    extra = ["--overwrite"] if target != "EXISTING" else []
    code, err = _cli(["run", "pulse_train", "--out", out, "--no-progress", *extra], capsys)
    assert code == 2 and len(err) == 1 and out in err[0], err
    assert _tree(tmp_path) == before


def test_bad_files_for_show_and_resume(tmp_path, capsys):
    good = run_protocol("pulse_train", SimBackend(), tmp_path / "good.h5", {"n_pot": 4, "n_dep": 4},
                        station=Station.load(None), progress=False)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = [1, 2]
    bare = tmp_path / "bare.h5"  # a run file without /checkpoint, /maps, /history
    with h5py.File(bare, "w") as f:
        f.attrs.update({"format": "hil-run", "protocol": "pulse_train", "status": "failed",
                        "shape": (8, 8), "seed": 0, "params": "{}", "device": "{}"})
        f["events"] = [0]
    before = _tree(tmp_path)
    cases = [(["show", str(text)], "not a readable HDF5"), (["show", str(cut)], "not a readable"),
             (["show", str(other)], "not a hil run"), (["show", str(tmp_path / "nope.h5")], "does not exist"),
             (["resume", str(good)], "already complete"), (["resume", str(text)], "not a readable"),
             (["show", str(bare)], "")]
    for args, named in cases:
        code, err = _cli(args, capsys)
        if args[1] == str(bare):  # readable enough to show what it has
            assert code in (0, 2) and not any("Traceback" in e for e in err), err
            continue
        assert code == 2 and len(err) == 1 and named in err[0], (args, err)
    assert {k: v for k, v in _tree(tmp_path).items() if not k.endswith((".lock", ".journal"))} == before
    assert os.path.getsize(good) == before["good.h5"][0]
