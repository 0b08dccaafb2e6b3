"""`hil serve` as a user runs it: printed header / resources / ready line, free ports and
port bases for the bundled station, several simultaneous clients (each its own input
buffer and reply stream), idle and half-open clients that never block another one, and
bad input that queues the instrument's error without hanging anyone."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from hil import serve
from hil.errors import StationError

from test_thirdparty_clients import bundled, served


def _start_cli(*args: str) -> tuple[subprocess.Popen, list[str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "hil.cli", "serve", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    while True:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"hil serve ended: {proc.stderr.read()}")
        lines.append(line.rstrip("\n"))
        if line.startswith("ready"):
            return proc, lines


def _stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=20)


def _ask(sock_or_addr, line: bytes, term: bytes = b"\r\n", timeout: float = 5.0) -> bytes:
    s = sock_or_addr
    s.settimeout(timeout)
    s.sendall(line)
    buf = b""
    while not buf.endswith(term):
        chunk = s.recv(4096)
        assert chunk, "connection closed"
        buf += chunk
    return buf


def _port(resource: str) -> int:
    return int(resource.split("::")[2])


def test_cli_free_ports_header_and_ready_line():
    proc, lines = _start_cli("--port", "0")
    try:
        assert lines[0].startswith("hil serve: bundled emulated lab: 8x8 h1e1t")
        assert lines[-1] == "ready, Ctrl-C to stop"
        rows = {ln.split()[0]: ln.split() for ln in lines[1:-1]}
        assert set(rows) == {"b1500", "matrix", "pg", "prober", "ctrl"}
        ports = {_port(r[2]) for r in rows.values()}
        assert len(ports) == 5 and not ports & {5025, 5026, 5027, 5028, 5601}
        with socket.create_connection(("127.0.0.1", _port(rows["b1500"][2]))) as s:
            assert _ask(s, b"*IDN?\n").startswith(b"Agilent Technologies,B1500A,")
    finally:
        assert _stop(proc) == 0


def test_port_base_applies_to_the_bundled_station_and_taken_ports_are_an_error():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    base = probe.getsockname()[1] + 1  # a neighbourhood the OS just had free
    probe.close()
    st = bundled("emulated_lab")
    try:
        s = serve.start(st, port_base=base)
    except StationError:
        pytest.skip("ports near an OS-chosen one were taken meanwhile")
    try:
        assert [srv.port for _, srv in s.servers] == [base + k for k in range(5)]
        with pytest.raises(StationError, match=f"{base}.*--port 0.*--port-base"):
            serve.start(st, port_base=base)  # a second `hil serve` on the same ports
    finally:
        s.stop()


@pytest.fixture(scope="module")
def lab():
    yield from served("emulated_lab")


def test_simultaneous_clients_each_get_their_own_replies(lab):
    s, res = lab
    port = _port(res["b1500"])
    a = socket.create_connection(("127.0.0.1", port))
    b = socket.create_connection(("127.0.0.1", port))
    try:
        a.sendall(b"*ID")            # half a command from A ...
        assert _ask(b, b"UNT?\n").startswith(b"B1525A,0;")  # ... never mixes into B's
        assert _ask(a, b"N?\n").startswith(b"Agilent Technologies,B1500A")
        # interleaved queries: each reply goes to the client that asked
        a.sendall(b"*OPC?\n")
        b.sendall(b"LOP?\n")
        assert _ask(b, b"") == b"LOP" + b",".join([b"00"] * 10) + b"\r\n"
        assert _ask(a, b"") == b"1\r\n"
    finally:
        a.close()
        b.close()


def test_idle_and_half_open_clients_do_not_block_others(lab):
    s, res = lab
    idle = [socket.create_connection(("127.0.0.1", _port(res[n]))) for n in ("b1500", "pg", "ctrl")]
    try:
        idle[0].sendall(b"*IDN")     # half-open: a line that never ends
        idle[1].sendall(b"FREQ 1")   # same on the SCPI generator
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", _port(res["b1500"]))) as c:
            assert _ask(c, b"*OPC?\n", timeout=3) == b"1\r\n"
        with socket.create_connection(("127.0.0.1", _port(res["pg"]))) as c:
            assert _ask(c, b"*IDN?\n", b"\n", timeout=3).startswith(b"Agilent Technologies,33522B")
        # the framed array controller hands its single socket over at once
        from instruments.array_controller import frame as f
        from instruments.array_controller import messages as m
        with socket.create_connection(("127.0.0.1", _port(res["ctrl"]))) as c:
            reply = _ask(c, f.pack(f.Frame(m.STATUS, 1)), b"\x00", timeout=3)
            assert f.unpack(reply).type == m.STATUS | m.REPLY
        assert time.monotonic() - t0 < 3
    finally:
        for c in idle:
            c.close()


@pytest.mark.parametrize("name, bad, errq, term, code", [
    ("b1500", b"FOO 1\n", b"ERRX?\n", b"\r\n", b"+100,"),
    ("b1500", b"*LRN? 99\n", b"ERRX?\n", b"\r\n", b"+120,"),
    ("b1500", b"DV 4,0,abc\n", b"ERRX?\n", b"\r\n", b"+102,"),
    ("pg", b"SOUR1:FOO 1\n", b"SYST:ERR?\n", b"\n", b"-113,"),
    ("pg", b"FREQ 1e12\n", b"SYST:ERR?\n", b"\n", b"-222,"),
    ("matrix", b":CLOS (@0990)\n", b":SYST:ERR?\n", b"\n", b"-102,"),
])
def test_bad_input_queues_the_error_and_never_hangs(lab, name, bad, errq, term, code):
    s, res = lab
    with socket.create_connection(("127.0.0.1", _port(res[name]))) as c:
        c.sendall(bad)
        assert _ask(c, errq, term, timeout=3).startswith(code)
        assert b"0," in _ask(c, errq, term, timeout=3)  # queue drained, still answering
