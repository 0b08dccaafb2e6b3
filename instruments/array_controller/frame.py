"""Framing of the array-controller protocol (pure functions).

Frame before stuffing (little endian)::

    version u8 | type u8 | request_id u16 | length u32 | payload[length] | crc16 u16

``crc16`` is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xor-out) over
everything before it.  On the wire the frame is COBS-encoded and followed by one 0x00 byte,
so a receiver resynchronises at the next zero after any garbage.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from hil.errors import TransportError

VERSION = 1
HEADER = struct.Struct("<BBHI")
DELIMITER = b"\x00"
#: largest payload either side accepts (a firmware sizes its buffers from this)
MAX_PAYLOAD = 1 << 20
MAX_WIRE = MAX_PAYLOAD + HEADER.size + 2 + (MAX_PAYLOAD // 254) + 4


def _crc_table() -> list[int]:
    table = []
    for b in range(256):
        crc = b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_TABLE = _crc_table()


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE; ``crc16(b"123456789") == 0x29B1``."""
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing (Cheshire & Baker): output has no 0x00 bytes.

    ``cobs_encode(bytes([0x11, 0x22, 0x00, 0x33])) == bytes([3, 0x11, 0x22, 2, 0x33])``.
    """
    out = bytearray()
    segs = bytes(data).split(b"\x00")
    for k, seg in enumerate(segs):
        full = False
        while len(seg) >= 254:
            out.append(255)
            out += seg[:254]
            seg = seg[254:]
            full = True
        if k == len(segs) - 1 and full and not seg:
            break  # data ends right after a full block: no final code byte
        out.append(len(seg) + 1)
        out += seg
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of `cobs_encode`; raises `TransportError` on a malformed block."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        block = data[i + 1:i + code]
        if code == 0 or len(block) != code - 1 or b"\x00" in block:
            raise TransportError(f"COBS: corrupt or truncated block (code {code}) at byte {i}")
        out += block
        i += code
        if code < 255 and i < n:
            out.append(0)
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    type: int
    request_id: int
    payload: bytes = b""
    version: int = VERSION


def pack(frame: Frame) -> bytes:
    """Frame -> wire bytes (COBS + trailing 0x00)."""
    if len(frame.payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(frame.payload)} bytes exceeds MAX_PAYLOAD {MAX_PAYLOAD}")
    body = HEADER.pack(frame.version, frame.type, frame.request_id & 0xFFFF,
                       len(frame.payload)) + frame.payload
    return cobs_encode(body + struct.pack("<H", crc16(body))) + DELIMITER


def unpack(wire: bytes) -> Frame:
    """Wire bytes of one frame (a trailing 0x00 delimiter is allowed) -> Frame.

    Raises `TransportError` (transient) for bad stuffing, length or CRC.
    """
    raw = cobs_decode(wire[:-1] if wire.endswith(DELIMITER) else wire)
    if len(raw) < HEADER.size + 2:
        raise TransportError(f"frame too short ({len(raw)} bytes)")
    version, typ, rid, length = HEADER.unpack_from(raw)
    if len(raw) != HEADER.size + length + 2:
        raise TransportError(f"frame length field {length} does not match {len(raw)} bytes")
    (crc,) = struct.unpack_from("<H", raw, len(raw) - 2)
    if crc != crc16(raw[:-2]):
        raise TransportError(f"frame CRC mismatch (request id {rid})")
    return Frame(typ, rid, bytes(raw[HEADER.size:-2]), version)
