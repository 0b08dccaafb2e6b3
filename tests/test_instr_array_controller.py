"""Array-controller protocol: framing vectors, payload codecs, driver bytes on the wire."""
from __future__ import annotations

import numpy as np
import pytest

from hil.errors import InstrumentError, TransportError
from hil.transport import ScriptedTransport
from instruments.array_controller import ArrayController
from instruments.array_controller import frame as f
from instruments.array_controller import messages as m
from instruments.array_controller.driver import ControllerError


def test_crc16_ccitt_false_check_value():
    assert f.crc16(b"123456789") == 0x29B1
    assert f.crc16(b"") == 0xFFFF


@pytest.mark.parametrize("raw, enc", [
    (b"", b"\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255))),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
])
def test_cobs_reference_vectors(raw, enc):
    assert f.cobs_encode(raw) == enc
    assert f.cobs_decode(enc) == raw


def test_cobs_random_round_trip():
    rng = np.random.default_rng(0)
    for n in (1, 253, 254, 255, 508, 1000):
        raw = rng.integers(0, 3, n, dtype=np.uint8).tobytes()
        enc = f.cobs_encode(raw)
        assert b"\x00" not in enc and f.cobs_decode(enc) == raw


def test_pack_exact_bytes():
    # version 1, IDENTIFY, id 1, length 0, crc 0x8B2C -> COBS -> 0x00
    assert f.pack(f.Frame(m.IDENTIFY, 1)) == bytes.fromhex("0401010101010101032c8b00")
    fr = f.unpack(f.pack(f.Frame(m.PULSE, 0x1234, b"\x00\x01")))
    assert (fr.type, fr.request_id, fr.payload, fr.version) == (m.PULSE, 0x1234, b"\x00\x01", 1)


def test_unpack_detects_corruption():
    wire = f.pack(f.Frame(m.STATUS, 7, b"abc"))[:-1]
    bad = bytearray(wire)
    bad[5] ^= 0x01
    with pytest.raises(TransportError, match="CRC|length|COBS"):
        f.unpack(bytes(bad))
    with pytest.raises(TransportError, match="too short"):
        f.unpack(f.cobs_encode(b"\x01\x02"))
    with pytest.raises(TransportError, match="COBS"):
        f.unpack(b"\x05\x01")


def test_payload_codecs():
    p = m.set_lines(np.array([10.0, 0]), np.array([0.0, 10, 10]), 6.0, 0.0)
    assert p[:4] == bytes.fromhex("02000300")
    g, t, d, s = m.parse_set_lines(p)
    assert g.tolist() == [10, 0] and t.tolist() == [0, 10, 10] and d.tolist() == [6, 6]
    assert s.tolist() == [0, 0, 0]
    assert m.pulse(2e-3, 3, 5e-3) == bytes.fromhex("80841e00" "0300" "404b4c00")
    assert m.parse_pulse(m.pulse(2e-3, 3, 5e-3)) == pytest.approx((2e-3, 3, 5e-3))
    with pytest.raises(ValueError):
        m.pulse(0, 1)
    mask = np.array([[True, False, True], [False, False, True]])
    row0, mk, amp, width = m.parse_program(m.program(2, mask, -7.0, 5e-3), 3)
    assert row0 == 2 and (mk == mask).all() and amp == -7.0 and width == pytest.approx(5e-3)
    a = np.arange(6.0).reshape(2, 3)
    assert (m.parse_program(m.program(0, mask, a, 1e-3), 3)[2] == a).all()
    cur = np.array([[1e-6, 2e-6], [3e-6, 4e-6]])
    assert np.allclose(m.parse_currents(m.currents(cur), (2, 2)), cur)
    with pytest.raises(InstrumentError, match="shape"):
        m.parse_currents(m.currents(cur), (1, 4))
    with pytest.raises(InstrumentError, match="payload is"):
        m.parse_status(b"\x00")


class Script(ScriptedTransport):
    """Scripted transport whose script is given as (request frame, reply frame) objects."""

    def __init__(self, pairs):
        super().__init__([(b"\x00" + f.pack(q), f.pack(a) if a is not None else None)
                          for q, a in pairs])


IDENT = m.identity(m.Identity(1, 2, 3, 12.0, "fw"))
STAT0 = m.status(m.Status(0, 10, 0))


def _ctrl(extra):
    pairs = [(f.Frame(m.IDENTIFY, 1), f.Frame(m.IDENTIFY | m.REPLY, 1, IDENT)),
             (f.Frame(m.STATUS, 2), f.Frame(m.STATUS | m.REPLY, 2, STAT0))] + extra
    t = Script(pairs)
    c = ArrayController(t)
    ident = c.identify()
    assert (ident.rows, ident.cols, ident.firmware, c.pulse_count) == (2, 3, "fw", 10)
    return c, t


def test_driver_exact_frames():
    lines = m.set_lines([10.0, 0.0], [0.0, 10.0, 10.0], [6.0, 0.0], 0.0)
    rows = np.array([[1e-6, 2e-6, 3e-6], [4e-6, 5e-6, 6e-6]], np.float32)
    mask = np.array([[True, False, False], [False, True, False]])
    c, t = _ctrl([
        (f.Frame(m.SET_LINES, 3, lines), f.Frame(m.SET_LINES | m.REPLY, 3)),
        (f.Frame(m.PULSE, 4, m.pulse(2e-3)), f.Frame(m.PULSE | m.REPLY, 4, m.counter(11))),
        (f.Frame(m.READ_ROW, 5, m.read_row(1, 0.1)), f.Frame(m.READ_ROW | m.REPLY, 5,
                                                              m.currents(rows[1]))),
        (f.Frame(m.READ_ARRAY, 6, m.read_array(0.1)), f.Frame(m.READ_ARRAY | m.REPLY, 6,
                                                               m.currents(rows))),
        (f.Frame(m.PROGRAM, 7, m.program(0, mask, 10.0, 5e-3)),
         f.Frame(m.PROGRAM | m.REPLY, 7, m.counter(13))),
    ])
    c.set_lines(np.array([10.0, 0.0]), np.array([0.0, 10.0, 10.0]), np.array([6.0, 0.0]), 0.0)
    assert c.pulse(2e-3) == 11
    assert np.allclose(c.read_row(1, 0.1), rows[1])
    assert np.allclose(c.read_array(0.1), rows)
    assert c.program(mask, 10.0, 5e-3) == 13
    assert t.done


def test_driver_error_frame_raises_with_code():
    c, _ = _ctrl([(f.Frame(m.READ_ROW, 3, m.read_row(1, 5.0)),
                   f.Frame(m.ERROR, 3, m.error(m.E_RANGE, "read voltage")))])
    with pytest.raises(ControllerError, match="error 5 \\(value out of range\\) on READ_ROW"):
        c.read_row(1, 5.0)


def test_driver_skips_stale_reply_ids():
    class Stale(Script):
        def write(self, data):
            super().write(data)
            if f.unpack(data[1:]).type == m.STATUS:
                self._buf[:0] = f.pack(f.Frame(m.READ_ROW | m.REPLY, 999, b"old"))
    pairs = [(f.Frame(m.STATUS, 1), f.Frame(m.STATUS | m.REPLY, 1, STAT0))]
    c = ArrayController(Stale(pairs))
    assert c.status().pulse_count == 10


def test_version_mismatch_is_refused():
    t = Script([(f.Frame(m.IDENTIFY, 1), f.Frame(m.IDENTIFY | m.REPLY, 1,
                                                   m.identity(m.Identity(2, 2, 3, 12.0, ""))))])
    with pytest.raises(InstrumentError, match="protocol v2"):
        ArrayController(t).identify()
