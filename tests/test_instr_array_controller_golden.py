"""Golden wire bytes of every array-controller message kind, written from
``docs/array-controller-protocol.md`` (framing, CRC-16/CCITT-FALSE, COBS, field layout) by
hand-independent means, never produced by ``instruments/array_controller``'s encoder.

The host codec must produce and parse exactly these bytes, and the emulated board must
answer golden requests with golden replies, so a mistake shared by codec and emulator
(they share one implementation) cannot pass.
"""
from __future__ import annotations

import numpy as np
import pytest

from instruments.array_controller import frame as f
from instruments.array_controller import messages as m
from sim_backends import SimBackend
from sim_backends.emulators.array_controller import ArrayControllerEmulator

GOLDEN = {
    "IDENTIFY req id1": "04 01 01 01 01 01 01 01 03 2c 8b 00",
    "IDENTIFY reply": "04 01 81 01 02 0c 01 01 03 01 02 02 03 01 01 08 20 41 68 69 6c f7 5e 00",
    "SET_LINES req": "04 01 02 02 02 2c 01 01 02 02 02 03 01 01 03 80 3f 01 01 01 01 01 01 02 3f 01 01 02 3f 01 01 01 01 01 01 01 01 01 01 02 40 01 01 01 01 01 01 01 01 01 01 01 03 aa 23 00",
    "SET_LINES reply": "04 01 82 02 01 01 01 01 03 b7 36 00",
    "PULSE req": "04 01 03 03 02 0a 01 01 04 40 42 0f 02 04 04 80 84 1e 03 41 5f 00",
    "PULSE reply": "04 01 83 03 02 04 01 01 02 04 01 01 03 8f 02 00",
    "READ_ROW req": "04 01 04 04 02 06 01 01 02 01 07 cd cc cc 3d 1e 81 00",
    "READ_ROW reply": "04 01 84 04 02 0c 01 01 01 01 03 80 3e 01 01 02 3f 01 05 80 3f 5f ae 00",
    "READ_ARRAY req": "04 01 05 05 02 04 01 01 07 cd cc cc 3d ec ae 00",
    "READ_ARRAY reply": "04 01 85 05 02 0c 01 01 02 01 02 02 01 01 01 02 3f 01 05 80 3f cf 3e 00",
    "STATUS req": "04 01 06 06 01 01 01 01 03 29 5a 00",
    "STATUS reply": "04 01 86 06 02 08 01 01 02 02 02 07 01 01 02 05 03 8a e8 00",
    "PROGRAM req mode0": "04 01 07 07 02 0e 01 01 01 01 02 01 04 40 42 0f 01 01 01 06 20 40 05 c2 68 00",
    "PROGRAM req mode1": "04 01 07 08 02 16 01 01 02 01 02 01 04 40 42 0f 02 01 01 03 80 3f 01 03 80 bf 01 01 01 04 03 ae 74 00",
    "PROGRAM reply": "04 01 87 08 02 04 01 01 02 09 01 01 03 ca 91 00",
    "READ_BLOCK req": "04 01 08 0a 02 0e 01 01 02 01 02 02 06 cd cc cc 3d 01 01 01 02 02 03 08 a6 00",
    "READ_BLOCK reply": "04 01 88 0a 02 0c 01 01 02 01 02 02 01 01 03 80 3e 01 01 04 3f a2 5c 00",
    "ERROR reply": "04 01 ff 09 02 07 01 01 02 05 08 72 61 6e 67 65 3f 1a 00",
    "ERROR reply id0 crc": "03 01 ff 01 02 09 01 01 02 01 0a 62 61 64 20 43 52 43 1b d0 00",
}


def g(name: str) -> bytes:
    return bytes.fromhex(GOLDEN[name].replace(" ", ""))


def test_doc_reference_vectors():
    assert f.crc16(b"123456789") == 0x29B1
    assert f.cobs_encode(bytes.fromhex("11220033")) == bytes.fromhex("0311220233")
    assert f.cobs_encode(b"\x00") == b"\x01\x01" and f.cobs_encode(b"") == b"\x01"
    # a block of 254 non-zero bytes at the very end gets no trailing code byte
    assert f.cobs_encode(b"\x01" * 254) == b"\xff" + b"\x01" * 254
    assert f.cobs_encode(b"\x01" * 254 + b"\x00") == b"\xff" + b"\x01" * 254 + b"\x01\x01"
    for wire in (b"\x01", b"\x01\x01", bytes.fromhex("0311220233"), b"\xff" + b"\x01" * 254):
        assert f.cobs_encode(f.cobs_decode(wire)) == wire


ENCODED = [
    ("IDENTIFY req id1", m.IDENTIFY, 1, lambda: b""),
    ("IDENTIFY reply", m.IDENTIFY | m.REPLY, 1, lambda: m.identity(m.Identity(1, 2, 3, 10.0, "hil"))),
    ("SET_LINES req", m.SET_LINES, 2, lambda: m.set_lines(np.array([1.0, 0.0]), np.array([0.0, 0.0, 2.0]),
                                                          np.array([0.5, 0.5]), np.zeros(3))),
    ("SET_LINES reply", m.SET_LINES | m.REPLY, 2, lambda: b""),
    ("PULSE req", m.PULSE, 3, lambda: m.pulse(1e-3, 4, 2e-3)),
    ("PULSE reply", m.PULSE | m.REPLY, 3, lambda: m.counter(4)),
    ("READ_ROW req", m.READ_ROW, 4, lambda: m.read_row(1, 0.1)),
    ("READ_ROW reply", m.READ_ROW | m.REPLY, 4, lambda: m.currents(np.array([0.25, 0.5, 1.0]))),
    ("READ_ARRAY req", m.READ_ARRAY, 5, lambda: m.read_array(0.1)),
    ("READ_ARRAY reply", m.READ_ARRAY | m.REPLY, 5, lambda: m.currents(np.array([[0.5, 1.0]]))),
    ("STATUS req", m.STATUS, 6, lambda: b""),
    ("STATUS reply", m.STATUS | m.REPLY, 6, lambda: m.status(m.Status(2, 7, 5))),
    ("PROGRAM req mode0", m.PROGRAM, 7, lambda: m.program(0, np.array([[1, 0, 1]], bool), 2.5, 1e-3)),
    ("PROGRAM req mode1", m.PROGRAM, 8, lambda: m.program(1, np.array([[1, 1, 0]], bool),
                                                          np.array([[1.0, -1.0, 0.0]]), 1e-3)),
    ("PROGRAM reply", m.PROGRAM | m.REPLY, 8, lambda: m.counter(9)),
    ("READ_BLOCK req", m.READ_BLOCK, 10, lambda: m.read_block(np.array([1]), np.array([0, 2]), 0.1)),
    ("READ_BLOCK reply", m.READ_BLOCK | m.REPLY, 10, lambda: m.currents(np.array([[0.25, 0.5]]))),
    ("ERROR reply", m.ERROR, 9, lambda: m.error(5, "range")),
    ("ERROR reply id0 crc", m.ERROR, 0, lambda: m.error(1, "bad CRC")),
]


@pytest.mark.parametrize("name, typ, rid, payload", ENCODED, ids=[e[0] for e in ENCODED])
def test_codec_writes_and_reads_the_golden_bytes(name, typ, rid, payload):
    assert f.pack(f.Frame(typ, rid, payload())) == g(name)
    fr = f.unpack(g(name))
    assert (fr.type, fr.request_id, fr.version, fr.payload) == (typ, rid, 1, payload())


def test_golden_payloads_parse_to_their_values():
    assert m.parse_identity(f.unpack(g("IDENTIFY reply")).payload) == m.Identity(1, 2, 3, 10.0, "hil")
    eg, tg, ed, es = m.parse_set_lines(f.unpack(g("SET_LINES req")).payload)
    assert eg.tolist() == [1.0, 0.0] and ed.tolist() == [0.5, 0.5]
    assert tg.tolist() == [0.0, 0.0, 2.0] and es.tolist() == [0.0, 0.0, 0.0]
    assert m.parse_pulse(f.unpack(g("PULSE req")).payload) == pytest.approx((1e-3, 4, 2e-3))
    assert m.parse_counter(f.unpack(g("PULSE reply")).payload) == 4
    assert m.parse_read_row(f.unpack(g("READ_ROW req")).payload) == (1, pytest.approx(0.1))
    assert m.parse_currents(f.unpack(g("READ_ROW reply")).payload, (3,)).tolist() == [0.25, 0.5, 1.0]
    assert m.parse_currents(f.unpack(g("READ_ARRAY reply")).payload, (1, 2)).tolist() == [[0.5, 1.0]]
    assert m.parse_status(f.unpack(g("STATUS reply")).payload) == m.Status(2, 7, 5)
    row0, mask, amp, w = m.parse_program(f.unpack(g("PROGRAM req mode0")).payload, 3)
    assert (row0, mask.tolist(), amp, w) == (0, [[True, False, True]], 2.5, pytest.approx(1e-3))
    row0, mask, amp, w = m.parse_program(f.unpack(g("PROGRAM req mode1")).payload, 3)
    assert (row0, mask.tolist(), amp.tolist()) == (1, [[True, True, False]], [[1.0, -1.0, 0.0]])
    rows, cols, v = m.parse_read_block(f.unpack(g("READ_BLOCK req")).payload)
    assert (rows.tolist(), cols.tolist(), v) == ([1], [0, 2], pytest.approx(0.1))
    assert m.parse_error(f.unpack(g("ERROR reply")).payload) == (5, "range")


@pytest.fixture
def board():
    return ArrayControllerEmulator(SimBackend(shape=(2, 3), seed=0))


def test_board_answers_golden_requests_with_golden_replies(board):
    ident = f.unpack(board.feed(b"\x00" + g("IDENTIFY req id1")))
    assert (ident.type, ident.request_id) == (m.IDENTIFY | m.REPLY, 1)
    got = m.parse_identity(ident.payload)
    assert (got.version, got.rows, got.cols) == (1, 2, 3)
    assert board.feed(b"\x00" + g("SET_LINES req")) == g("SET_LINES reply")
    assert board.feed(b"\x00" + g("PULSE req")) == g("PULSE reply")  # 4 pulses from power-up
    st = m.parse_status(f.unpack(board.feed(g("STATUS req"))).payload)
    assert st.pulse_count == 4 and st.flags & m.FLAG_BUSY == 0
    for req, typ, shape in (("READ_ROW req", m.READ_ROW, (3,)), ("READ_ARRAY req", m.READ_ARRAY, (2, 3)),
                            ("READ_BLOCK req", m.READ_BLOCK, (1, 2))):
        fr = f.unpack(board.feed(g(req)))
        assert (fr.type, fr.request_id) == (typ | m.REPLY, f.unpack(g(req)).request_id)
        assert m.parse_currents(fr.payload, shape).shape == shape
    fr = f.unpack(board.feed(g("PROGRAM req mode0")))
    assert (fr.type, m.parse_counter(fr.payload)) == (m.PROGRAM | m.REPLY, 4 + 1)


def test_board_answers_a_bad_crc_with_error_1_and_id_0(board):
    wire = bytearray(g("STATUS req"))
    wire[-2] ^= 0x01  # corrupt the CRC (still no 0x00 inside the frame)
    fr = f.unpack(board.feed(bytes(wire)))
    assert (fr.type, fr.request_id, m.parse_error(fr.payload)[0]) == (m.ERROR, 0, 1)
