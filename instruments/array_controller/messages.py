"""Message types and payload codecs of the array-controller protocol (pure functions).

All numbers little endian; voltages and currents float32 (V, A); times uint32 nanoseconds.
A reply has the request's type | 0x80 and the request's id; an error reply has type 0xFF.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from hil.errors import InstrumentError

IDENTIFY, SET_LINES, PULSE, READ_ROW, READ_ARRAY, STATUS, PROGRAM, READ_BLOCK = 1, 2, 3, 4, 5, 6, 7, 8
REPLY = 0x80
ERROR = 0xFF
NAMES = {IDENTIFY: "IDENTIFY", SET_LINES: "SET_LINES", PULSE: "PULSE", READ_ROW: "READ_ROW",
         READ_ARRAY: "READ_ARRAY", STATUS: "STATUS", PROGRAM: "PROGRAM",
         READ_BLOCK: "READ_BLOCK"}

# error codes (ERROR payload: code u16 + UTF-8 message)
E_CRC, E_FRAME, E_TYPE, E_LENGTH, E_RANGE, E_VERSION, E_TOO_LARGE, E_COMPLIANCE, E_BUSY = range(1, 10)
ERROR_NAMES = {E_CRC: "bad CRC", E_FRAME: "bad frame", E_TYPE: "unknown message type",
               E_LENGTH: "bad payload length", E_RANGE: "value out of range",
               E_VERSION: "unsupported protocol version", E_TOO_LARGE: "reply too large",
               E_COMPLIANCE: "current compliance hit", E_BUSY: "busy"}

_IDENT = struct.Struct("<BHHf")      # protocol version, rows, cols, max |V|
_LINES_HEAD = struct.Struct("<HH")    # n_rows, n_cols
_PROGRAM_HEAD = struct.Struct("<HHIB")  # row0, n_rows, width ns, amplitude mode
_PULSE = struct.Struct("<IHI")       # width ns, count, period ns
_COUNTER = struct.Struct("<I")
_READ_ROW = struct.Struct("<Hf")     # row, v_read
_F32 = struct.Struct("<f")
_ARRAY_HEAD = struct.Struct("<HH")
_STATUS = struct.Struct("<HIH")      # flags, pulse counter, last error
_ERROR = struct.Struct("<H")

FLAG_BUSY, FLAG_ERROR = 0x0001, 0x0002


def _need(payload: bytes, n: int, what: str) -> None:
    if len(payload) != n:
        raise InstrumentError(f"{what}: payload is {len(payload)} bytes, expected {n}")


@dataclass(frozen=True)
class Identity:
    version: int
    rows: int
    cols: int
    v_max_V: float
    firmware: str


def identity(ident: Identity) -> bytes:
    return _IDENT.pack(ident.version, ident.rows, ident.cols, ident.v_max_V) + ident.firmware.encode()


def parse_identity(payload: bytes) -> Identity:
    if len(payload) < _IDENT.size:
        raise InstrumentError(f"IDENTIFY reply too short ({len(payload)} bytes)")
    v, r, c, vmax = _IDENT.unpack_from(payload)
    return Identity(v, r, c, float(vmax), payload[_IDENT.size:].decode("utf-8", "replace"))


def set_lines(gate_rows_V: np.ndarray, select_cols_V: np.ndarray,
              drain_rows_V: np.ndarray, source_cols_V: np.ndarray) -> bytes:
    """SET_LINES: rows u16, cols u16, EG[rows], ED[rows], TG[cols], ES[cols] (float32)."""
    g = np.asarray(gate_rows_V, "<f4").ravel()
    t = np.asarray(select_cols_V, "<f4").ravel()
    d = np.broadcast_to(np.asarray(drain_rows_V, "<f4"), g.shape)
    s = np.broadcast_to(np.asarray(source_cols_V, "<f4"), t.shape)
    return _LINES_HEAD.pack(g.size, t.size) + b"".join(a.tobytes() for a in (g, d, t, s))


def parse_set_lines(payload: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """-> (EG per row, TG per column, ED per row, ES per column) as float64."""
    if len(payload) < _LINES_HEAD.size:
        raise InstrumentError("SET_LINES payload too short")
    nr, nc = _LINES_HEAD.unpack_from(payload)
    _need(payload, _LINES_HEAD.size + 8 * (nr + nc), "SET_LINES")
    v = np.frombuffer(payload, "<f4", offset=_LINES_HEAD.size).astype(np.float64)
    return v[:nr], v[2 * nr:2 * nr + nc], v[nr:2 * nr], v[2 * nr + nc:]


def program(row0: int, mask: np.ndarray, amplitude_V: float | np.ndarray, width_s: float) -> bytes:
    """PROGRAM a block of rows: head, amplitude (one f32, or one per cell), packed mask bits.

    ``mask`` is bool (n_rows, cols) for rows ``row0 .. row0+n_rows-1``; bits are row-major,
    least significant bit first.  Amplitude mode 0 = one value, 1 = one per cell.
    """
    mask = np.asarray(mask, bool)
    amp = np.asarray(amplitude_V, "<f4")
    mode = 0 if amp.ndim == 0 else 1
    if mode and amp.shape != mask.shape:
        amp = np.ascontiguousarray(np.broadcast_to(amp, mask.shape))
    w = round(width_s * 1e9)
    if not 1 <= w <= 0xFFFFFFFF:
        raise ValueError(f"width_s {width_s!r} outside 1 ns .. 4.29 s")
    return (_PROGRAM_HEAD.pack(row0, mask.shape[0], w, mode) + amp.tobytes()
            + np.packbits(mask.ravel(), bitorder="little").tobytes())


def parse_program(payload: bytes, cols: int) -> tuple[int, np.ndarray, np.ndarray | float, float]:
    """-> (row0, mask (n_rows, cols), amplitude (scalar or per cell), width_s)."""
    if len(payload) < _PROGRAM_HEAD.size:
        raise InstrumentError("PROGRAM payload too short")
    row0, n, w, mode = _PROGRAM_HEAD.unpack_from(payload)
    if mode not in (0, 1):
        raise InstrumentError(f"PROGRAM amplitude mode {mode} (allowed 0, 1)")
    n_amp = 1 if mode == 0 else n * cols
    n_mask = (n * cols + 7) // 8
    _need(payload, _PROGRAM_HEAD.size + 4 * n_amp + n_mask, "PROGRAM")
    off = _PROGRAM_HEAD.size
    amp = np.frombuffer(payload, "<f4", n_amp, off).astype(np.float64)
    bits = np.frombuffer(payload, np.uint8, n_mask, off + 4 * n_amp)
    mask = np.unpackbits(bits, bitorder="little")[:n * cols].astype(bool).reshape(n, cols)
    # w / 1e9 (one rounding): the width the host asked for whenever it was a whole ns
    return row0, mask, (float(amp[0]) if mode == 0 else amp.reshape(n, cols)), w / 1e9


def pulse(width_s: float, count: int = 1, period_s: float = 0.0) -> bytes:
    w, p = round(width_s * 1e9), round(period_s * 1e9)
    if not (1 <= w <= 0xFFFFFFFF and 1 <= count <= 0xFFFF and 0 <= p <= 0xFFFFFFFF):
        raise ValueError(f"pulse: width 1 ns..4.29 s, count 1..65535, period <= 4.29 s; got "
                         f"width_s={width_s!r}, count={count!r}, period_s={period_s!r}")
    return _PULSE.pack(w, count, p)


def parse_pulse(payload: bytes) -> tuple[float, int, float]:
    _need(payload, _PULSE.size, "PULSE")
    w, n, p = _PULSE.unpack(payload)
    return w / 1e9, n, p / 1e9


def counter(n: int) -> bytes: return _COUNTER.pack(n & 0xFFFFFFFF)


def parse_counter(payload: bytes) -> int:
    _need(payload, _COUNTER.size, "PULSE reply")
    return _COUNTER.unpack(payload)[0]


def read_row(row: int, v_read_V: float) -> bytes: return _READ_ROW.pack(row, v_read_V)


def parse_read_row(payload: bytes) -> tuple[int, float]:
    _need(payload, _READ_ROW.size, "READ_ROW")
    r, v = _READ_ROW.unpack(payload)
    return r, float(v)


def read_array(v_read_V: float) -> bytes: return _F32.pack(v_read_V)


def parse_read_array(payload: bytes) -> float:
    _need(payload, _F32.size, "READ_ARRAY")
    return float(_F32.unpack(payload)[0])


def read_block(rows: np.ndarray, cols: np.ndarray, v_read_V: float) -> bytes:
    """READ_BLOCK: n_rows u16, n_cols u16, v_read f32, row indices u16[], col indices u16[]."""
    r = np.asarray(rows, "<u2").ravel()
    c = np.asarray(cols, "<u2").ravel()
    return _ARRAY_HEAD.pack(r.size, c.size) + _F32.pack(v_read_V) + r.tobytes() + c.tobytes()


def parse_read_block(payload: bytes) -> tuple[np.ndarray, np.ndarray, float]:
    if len(payload) < _ARRAY_HEAD.size + _F32.size:
        raise InstrumentError("READ_BLOCK payload too short")
    nr, nc = _ARRAY_HEAD.unpack_from(payload)
    _need(payload, _ARRAY_HEAD.size + _F32.size + 2 * (nr + nc), "READ_BLOCK")
    (v,) = _F32.unpack_from(payload, _ARRAY_HEAD.size)
    idx = np.frombuffer(payload, "<u2", offset=_ARRAY_HEAD.size + _F32.size).astype(np.int64)
    return idx[:nr], idx[nr:], float(v)


def currents(i_A: np.ndarray) -> bytes:
    """READ_ROW reply: float32 currents; READ_ARRAY / READ_BLOCK reply: rows u16, cols u16,
    then the currents row-major."""
    a = np.asarray(i_A, "<f4")
    head = _ARRAY_HEAD.pack(*a.shape) if a.ndim == 2 else b""
    return head + a.tobytes()


def parse_currents(payload: bytes, shape: tuple[int, ...]) -> np.ndarray:
    if len(shape) == 2:
        _need(payload, _ARRAY_HEAD.size + 4 * shape[0] * shape[1], "READ_ARRAY reply")
        if _ARRAY_HEAD.unpack_from(payload) != tuple(shape):
            raise InstrumentError(f"READ_ARRAY reply shape {_ARRAY_HEAD.unpack_from(payload)} "
                                  f"!= expected {tuple(shape)}")
        payload = payload[_ARRAY_HEAD.size:]
    else:
        _need(payload, 4 * shape[0], "READ_ROW reply")
    return np.frombuffer(payload, "<f4").astype(np.float64).reshape(shape)


@dataclass(frozen=True)
class Status:
    flags: int
    pulse_count: int
    last_error: int


def status(st: Status) -> bytes: return _STATUS.pack(st.flags, st.pulse_count, st.last_error)


def parse_status(payload: bytes) -> Status:
    _need(payload, _STATUS.size, "STATUS reply")
    return Status(*_STATUS.unpack(payload))


def error(code: int, message: str) -> bytes:
    return _ERROR.pack(code) + message.encode("utf-8")[:200]


def parse_error(payload: bytes) -> tuple[int, str]:
    if len(payload) < 2:
        return 0, "malformed error reply"
    return _ERROR.unpack_from(payload)[0], payload[2:].decode("utf-8", "replace")
