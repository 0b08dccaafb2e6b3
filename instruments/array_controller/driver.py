"""Array-controller driver: framed requests with ids, replies matched by id.

Reads (IDENTIFY, STATUS, READ_*) may be retried after a transient transport error.  A PULSE
is never re-sent: when its reply is lost the driver asks STATUS for the pulse counter and
either confirms the pulse happened or raises, so a pulse is never silently repeated.
"""
from __future__ import annotations

import logging

import numpy as np

from hil.errors import InstrumentError, TransportError
from hil.transport import Transport
from instruments.array_controller import frame as f
from instruments.array_controller import messages as m

log = logging.getLogger(__name__)


class ControllerError(InstrumentError):
    """The controller answered with an ERROR frame; ``code`` is from `messages.ERROR_NAMES`."""

    def __init__(self, code: int, message: str, request: str) -> None:
        name = m.ERROR_NAMES.get(code, "unknown")
        super().__init__(f"array controller error {code} ({name}) on {request}: {message}")
        self.code = code


class ArrayController:
    """Client of the array-controller protocol on any byte transport."""

    def __init__(self, transport: Transport, name: str = "ctrl", read_retries: int = 2) -> None:
        self.transport = transport
        self.name = name
        self.read_retries = read_retries
        self._next_id = 1
        self.pulse_count: int | None = None
        self.identity: m.Identity | None = None
        self.events: list[str] = []  # what went wrong and how it was handled

    # -- framing ---------------------------------------------------------------------------
    def _request(self, typ: int, payload: bytes = b"", timeout_s: float | None = None) -> bytes:
        rid = self._next_id
        self._next_id = (self._next_id % 0xFFFF) + 1
        # a leading delimiter makes the receiver drop any half-received garbage first
        self.transport.write(f.DELIMITER + f.pack(f.Frame(typ, rid, payload)))
        for _ in range(16):  # skip stale replies to earlier (timed-out) requests
            fr = f.unpack(self.transport.read_until(f.DELIMITER, timeout_s))
            if fr.request_id != rid and fr.type != m.ERROR:
                continue
            if fr.type == m.ERROR:
                code, msg = m.parse_error(fr.payload)
                raise ControllerError(code, msg, m.NAMES.get(typ, hex(typ)))
            if fr.type != typ | m.REPLY:
                raise InstrumentError(f"reply type {fr.type:#x} to {m.NAMES.get(typ)} "
                                      f"(expected {typ | m.REPLY:#x})")
            return fr.payload
        raise TransportError(f"{self.name}: no reply with request id {rid}")

    def _read(self, typ: int, payload: bytes = b"", timeout_s: float | None = None) -> bytes:
        """A request without side effects: retried on transient transport errors."""
        for attempt in range(self.read_retries + 1):
            try:
                return self._request(typ, payload, timeout_s)
            except TransportError as exc:
                if not exc.transient or attempt == self.read_retries:
                    raise
                self.events.append(f"retry {m.NAMES.get(typ)} after: {exc}")
                self.transport.discard_input()
                log.warning("%s: retrying %s after %s", self.name, m.NAMES.get(typ), exc)
        raise AssertionError("unreachable")

    # -- messages --------------------------------------------------------------------------
    def identify(self) -> m.Identity:
        """Protocol version, array size, voltage limit, firmware string."""
        self.identity = m.parse_identity(self._read(m.IDENTIFY))
        if self.identity.version != f.VERSION:
            raise InstrumentError(f"controller speaks protocol v{self.identity.version}, "
                                  f"this driver v{f.VERSION}")
        self.pulse_count = self.status().pulse_count
        return self.identity

    def status(self) -> m.Status:
        """Flags, pulse counter, last error."""
        return m.parse_status(self._read(m.STATUS))

    def set_lines(self, gate_rows_V: np.ndarray, select_cols_V: np.ndarray,
                  drain_rows_V: np.ndarray | float, source_cols_V: np.ndarray | float) -> None:
        """Levels every line takes during the next PULSE (idempotent: safe to resend)."""
        self._read(m.SET_LINES, m.set_lines(gate_rows_V, select_cols_V, drain_rows_V,
                                            source_cols_V))

    def program(self, mask: np.ndarray, amplitude_V: float | np.ndarray, width_s: float) -> int:
        """Selective programming run by the firmware (H-1E1T row-wise phases).

        Sent in blocks of rows that fit one frame; returns the pulse counter afterwards.
        Like PULSE it is never re-sent: a lost reply raises unless STATUS shows progress.
        """
        mask = np.asarray(mask, bool)
        rows, cols = mask.shape
        amp = np.asarray(amplitude_V, np.float64)
        per_cell = amp.ndim > 0
        if per_cell:
            amp = np.broadcast_to(amp, mask.shape)
        block = self.program_block_rows(cols, per_cell)
        timeout = self.transport.timeout_s + 4 * 2 * rows * width_s
        for r0 in range(0, rows, block):
            sub = mask[r0:r0 + block]
            if not sub.any():
                continue
            a = amp[r0:r0 + block] if per_cell else float(amp)
            before = self.pulse_count
            try:
                self.pulse_count = m.parse_counter(
                    self._request(m.PROGRAM, m.program(r0, sub, a, width_s), timeout))
            except TransportError as exc:
                try:
                    now = self.status().pulse_count
                except TransportError as exc2:
                    raise TransportError(f"{self.name}: PROGRAM failed ({exc}) and the pulse "
                                         f"counter cannot be read ({exc2}); not repeated",
                                         transient=False) from exc
                self.pulse_count = now
                raise TransportError(f"{self.name}: PROGRAM of rows {r0}..{r0 + len(sub) - 1} "
                                     f"failed ({exc}); counter moved by "
                                     f"{'unknown' if before is None else now - before}; not "
                                     "repeated", transient=before is not None and now == before
                                     ) from exc
        return self.pulse_count or 0

    @staticmethod
    def program_block_rows(cols: int, per_cell: bool) -> int:
        """Rows per PROGRAM frame (the firmware programs block by block, in this order)."""
        bytes_per_row = cols / 8 + (4 * cols if per_cell else 0)
        return max(1, int((f.MAX_PAYLOAD - 64) // max(bytes_per_row, 1)))

    def connect(self) -> m.Identity:
        """Identify the board (protocol version, array size) and read its pulse counter."""
        return self.identify()

    def safe_state(self) -> None:
        """Every line to 0 V (SET_LINES of zeros), so that nothing, not even a stray PULSE,
        puts a voltage on the array.  Works on a fresh connection."""
        rows, cols = self._rows(), self._cols()
        self.set_lines(np.zeros(rows), np.zeros(cols), np.zeros(rows), np.zeros(cols))

    def pulse(self, width_s: float, count: int = 1, period_s: float = 0.0) -> int:
        """Apply ``count`` pulses with the levels set by `set_lines`; return the counter."""
        payload = m.pulse(width_s, count, period_s)
        timeout = self.transport.timeout_s + count * max(width_s, period_s)
        before = self.pulse_count
        try:
            self.pulse_count = m.parse_counter(self._request(m.PULSE, payload, timeout))
            return self.pulse_count
        except TransportError as exc:
            try:
                now = self.status().pulse_count  # a read: retried if needed
            except TransportError as exc2:
                raise TransportError(f"{self.name}: PULSE failed ({exc}) and the pulse counter "
                                     f"cannot be read ({exc2}): pulses applied unknown; not "
                                     "repeated", transient=False) from exc
            self.pulse_count = now
            if before is not None and now == before + count:
                self.events.append(f"PULSE reply lost ({exc}); counter confirms it was applied")
                return now
            applied = "unknown" if before is None else now - before
            raise TransportError(f"{self.name}: PULSE failed ({exc}); pulses applied: {applied} "
                                 f"of {count}; not repeated", transient=applied == 0) from exc

    def read_row(self, row: int, v_read_V: float) -> np.ndarray:
        """Currents (A) of every cell in ``row`` at drain voltage ``v_read_V``."""
        cols = self._cols()
        return m.parse_currents(self._read(m.READ_ROW, m.read_row(row, v_read_V)), (cols,))

    def read_array(self, v_read_V: float) -> np.ndarray:
        """Currents (A) of the whole array; row by row when it exceeds one frame."""
        rows, cols = self._rows(), self._cols()
        if 4 * rows * cols + 4 > f.MAX_PAYLOAD:
            return np.stack([self.read_row(r, v_read_V) for r in range(rows)])
        return m.parse_currents(self._read(m.READ_ARRAY, m.read_array(v_read_V)), (rows, cols))

    def read_block(self, rows: np.ndarray, cols: np.ndarray, v_read_V: float) -> np.ndarray:
        """Currents (A) of the rows x cols sub-array (one frame; row blocks when larger)."""
        rows, cols = np.asarray(rows).ravel(), np.asarray(cols).ravel()
        per_row = 4 * cols.size + 2
        block = max(1, (f.MAX_PAYLOAD - 16 - 2 * cols.size) // per_row)
        out = []
        for k in range(0, rows.size, block):
            r = rows[k:k + block]
            payload = self._read(m.READ_BLOCK, m.read_block(r, cols, v_read_V))
            out.append(m.parse_currents(payload, (r.size, cols.size)))
        return np.concatenate(out) if out else np.empty((0, cols.size))

    def _rows(self) -> int:
        return (self.identity or self.identify()).rows

    def _cols(self) -> int:
        return (self.identity or self.identify()).cols

    def close(self) -> None:
        self.transport.close()
