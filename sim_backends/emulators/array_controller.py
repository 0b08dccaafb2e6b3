"""Array-controller emulator: the open framed protocol (docs/array-controller-protocol.md).

It is what an open firmware does: keep the line levels, apply pulses through the physics'
`apply_pulse`, run PROGRAM as the request's `hil.plan.PulsePlan` (the physics'
`pulse_cells`, which returns the plan it applied: the counter moves by its pulses), read
currents through the physics' `read`, count pulses, answer errors.
Buffered input is bounded by `frame.MAX_WIRE`; garbage is answered with an error frame.
"""
from __future__ import annotations

import threading

import numpy as np

from hil.backend import Backend, Lines
from hil.errors import HilError, InstrumentError, TransportError
from instruments.array_controller import frame as f
from instruments.array_controller import messages as m
from sim_backends.emulators.faults import FaultPlan, garble, partial

FIRMWARE = "hil-emu array-controller 1.0"
V_MAX = 12.0
I_COMPLIANCE_A = 1e-3


class ArrayControllerEmulator:
    name = "array-controller"

    def __init__(self, physics: Backend, lock: threading.RLock | None = None,
                 v_max_V: float = V_MAX) -> None:
        self.physics = physics
        self.rows, self.cols = physics.shape
        self.lock = lock or threading.RLock()
        self.v_max_V = v_max_V
        self.faults = FaultPlan()
        self.gate = np.zeros(self.rows)
        self.select = np.zeros(self.cols)
        self.drain = np.zeros(self.rows)
        self.source = np.zeros(self.cols)
        self.pulse_count = 0
        self.last_error = 0
        # a 1T1R array has one source line per row (docs/array-controller-protocol.md)
        self.source_per_row = getattr(getattr(physics, "array", None), "kind", "") == "1t1r"
        self._buf = bytearray()

    def reset_connection(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        with self.lock:
            self._buf += data
            while (i := self._buf.find(f.DELIMITER)) >= 0:
                wire = bytes(self._buf[:i])
                del self._buf[:i + 1]
                if wire:
                    out += self._frame(wire)
            if len(self._buf) > f.MAX_WIRE:
                self._buf.clear()
                out += self._error(0, m.E_LENGTH, "frame longer than MAX_WIRE without delimiter")
        return bytes(out)

    def _error(self, rid: int, code: int, msg: str) -> bytes:
        self.last_error = code
        return f.pack(f.Frame(m.ERROR, rid, m.error(code, msg)))

    def _frame(self, wire: bytes) -> bytes:
        try:
            fr = f.unpack(wire)
        except TransportError as exc:
            code = m.E_CRC if "CRC" in str(exc) else m.E_FRAME
            return self._error(0, code, str(exc))
        name = m.NAMES.get(fr.type, "")
        kind = self.faults.take(name, ("disconnect", "error"))
        if kind == "disconnect":
            raise ConnectionError(f"{self.name}: injected disconnect before {name}")
        if kind == "error":
            return self._error(fr.request_id, m.E_BUSY, "injected error")
        if fr.version != f.VERSION:
            return self._error(fr.request_id, m.E_VERSION, f"protocol v{fr.version} unsupported")
        try:
            payload = self._dispatch(fr.type, fr.payload)
            reply = f.pack(f.Frame(fr.type | m.REPLY, fr.request_id, payload))
        except _Reject as r:
            reply = self._error(fr.request_id, r.code, r.msg)
        except InstrumentError as exc:  # malformed payload
            reply = self._error(fr.request_id, m.E_LENGTH, str(exc))
        except (HilError, ValueError) as exc:  # the physics refused the values
            reply = self._error(fr.request_id, m.E_RANGE, str(exc))
        kind = self.faults.take(name, ("timeout", "partial", "garble"))
        if kind == "timeout":
            return b""
        return partial(reply) if kind == "partial" else garble(reply) if kind == "garble" else reply

    def _dispatch(self, typ: int, p: bytes) -> bytes:
        if typ == m.IDENTIFY:
            return m.identity(m.Identity(f.VERSION, self.rows, self.cols, self.v_max_V, FIRMWARE))
        if typ == m.STATUS:
            return m.status(m.Status(m.FLAG_ERROR if self.last_error else 0, self.pulse_count,
                                     self.last_error))
        if typ == m.SET_LINES:
            g, t, d, src = m.parse_set_lines(p)
            if g.size != self.rows or t.size != self.cols:
                raise _Reject(m.E_LENGTH, f"array is {self.rows}x{self.cols}, got {g.size} row "
                                          f"and {t.size} column levels")
            allv = np.concatenate([g, t, d, src])
            if not np.all(np.isfinite(allv)) or np.max(np.abs(allv)) > self.v_max_V:
                raise _Reject(m.E_RANGE, f"line levels must be within ±{self.v_max_V:g} V")
            self.gate, self.select, self.drain, self.source = g, t, d, src
            return b""
        if typ == m.PROGRAM:
            row0, sub, amp, width_s = m.parse_program(p, self.cols)
            if row0 + sub.shape[0] > self.rows:
                raise _Reject(m.E_RANGE, f"rows {row0}..{row0 + sub.shape[0] - 1} outside "
                                         f"0..{self.rows - 1}")
            if np.max(np.abs(amp)) > self.v_max_V:
                raise _Reject(m.E_RANGE, f"amplitude must be within ±{self.v_max_V:g} V")
            mask = np.zeros((self.rows, self.cols), bool)
            mask[row0:row0 + sub.shape[0]] = sub
            if np.ndim(amp):
                full = np.zeros((self.rows, self.cols))
                full[row0:row0 + sub.shape[0]] = amp
                amp = full
            # the firmware runs the request's pulse plan (hil.plan, the array's scheme) and
            # counts the physical pulses the plan applied
            plan = self.physics.pulse_cells(mask, amp, width_s)
            self.pulse_count = (self.pulse_count + plan.n_pulses) & 0xFFFFFFFF
            return m.counter(self.pulse_count)
        if typ == m.PULSE:
            width_s, count, period_s = m.parse_pulse(p)
            if self.source_per_row:   # 1T1R: ED carries the source line of each row
                lines = Lines(gate_rows=self.gate.copy(), select_cols=self.select.copy(),
                              drain=0.0, source=self.drain.copy())
            else:
                lines = Lines(gate_rows=self.gate.copy(), select_cols=self.select.copy(),
                              drain=self.drain.copy(), source=self.source.copy())
            for k in range(count):
                self.physics.apply_pulse(lines, width_s)
                self.pulse_count += 1
                if k < count - 1 and period_s > width_s:
                    self.physics.wait(period_s - width_s)
            return m.counter(self.pulse_count)
        if typ == m.READ_BLOCK:
            rows, cols, v = m.parse_read_block(p)
            if not 0 < abs(v) <= self.v_max_V:
                raise _Reject(m.E_RANGE, f"read voltage must be 0 < |V| <= {self.v_max_V:g} V")
            if (rows.size and rows.max() >= self.rows) or (cols.size and cols.max() >= self.cols):
                raise _Reject(m.E_RANGE, f"row/column index outside {self.rows}x{self.cols}")
            if 4 * rows.size * cols.size + 4 > f.MAX_PAYLOAD:
                raise _Reject(m.E_TOO_LARGE, "block too large for one frame")
            i = np.asarray(self.physics.read(rows=rows, cols=cols, v_read_V=v)) * v
            return self._checked(i)
        if typ in (m.READ_ROW, m.READ_ARRAY):
            row, v = m.parse_read_row(p) if typ == m.READ_ROW else (None, m.parse_read_array(p))
            if not 0 < abs(v) <= self.v_max_V:
                raise _Reject(m.E_RANGE, f"read voltage must be 0 < |V| <= {self.v_max_V:g} V")
            if row is not None:
                if not 0 <= row < self.rows:
                    raise _Reject(m.E_RANGE, f"row {row} outside 0..{self.rows - 1}")
                g = np.asarray(self.physics.read(rows=[row], v_read_V=v))[0]
            else:
                if 4 * self.rows * self.cols + 4 > f.MAX_PAYLOAD:
                    raise _Reject(m.E_TOO_LARGE, "array too large for one frame: use READ_ROW")
                g = np.asarray(self.physics.read(v_read_V=v))
            return self._checked(g * v)
        raise _Reject(m.E_TYPE, f"unknown message type {typ:#04x}")


    def _checked(self, i: np.ndarray) -> bytes:
        if self.faults.take("", ("compliance",)) or (i.size and np.max(np.abs(i)) > I_COMPLIANCE_A):
            raise _Reject(m.E_COMPLIANCE, f"current above {I_COMPLIANCE_A:g} A")
        return m.currents(i)


class _Reject(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg
