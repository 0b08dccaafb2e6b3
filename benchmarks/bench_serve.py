"""Round trips per second through `hil serve` vs a pyvisa-sim YAML device, same query, same run.

Run:  ``python benchmarks/bench_serve.py``  or  ``pytest -m bench benchmarks/bench_serve.py -s``

Both sides are driven by the same plain pyvisa code (``inst.query("*IDN?")``):
- hil serve: the B1500A emulator behind a real loopback TCP socket (pyvisa-py ``@py``,
  ``TCPIP::127.0.0.1::<port>::SOCKET``), which parses FLEX and keeps instrument state;
- pyvisa-sim: a static YAML dialogue answered in-process (no socket, no state).
A second pair measures ``TI 4`` (a spot current measurement through the physics) against
pyvisa-sim answering a canned datum.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

IDN = "Agilent Technologies,B1500A,HILEMU0001,A.06.02.2023.0401"
YAML = f"""spec: "1.1"
devices:
  B1500A:
    eom:
      TCPIP SOCKET:
        q: "\\n"
        r: "\\r\\n"
    dialogues:
      - q: "*IDN?"
        r: "{IDN}"
      - q: "TI 4"
        r: "NDI+001.234E-06"
resources:
  TCPIP::127.0.0.1::5025::SOCKET:
    device: B1500A
"""
STATION = """
[backend]
type = "lab"
device = "ecram_wox_lipon"
wiring = "b1500_matrix"
rows = 8
cols = 8
[[instruments]]
name = "b1500"
driver = "b1500"
address = "loopback"
"""


_CHILD = """
import sys
from hil import serve
from hil.station import Station
st = Station.load(sys.argv[1])
def hook(served):
    served.lab.bench.routes = {(2, 17), (4, 9), (1, 25)}
serve.serve_forever(st, on_start=hook)
"""


def _rate(inst, query: str, seconds: float) -> float:
    inst.query(query)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        inst.query(query)
        n += 1
    return n / (time.perf_counter() - t0)


def _serve_rates(resource: str, seconds: float, out: dict[str, float], tag: str) -> None:
    import pyvisa
    rm = pyvisa.ResourceManager("@py")
    inst = rm.open_resource(resource, read_termination="\r\n", write_termination="\n",
                            timeout=60000)  # first TI may JIT-compile kernels
    assert inst.query("*IDN?") == IDN
    # route cell (0, 0): D0 <- SMU4 (input 2), T0 <- SMU6 (input 4), S0 <- GNDU (input 1);
    # matrix outputs: G0..7 = 1..8, T0..7 = 9..16, D0..7 = 17..24, S0..7 = 25..32
    inst.write("ROUTE_VIA_MATRIX_IS_NOT_ON_THIS_PORT")  # provokes error 100, then cleared
    assert inst.query("ERRX?").startswith("+100,")
    inst.write("CN 4,6")
    inst.write("DV 6,0,10,0.001")
    inst.write("DV 4,0,0.1,0.001")
    assert inst.query("ERRX?") == '+0,"No Error."'
    out[f"{tag}_idn_per_s"] = _rate(inst, "*IDN?", seconds)
    out[f"{tag}_ti_per_s"] = _rate(inst, "TI 4", seconds)
    assert float(inst.query("TI 4")[3:]) > 0  # a real current through the physics
    inst.close()
    rm.close()


def measure(seconds: float = 2.0) -> dict[str, float]:
    import pyvisa

    from hil import serve
    from hil.station import Station

    out: dict[str, float] = {}
    station = Station.from_text(STATION)
    with serve.start(station) as served, tempfile.TemporaryDirectory() as d:
        served.lab.bench.routes = {(2, 17), (4, 9), (1, 25)}
        _serve_rates(served.by_name("b1500").visa_resource, seconds, out, "serve_thread")
        # `hil serve` in its own process, as a user runs it next to a script
        st = Path(d) / "st.toml"
        st.write_text(STATION)
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(st)], stdout=subprocess.PIPE,
                                text=True)
        try:
            # `hil serve` prints a header line, one line per instrument, then "ready, ..."
            lines = iter(proc.stdout.readline, "")
            resource = next(ln for ln in lines if ln.startswith("b1500")).split()[2]
            _serve_rates(resource, seconds, out, "serve")
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)

        yaml = Path(d) / "b1500.yaml"
        yaml.write_text(YAML)
        rm = pyvisa.ResourceManager(f"{yaml}@sim")
        sim = rm.open_resource("TCPIP::127.0.0.1::5025::SOCKET", read_termination="\r\n",
                               write_termination="\n")
        assert sim.query("*IDN?") == IDN
        out["pyvisa_sim_idn_per_s"] = _rate(sim, "*IDN?", seconds)
        out["pyvisa_sim_ti_per_s"] = _rate(sim, "TI 4", seconds)
        sim.close()
        rm.close()
    for tag in ("serve", "serve_thread"):
        for q in ("idn", "ti"):
            out[f"ratio_{tag}_{q}"] = out[f"{tag}_{q}_per_s"] / out[f"pyvisa_sim_{q}_per_s"]
    return out


def report(r: dict[str, float]) -> str:
    lines = [f"{'query':<7}{'hil serve (own process)':>24}{'hil serve (thread)':>20}"
             f"{'pyvisa-sim':>12}{'ratio':>8}{'ratio thread':>14}"]
    for q, name in (("idn", "*IDN?"), ("ti", "TI 4")):
        lines.append(f"{name:<7}{r[f'serve_{q}_per_s']:>22.0f}/s{r[f'serve_thread_{q}_per_s']:>18.0f}/s"
                     f"{r[f'pyvisa_sim_{q}_per_s']:>10.0f}/s{r[f'ratio_serve_{q}']:>8.2f}"
                     f"{r[f'ratio_serve_thread_{q}']:>14.2f}")
    return "\n".join(lines)


@pytest.mark.bench
def test_bench_serve_vs_pyvisa_sim():
    pytest.importorskip("pyvisa_sim")
    r = measure()
    print("\n" + report(r))
    assert r["serve_idn_per_s"] > 100  # sanity: a round trip well under 10 ms


if __name__ == "__main__":
    print(report(measure(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)))
