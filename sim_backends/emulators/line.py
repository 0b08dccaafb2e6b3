"""Common machinery of text-line emulators (FLEX, SCPI, SENTIO).

Input is split at ``\\n`` (a trailing ``\\r`` is dropped).  A line longer than `MAX_LINE` is
discarded up to its end and answered with the instrument's "too long" error instead of
growing memory; buffered input never exceeds `MAX_LINE` bytes per connection.
"""
from __future__ import annotations

import threading

from sim_backends.emulators.faults import FaultPlan, garble, partial

MAX_LINE = 4096


class LineEmulator:
    """Subclasses implement `handle(line) -> str | None` and `too_long()`."""

    terminator = "\n"
    #: prefixes that count as measurements for the ``compliance`` fault
    name = "instrument"

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self.lock = lock or threading.RLock()
        self.faults = FaultPlan()
        self._buf = bytearray()
        self._discarding = False

    # -- to implement ----------------------------------------------------------------------
    def handle(self, line: str) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def reject(self, line: str) -> str | None:
        """Answer to a command refused by an ``error`` fault (default: nothing)."""
        return None

    def too_long(self) -> None:
        """Record the instrument's error for an over-long line."""

    def reset_connection(self) -> None:
        """A new client connected: forget half-received input."""
        self._buf.clear()
        self._discarding = False

    # -- byte interface --------------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        """Consume input bytes; return the reply bytes they produce."""
        out = bytearray()
        with self.lock:
            self._buf += data
            while True:
                i = self._buf.find(b"\n")
                if i < 0:
                    if len(self._buf) > MAX_LINE:
                        if not self._discarding:
                            self.too_long()
                        self._discarding = True
                        self._buf.clear()
                    break
                raw = bytes(self._buf[:i])
                del self._buf[:i + 1]
                if self._discarding or len(raw) > MAX_LINE:
                    if not self._discarding:
                        self.too_long()
                    self._discarding = False
                    continue
                out += self._one(raw.rstrip(b"\r"))
        return bytes(out)

    def _one(self, raw: bytes) -> bytes:
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            line = "\x00garbage"
        if not line:
            return b""
        kind = self.faults.take(line, ("disconnect", "error"))
        if kind == "disconnect":
            raise ConnectionError(f"{self.name}: injected disconnect before {line!r}")
        reply = self.reject(line) if kind == "error" else self.handle(line)
        if reply is None:
            return b""
        data = (reply + self.terminator).encode("ascii")
        kind = self.faults.take(line, ("timeout", "partial", "garble"))
        if kind == "timeout":
            return b""
        if kind == "partial":
            return partial(data)
        if kind == "garble":
            return garble(data)
        return data
