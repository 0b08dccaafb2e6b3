"""End to end over real loopback sockets: `hil serve` emulators, VISA TCPIP::…::SOCKET and
pyserial socket:// clients, plain pyvisa scripts, several clients, floods of garbage."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hil import serve
from hil.station import Station
from sim_backends import SimBackend

REPO = Path(__file__).resolve().parents[1]
LAB = """
[backend]
type = "lab"
device = "ecram_wox_lipon"
rows = 4
cols = 4
seed = 11
wiring = "{wiring}"
[[instruments]]
name = "b1500"
driver = "b1500"
address = "{b1500}"
[[instruments]]
name = "matrix"
driver = "switch_matrix"
address = "{matrix}"
[[instruments]]
name = "ctrl"
driver = "array_controller"
address = "{ctrl}"
"""


@pytest.fixture
def served():
    st = Station.from_text(LAB.format(wiring="array_controller", b1500="loopback",
                                      matrix="loopback", ctrl="loopback"))
    with serve.start(st) as s:
        yield s


def client_station(served, wiring):
    return Station.from_text(LAB.format(
        wiring=wiring, b1500=served.by_name("b1500").visa_resource,
        matrix=served.by_name("matrix").serial_url, ctrl=served.by_name("ctrl").serial_url))


def test_servers_listen_on_loopback_only(served):
    for _, srv in served.servers:
        assert srv.host == "127.0.0.1"
        assert srv.visa_resource == f"TCPIP::127.0.0.1::{srv.port}::SOCKET"


def test_controller_over_serial_socket_equals_simbackend(served):
    b = client_station(served, "array_controller").make_backend()
    s = SimBackend(shape=(4, 4), seed=11)
    rng = np.random.default_rng(2)
    for k in range(8):
        mask = rng.random((4, 4)) < 0.6
        b.pulse_cells(mask, 10.0 if k < 5 else -7.0, 2e-3)
        s.pulse_cells(mask, 10.0 if k < 5 else -7.0, 2e-3)
        assert np.allclose(b.read(), s.read(), rtol=1e-6)
    b.close()


def test_b1500_over_visa_tcpip_and_matrix_over_socket(served):
    b = client_station(served, "b1500_matrix").make_backend()
    g0 = b.read()
    phys = served.lab.physics
    assert np.allclose(g0, phys.array.conductance(), rtol=2e-3)
    mask = np.zeros((4, 4), bool)
    mask[2, 1] = True
    b.pulse_cells(mask, 10.0, 2e-3)
    g1 = b.read()
    assert g1[2, 1] > 1.2 * g0[2, 1]
    b.close()


def test_plain_pyvisa_script_and_sequential_clients(served):
    pyvisa = pytest.importorskip("pyvisa")
    res = served.by_name("b1500").visa_resource
    rm = pyvisa.ResourceManager("@py")
    for _ in range(3):  # several clients one after another, no restart
        inst = rm.open_resource(res, read_termination="\r\n", write_termination="\n", timeout=2000)
        assert inst.query("*IDN?").startswith("Agilent Technologies,B1500A")
        assert inst.query("UNT?").count(";") == 9
        inst.write("CN 4")
        inst.write("DV 4,0,0.1,1E-3")
        assert inst.query("ERRX?") == '+0,"No Error."'
        inst.write("NOT_A_COMMAND")
        assert inst.query("ERRX?") == '+100,"Undefined GPIB command."'
        assert inst.query("TI 4")[:3] == "NDI"
        inst.close()
    rm.close()


def test_flood_of_garbage_gets_error_not_memory(served):
    port = served.by_name("b1500").port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        chunk = b"\x01garbage" * 8192
        for _ in range(64):            # 4 MiB without a newline
            s.sendall(chunk)
        s.sendall(b"\n*OPC?\nERRX?\n")
        buf = b""
        while buf.count(b"\r\n") < 2:
            buf += s.recv(4096)
    assert buf.split(b"\r\n")[:2] == [b"1", b'+150,"Command input buffer is full."']
    emu = served.lab.emulators["b1500"]
    assert len(emu._buf) == 0


def test_cli_serve_prints_resources_and_answers(tmp_path):
    st = tmp_path / "st.toml"
    st.write_text(LAB.format(wiring="b1500_matrix", b1500="loopback", matrix="loopback",
                             ctrl="loopback"))
    proc = subprocess.Popen([sys.executable, "-m", "hil.cli", "serve", "--station", str(st)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert proc.stdout.readline().startswith("hil serve: ")  # header line
        lines = []
        for _ in range(6):    # maybe a header line, then one line per instrument
            ln = proc.stdout.readline()
            if ln.split() and ln.split()[0] in ("b1500", "matrix", "ctrl"):
                lines.append(ln)
            if len(lines) == 3 or not ln:
                break
        assert [ln.split()[0] for ln in lines] == ["b1500", "matrix", "ctrl"]
        assert proc.stdout.readline().startswith("ready, Ctrl-C to stop")
        resource, url = lines[0].split()[2:4]
        assert resource.startswith("TCPIP::127.0.0.1::") and url.startswith("socket://127.0.0.1:")
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"*IDN?\n")
            assert s.recv(4096).startswith(b"Agilent Technologies,B1500A")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read()


def test_cli_serve_rejects_sim_station(tmp_path, hil_cli):
    st = tmp_path / "sim.toml"
    st.write_text('[backend]\ntype = "sim"\n')
    res = hil_cli("serve", "--station", str(st))
    assert res.returncode == 2 and "needs a lab station" in res.stderr


def test_controller_frames_also_pass_through_visa(served):
    from hil.transport import open_transport
    from instruments.array_controller import ArrayController
    c = ArrayController(open_transport(served.by_name("ctrl").visa_resource, timeout_s=2))
    assert c.identify().rows == 4
    assert np.allclose(c.read_array(0.1) / np.float32(0.1),
                       served.lab.physics.array.conductance(), rtol=1e-3)
    c.close()
