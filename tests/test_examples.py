"""The scripts in examples/ run as a user would run them (fresh process, own folder) and print
what they promise."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(name: str, cwd: Path, *args: str) -> str:
    res = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=cwd,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_run_protocol_example(tmp_path):
    out = _run("run_protocol.py", tmp_path, "ltp.h5")
    assert "status: complete" in out and "events: 400" in out
    with h5py.File(tmp_path / "ltp.h5", "r") as f:
        assert f.attrs["status"] == "complete"


def test_fit_drift_to_torch_example(tmp_path):
    out = _run("fit_drift_to_torch.py", tmp_path, "ret.h5")
    assert "4 states" in out and out.count("after 1 day") == 4
    with h5py.File(tmp_path / "ret.h5", "r") as f:
        assert "drift_gauss_mean_G_S" in f["fits"]


def test_pyvisa_example_measures_the_simulated_cell(tmp_path):
    out = _run("pyvisa_on_hil_serve.py", tmp_path)
    assert "B1500A" in out and 'No Error' in out
    g_uS = float(out.split("G(0, 0) = ")[1].split()[0])
    assert g_uS > 0        # the spot measurement went through matrix, prober and physics


@pytest.mark.slow
def test_validate_example(tmp_path):
    out = _run("validate_network.py", tmp_path, "val.h5")
    assert out.count("accuracy") >= 4 and "3.154e+07 s" in out     # software + 3 read times
    assert (tmp_path / "val.h5").exists()
