"""Bad input at the command line: one clear line, exit 2, no existing file modified."""
import numpy as np
import pytest

from hil.store import Run


@pytest.fixture(scope="module")
def done_run(tmp_path_factory):
    from tests.conftest import run_hil

    d = tmp_path_factory.mktemp("done")
    out = d / "done.h5"
    res = run_hil("run", "pulse_train", "--set", "n_pot=5", "--set", "n_dep=5", "--out", str(out),
                  "--no-progress")
    assert res.returncode == 0, res.stderr
    return out


def _one_line_error(res, *needles):
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hil: error: "), res.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.mark.parametrize("args, needles", [
    (["run", "zap"], ["unknown protocol 'zap'", "available: ", "pulse_train"]),
    (["run", "pulse_train", "--set", "volts=3"], ["unknown parameter(s) volts", "allowed: cells"]),
    (["run", "pulse_train", "--set", "width_pot_s=0"], ["width_pot_s=0.0 s must be > 0"]),
    (["run", "pulse_train", "--set", "width_dep_s=-1e-3"], ["width_dep_s=-0.001 s must be > 0"]),
    (["run", "pulse_train", "--set", "v_pot_V=40"], ["v_pot_V=40.0 V is outside the safe range", "ecram_wox_lipon"]),
    (["run", "pulse_train", "--set", "cells=99,0"], ["row 99 is outside"]),
    (["run", "pulse_train", "--set", "novalue"], ["expected KEY=VALUE"]),
    (["run", "pulse_train", "--station", "nope.toml"], ["station file 'nope.toml' does not exist"]),
    (["show", "missing.h5"], ["does not exist"]),
    (["resume", "missing.h5"], ["does not exist"]),
])
def test_bad_input_is_one_clear_line(tmp_path, hil_cli, args, needles):
    res = hil_cli(*args, cwd=tmp_path)
    _one_line_error(res, *needles)
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_verbose_shows_traceback(tmp_path, hil_cli):
    res = hil_cli("--verbose", "run", "zap", cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" in res.stderr


def test_existing_output_refused_without_overwrite(done_run, hil_cli):
    before = done_run.read_bytes()
    res = hil_cli("run", "pulse_train", "--out", str(done_run), "--no-progress")
    _one_line_error(res, "exists", "--overwrite")
    assert done_run.read_bytes() == before


def test_unwritable_output_path(tmp_path, hil_cli):
    res = hil_cli("run", "pulse_train", "--out", str(tmp_path / "no" / "dir" / "x.h5"), "--no-progress")
    _one_line_error(res, "does not exist")


@pytest.mark.parametrize("content", [b"garbage" * 100, b""])
def test_show_and_resume_of_non_hdf5(tmp_path, hil_cli, content):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(content)
    for cmd in ("show", "resume", "plot"):
        _one_line_error(hil_cli(cmd, str(bad), cwd=tmp_path), "not a readable HDF5 run file")
    assert bad.read_bytes() == content


def test_truncated_file_to_show_and_resume(done_run, tmp_path, hil_cli):
    cut = tmp_path / "cut.h5"
    data = done_run.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    for cmd in ("show", "resume"):
        _one_line_error(hil_cli(cmd, str(cut)), "truncated or not HDF5")
    assert cut.read_bytes() == data[: len(data) // 2]


def test_resume_of_complete_run_is_refused(done_run, hil_cli):
    before = done_run.read_bytes()
    _one_line_error(hil_cli("resume", str(done_run)), "already complete")
    assert done_run.read_bytes() == before


def test_show_list_plot_station(done_run, tmp_path, hil_cli):
    res = hil_cli("show", str(done_run))
    assert res.returncode == 0 and "status: complete" in res.stdout and "on/off ratio" in res.stdout
    assert "/results/on_off_ratio" in res.stdout
    res = hil_cli("list")
    assert res.returncode == 0 and "pulse_train:" in res.stdout and "v_pot_V [V] = 10.0" in res.stdout
    assert "ecram_wox_lipon" in res.stdout
    png = tmp_path / "p.png"
    res = hil_cli("plot", str(done_run), "-o", str(png))
    assert res.returncode == 0 and png.read_bytes()[:4] == b"\x89PNG"
    res = hil_cli("station", "show")
    assert res.returncode == 0 and 'type = "sim"' in res.stdout
    assert Run.open(done_run).attrs["status"] == "complete"
    assert np.isfinite(Run.open(done_run).read_events()["G_S"]).all()
