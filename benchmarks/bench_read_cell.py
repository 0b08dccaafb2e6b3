"""`TI` spot measurements through `hil serve` against a trivial TCP server, same pyvisa client.

Run:  ``python benchmarks/bench_read_cell.py [--seconds 2] [--repeats 3]``
      ``pytest -m bench benchmarks/bench_read_cell.py -s``

Three servers, each in its own process, queried by the same plain pyvisa-py code
(``inst.query("TI 4")`` over ``TCPIP::127.0.0.1::<port>::SOCKET``), interleaved round by
round so that machine load hits all alike:
- ``serve``: `hil serve` with the B1500A emulator on an 8x8 ECRAM array, cell (0, 0) routed;
  one TI goes SCPI parser -> B1500 measure -> `Bench.current` -> `read_cell` (the scalar
  single-cell path, issue 14 item 5);
- ``serve_old``: the same server from commit `BASELINE` (before the per-query path was made
  cheap: cached FLEX parse, plan-cached `Bench.current`, blocking socket loop), extracted
  with ``git archive`` into a temporary directory and imported from there;
- ``trivial``: a socket server that answers every line with a canned datum (the ceiling a
  TCP round trip with this client allows).
It also checks that the replies are unchanged: the first 200 TI replies of a fresh `serve`
and `serve_old` (same seed) are identical strings.  Target: serve >= 0.75x trivial.
On this VM a query's Python path runs several times slower than in a hot loop (the server
sleeps between queries and its caches go cold), so the rates follow the code's footprint.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: the code this benchmark compares against (issue 14 item 5's "now")
BASELINE = "8e21e8c"
ROOT = Path(__file__).resolve().parents[1]

import pytest

STATION = """
[backend]
type = "lab"
device = "ecram_wox_lipon"
wiring = "b1500_matrix"
rows = 8
cols = 8
seed = 0
[[instruments]]
name = "b1500"
driver = "b1500"
address = "loopback"
"""

_SERVE = """
import sys
from hil import serve
from hil.station import Station
st = Station.load(sys.argv[1])
def hook(served):
    served.lab.bench.routes = {(2, 17), (4, 9), (1, 25)}   # D0 <- SMU4, T0 <- SMU6, S0 <- GNDU
serve.serve_forever(st, on_start=hook)
"""

_TRIVIAL = """
import socket, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
print("trivial TCPIP::127.0.0.1::%d::SOCKET" % srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
buf = b""
while True:
    data = conn.recv(65536)
    if not data:
        break
    buf += data
    while b"\\n" in buf:
        line, buf = buf.split(b"\\n", 1)
        conn.sendall(b"NDI+001.234E-06\\r\\n")
"""


def _start(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    # cwd outside the checkout: ``-c`` puts the cwd first on sys.path, ahead of PYTHONPATH
    proc = subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=tempfile.gettempdir())
    for line in iter(proc.stdout.readline, ""):
        if line.startswith(("b1500", "trivial")):
            return proc, line.split()[-1] if line.startswith("trivial") else line.split()[2]
    raise RuntimeError(f"server {args[1:]} did not start")


def _open(resource: str):
    import pyvisa
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(resource, read_termination="\r\n", write_termination="\n", timeout=5000)
    return rm, inst


def _setup(inst) -> None:
    inst.write("CN 4,6")
    inst.write("DV 6,0,10,0.001")
    inst.write("DV 4,0,0.1,0.001")
    assert inst.query("ERRX?") == '+0,"No Error."'


def _rate(inst, seconds: float) -> float:
    inst.query("TI 4")
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        inst.query("TI 4")
        n += 1
    return n / (time.perf_counter() - t0)


def _baseline(into: Path) -> dict[str, str]:
    """The packages of `BASELINE` unpacked under ``into``; the environment that imports them."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE, "hil", "sim_backends",
                          "instruments", "protocols"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=tar, check=True)
    return {**os.environ, "PYTHONPATH": str(into)}


def measure(seconds: float = 2.0, repeats: int = 3) -> dict[str, float]:
    procs = []
    with tempfile.TemporaryDirectory() as d:
        st = Path(d) / "st.toml"
        st.write_text(STATION)
        (Path(d) / "old").mkdir()
        old_env = _baseline(Path(d) / "old")
        try:
            servers = {}
            for tag, args, env in (("serve", [_SERVE, str(st)], None),
                                   ("serve_old", [_SERVE, str(st)], old_env),
                                   ("trivial", [_TRIVIAL], None)):
                proc, resource = _start(args, env)
                procs.append(proc)
                servers[tag] = _open(resource)
            for tag in ("serve", "serve_old"):
                _setup(servers[tag][1])
            replies = {tag: [servers[tag][1].query("TI 4") for _ in range(200)]
                       for tag in ("serve", "serve_old")}
            assert float(replies["serve"][0][3:]) > 0      # a real current through the physics
            rates: dict[str, list[float]] = {tag: [] for tag in servers}
            for _ in range(repeats):                       # interleaved rounds
                for tag, (_, inst) in servers.items():
                    rates[tag].append(_rate(inst, seconds))
            for rm, inst in servers.values():
                inst.close()
                rm.close()
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGINT)
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    out = {f"{tag}_ti_per_s": max(r) for tag, r in rates.items()}
    out["replies_identical"] = float(replies["serve"] == replies["serve_old"])
    out["ratio_serve_trivial"] = out["serve_ti_per_s"] / out["trivial_ti_per_s"]
    out["ratio_old_trivial"] = out["serve_old_ti_per_s"] / out["trivial_ti_per_s"]
    out["speedup_vs_old"] = out["serve_ti_per_s"] / out["serve_old_ti_per_s"]
    return out


def report(r: dict[str, float]) -> str:
    load = os.getloadavg()[0]
    return (f"TI 4 round trips (best of interleaved rounds, load avg {load:.1f}):\n"
            f"  hil serve                   : {r['serve_ti_per_s']:8.0f}/s  ({r['ratio_serve_trivial']:.2f}x trivial)\n"
            f"  hil serve @ {BASELINE:<15} : {r['serve_old_ti_per_s']:8.0f}/s  ({r['ratio_old_trivial']:.2f}x trivial)\n"
            f"  trivial TCP server          : {r['trivial_ti_per_s']:8.0f}/s\n"
            f"  speed-up {r['speedup_vs_old']:.2f}x; first 200 replies identical: {bool(r['replies_identical'])}")


@pytest.mark.bench
def test_bench_read_cell():
    r = measure()
    print("\n" + report(r))
    assert r["replies_identical"] == 1.0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    print(report(measure(a.seconds, a.repeats)))
