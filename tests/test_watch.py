"""`hil watch`: downsampling, the snapshot read from run files, the server, and a real browser
(headless Chromium) following a running measurement on the emulated lab."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from hil.store import Run
from hil.watch import WatchServer
from hil.watch.downsample import block_mean, decimate_minmax
from hil.watch.snapshot import snapshot, to_json

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_decimate_keeps_extremes_and_bounds_size():
    y = np.sin(np.linspace(0, 60, 100_000))
    y[12_345] = 50.0
    y[777] = np.nan
    idx, v = decimate_minmax(y, 1000)
    assert len(idx) <= 1000 and np.all(np.diff(idx) > 0)
    assert v.max() == 50.0 and idx[np.argmax(v)] == 12_345
    assert np.isclose(v.min(), y[np.isfinite(y)].min())
    small_idx, small_v = decimate_minmax(y[:100], 1000)
    assert len(small_idx) == 100 and np.array_equal(small_v, y[:100])


def test_block_mean_bounds_map_and_ignores_nan():
    G = np.arange(400 * 300, dtype=float).reshape(400, 300)
    G[0, 0] = np.nan
    z, k = block_mean(G, 100)
    assert k == 4 and z.shape == (100, 75)
    assert z[1, 1] == pytest.approx(G[4:8, 4:8].mean())
    assert z[0, 0] == pytest.approx(np.nanmean(G[:4, :4]))
    same, one = block_mean(G[:50, :50], 100)
    assert one == 1 and same.shape == (50, 50)


def _run(tmp_path: Path, protocol: str, *sets: str) -> Path:
    out = tmp_path / f"{protocol}.h5"
    cmd = [sys.executable, "-m", "hil.cli", "run", protocol, "-o", str(out), "--no-progress"]
    for s in sets:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return out


@pytest.fixture(scope="module")
def retention_run(tmp_path_factory) -> Path:
    return _run(tmp_path_factory.mktemp("watch"), "retention", "n_snapshots=6", "horizon_s=1000")


def test_snapshot_matches_the_file(retention_run):
    run = Run.open(retention_run)
    snap = json.loads(to_json(snapshot(run)))      # strict JSON: no NaN leaks to the browser
    assert snap["status"] == "complete" and snap["protocol"] == "retention"
    assert snap["n_events"] == run.n_events()
    t, G = run.read_maps()
    assert snap["n_maps"] == len(t) == 6
    views = {v["id"]: v for v in snap["views"]}
    assert {"events", "map", "retention", "convergence"} <= set(views)
    z = np.array(views["map"]["traces"][0]["z"], dtype=float)
    assert np.allclose(z, G[-1] * 1e6, rtol=1e-5)                  # 8x8: no block averaging
    state = run.read_result("state")
    s0 = np.unique(state[state >= 0])[0]
    mean0 = views["retention"]["traces"][0]["y"]
    assert np.allclose(mean0, G[:, state == s0].mean(axis=1) * 1e6, rtol=1e-5)
    assert snap["provenance"]["device"] == run.attrs["device"]["name"]
    assert snap["n_steps"] == run.attrs["n_steps"] and snap["step"] == snap["n_steps"] - 1
    kinds = [h["kind"] for h in snap["history"]]
    assert kinds[0] == "start" and kinds[-1] == "complete"
    assert [h["kind"] for h in run.read_history()] == kinds


def _get(url: str) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.read(), r.headers.get("Content-Type", "")


def test_server_serves_page_data_plot_and_plotly_offline(retention_run):
    with WatchServer(retention_run) as srv:
        assert srv.host == "127.0.0.1" and srv.port > 0
        code, body, ctype = _get(srv.url)
        assert code == 200 and b"/static/plotly.js" in body and "text/html" in ctype
        code, js, _ = _get(srv.url + "static/plotly.js")
        assert code == 200 and len(js) > 1_000_000 and b"plotly" in js[:2000].lower()
        code, body, _ = _get(srv.url + "api/snapshot")
        data = json.loads(body)
        assert code == 200 and data["version"]
        code, body, _ = _get(srv.url + f"api/snapshot?version={data['version']}")
        assert code == 204 and body == b""                          # nothing new: no payload
        code, png, ctype = _get(srv.url + "api/plot.png")
        assert code == 200 and ctype == "image/png" and png[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(OSError):
        _get(srv.url)                                               # stopped: port closed


def test_watch_command_rejects_a_missing_file(tmp_path, capsys):
    from hil.cli import main

    assert main(["watch", str(tmp_path / "nope.h5"), "--no-browser"]) == 2
    assert "nope.h5" in capsys.readouterr().err


LAB_STATION = """
[backend]
type = "lab"
device = "ecram_wox_lipon"
array = "h1e1t"
rows = 4
cols = 4
seed = 0
wiring = "array_controller"
programming = "firmware"

[[instruments]]
name = "ctrl"
driver = "array_controller"
address = "loopback"
options = { timeout_s = 5.0 }
"""


def _dom(url: str, budget_ms: int = 6000, screenshot: Path | None = None) -> str:
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            f"--virtual-time-budget={budget_ms}", "--window-size=1400,1200"]
    args += [f"--screenshot={screenshot}", url] if screenshot else ["--dump-dom", url]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    return out.stdout


def _shown(dom: str, element_id: str) -> str:
    m = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', dom)
    assert m, f"element #{element_id} not in the page"
    return m.group(1)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian package "
                    "'chromium'; .ci/run installs it where apt works)")
def test_browser_follows_a_running_lab_measurement(tmp_path):
    """A retention run on the emulated lab (real clock: snapshots seconds apart) is followed
    live by a real browser; the numbers it shows are the file's."""
    station = tmp_path / "lab.toml"
    station.write_text(LAB_STATION)
    out = tmp_path / "live.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hil.cli", "run", "retention", "--station", str(station), "-o", str(out),
         "--no-progress", "--set", "n_snapshots=10", "--set", "t_first_s=1", "--set", "horizon_s=25"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if out.exists():
                try:
                    if Run.open(out).read_maps()[0].size >= 2:
                        break
                except Exception:
                    pass
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.3)
        else:
            pytest.fail("the lab retention run took no snapshot within 120 s")
        with WatchServer(out) as srv:
            n_before = Run.open(out).read_maps()[0].size
            dom1 = _dom(srv.url)
            n_after = Run.open(out).read_maps()[0].size
            shown1 = int(_shown(dom1, "n-maps"))
            assert n_before <= shown1 <= n_after
            assert _shown(dom1, "status") == "running"
            assert _shown(dom1, "file") == "live.h5"
            time.sleep(4)                                  # snapshots are seconds apart
            shot = tmp_path / "watch.png"
            dom2 = _dom(srv.url)
            shown2 = int(_shown(dom2, "n-maps"))
            assert shown2 > shown1, "the page did not update while the run went on"
            _dom(srv.url, screenshot=shot)
            from matplotlib.image import imread

            img = imread(shot)
            assert img.shape[0] > 500 and img.std() > 0.05     # not a blank page
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_hil_run_watch_serves_the_run_and_stops_on_ctrl_c(tmp_path):
    import signal

    out = tmp_path / "pt.h5"
    proc = subprocess.Popen([sys.executable, "-m", "hil.cli", "run", "pulse_train", "-o", str(out),
                             "--no-progress", "--watch", "--no-browser", "--set", "n_pot=20",
                             "--set", "n_dep=20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        url = None
        for _ in range(200):
            line = proc.stderr.readline()
            m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            if m:
                url = m.group(1)
                break
        assert url, "hil run --watch printed no address"
        for _ in range(100):                       # the page follows the run to its end
            data = json.loads(_get(url + "api/snapshot")[1])
            if data.get("status") == "complete":
                break
            time.sleep(0.3)
        assert data["status"] == "complete" and data["n_events"] == Run.open(out).n_events() == 40
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert "stays up until Ctrl-C" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
