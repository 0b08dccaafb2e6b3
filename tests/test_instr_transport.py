"""Transports: scripted, loopback, serial (loop:// and socket://) and VISA over TCP sockets."""
from __future__ import annotations

import time

import pytest

from hil.errors import ParameterError, TransportError
from hil.transport import (LoopbackTransport, ScriptedTransport, SerialTransport, VisaTransport,
                           open_transport)
from sim_backends.emulators.server import EmulatorServer


class Echo:
    """Echoes each line upper-cased; 'SILENT' gets no reply; 'BYE' disconnects."""

    name = "echo"

    def __init__(self):
        self.buf = b""

    def feed(self, data: bytes) -> bytes:
        self.buf += data
        out = b""
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            if line == b"BYE":
                raise ConnectionError("bye")
            if line != b"SILENT":
                out += line.upper() + b"\r\n"
        return out

    def reset_connection(self):
        self.buf = b""


def test_scripted_transport_reports_mismatch():
    t = ScriptedTransport([(b"A\n", b"1\n")])
    with pytest.raises(AssertionError, match="expected b'A\\\\n'"):
        t.write(b"B\n")
    t2 = ScriptedTransport([])
    with pytest.raises(AssertionError, match="script exhausted"):
        t2.write(b"x")


def test_loopback_reads_lines_and_times_out_at_once():
    t = LoopbackTransport(Echo())
    t.write(b"abc\ndef\n")
    assert t.read_until(b"\r\n") == b"ABC"
    assert t.read_exact(5) == b"DEF\r\n"
    t.write(b"SILENT\n")
    t0 = time.monotonic()
    with pytest.raises(TransportError, match="no \\(complete\\) reply") as e:
        t.read_until(b"\n", timeout_s=10)
    assert e.value.transient and time.monotonic() - t0 < 1
    with pytest.raises(TransportError, match="disconnected") as e:
        t.write(b"BYE\n")
    assert not e.value.transient


def test_timeout_must_be_positive():
    with pytest.raises(ParameterError, match="timeout_s must be > 0"):
        LoopbackTransport(Echo(), timeout_s=0)


def test_serial_loop_url_per_call_timeout():
    t = SerialTransport("loop://", timeout_s=5)
    t.write(b"hello\n")
    assert t.read_until(b"\n") == b"hello"
    t0 = time.monotonic()
    with pytest.raises(TransportError, match="timeout after 0.2 s"):
        t.read_until(b"\n", timeout_s=0.2)
    assert time.monotonic() - t0 < 2
    t.close()
    t.close()  # idempotent


def test_serial_socket_url_and_visa_socket_against_server():
    with EmulatorServer(Echo()) as srv:
        s = open_transport(srv.serial_url, timeout_s=2)
        assert isinstance(s, SerialTransport)
        s.write(b"ping\n")
        assert s.read_until(b"\r\n") == b"PING"
        s.close()
        v = open_transport(srv.visa_resource, timeout_s=2)
        assert isinstance(v, VisaTransport)
        v.write(b"visa\n")
        assert v.read_until(b"\n") == b"VISA\r"
        v.write(b"SILENT\n")
        with pytest.raises(TransportError, match="read failed") as e:
            v.read_until(b"\n", timeout_s=0.2)
        assert e.value.transient
        v.close()


def test_open_transport_rejects_unknown_address():
    with pytest.raises(ParameterError, match="cannot tell the transport"):
        open_transport("nonsense-address")
    with pytest.raises(TransportError, match="cannot open serial port") as e:
        open_transport("socket://127.0.0.1:1", timeout_s=0.5)
    assert not e.value.transient
