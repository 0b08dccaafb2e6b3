"""End to end on the embedded simulator: demo, kill -9 + resume, Ctrl-C + resume."""
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from hil.store import OPS, Run


def test_demo_writes_360_events_plot_and_reports_on_off_ratio(tmp_path, hil_cli):
    res = hil_cli("demo", "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    h5, png = tmp_path / "hil-demo.h5", tmp_path / "hil-demo.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run = Run.open(h5)
    a = run.attrs
    assert a["status"] == "complete" and a["protocol"] == "pulse_train" and a["backend"] == "sim"
    ev = run.read_events()
    assert len(ev) == 360 and set(ev["op"]) == {OPS["pulse"]}
    assert np.all(ev["V_V"][:180] == 10.0) and np.all(ev["V_V"][180:] == -7.0)
    assert np.allclose(ev["width_s"], 2e-3)
    assert np.all(np.diff(ev["t_s"]) > 0)
    # the on/off ratio recomputed from the raw events matches the printed and stored one
    ratio = ev["G_S"].max() / ev["G_S"].min()
    assert run.read_result("on_off_ratio")[0] == pytest.approx(ratio, rel=1e-6)
    assert f"on/off ratio: {ratio:.0f}" in res.stdout
    assert str(h5.resolve()) in res.stdout and str(png.resolve()) in res.stdout
    # LTP raises G, LTD lowers it: the physics, not a constant
    G = ev["G_S"].astype(float)
    assert G[179] > 20 * G[0] and G[359] < G[179] / 20
    # a second demo in the same folder replaces the demo's own default outputs (issue 18)...
    again = hil_cli("demo", "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert Run.open(h5).attrs["status"] == "complete" and len(Run.open(h5).read_events()) == 360
    # ...but a file the user named is not silently replaced
    named = hil_cli("demo", "--no-progress", "-o", "hil-demo.h5", cwd=tmp_path)
    assert named.returncode == 2 and "exists" in named.stderr


def _events(path):
    ev = Run.open(path).read_events()
    return ev


def test_kill_9_mid_run_then_resume_equals_uninterrupted(tmp_path, hil_cli, killed_run):
    args = ["pulse_train", "--set", "cells=0:2,0:2", "--set", "n_pot=60", "--set", "n_dep=60"]
    ref = tmp_path / "ref.h5"
    assert hil_cli("run", *args, "--out", str(ref), "--no-progress", cwd=tmp_path).returncode == 0
    killed = tmp_path / "killed.h5"
    killed_run(killed, 2, *args)  # SIGKILL right after batch 2 (steps 0..59) was committed
    shown = hil_cli("show", str(killed))
    assert shown.returncode == 0 and "status: running" in shown.stdout
    assert "events:     240" in shown.stdout and "hil resume" in shown.stdout
    assert "no process is writing this file" in shown.stdout    # the hint after kill -9 (issue 18)
    res = hil_cli("resume", str(killed), "--no-progress")
    assert res.returncode == 0, res.stderr
    a, b = _events(ref), _events(killed)
    assert len(a) == len(b) == 120 * 4
    for field in ("G_S", "V_V", "width_s", "row", "col", "step", "op", "t_s"):
        np.testing.assert_array_equal(a[field], b[field], err_msg=field)
    assert Run.open(killed).attrs["status"] == "complete"
    again = hil_cli("resume", str(killed))
    assert again.returncode == 2 and "already complete" in again.stderr


def test_ctrl_c_finishes_batch_marks_interrupted_and_resumes(tmp_path, hil_cli):
    out = tmp_path / "int.h5"
    cmd = [sys.executable, "-m", "hil.cli", "run", "pulse_train", "--set", "cells=all",
           "--set", "n_pot=3000", "--set", "n_dep=3000", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until at least one batch is on disk
        time.sleep(0.2)
        if out.exists():
            try:
                if Run.open(out).n_events() > 0:
                    break
            except Exception:
                pass
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    run = Run.open(out)
    assert run.attrs["status"] == "interrupted"
    n = run.n_events()
    cp = run.read_checkpoint()
    assert n == (cp["step"] + 1) * 64  # whole batches only: nothing half-written
    assert n < 6000 * 64
