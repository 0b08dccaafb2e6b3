"""Common machinery of text-line emulators (FLEX, SCPI, SENTIO).

Input is split at ``\\n`` (a trailing ``\\r`` is dropped).  A line longer than `MAX_LINE` is
discarded up to its end and answered with the instrument's "too long" error instead of
growing memory; buffered input never exceeds `MAX_LINE` bytes per connection.

Each connection is a `LineSession` with its own input buffer and reply stream, so several
clients can talk to one instrument at once; the instrument state (and error queue) is
shared, as on a real instrument with several remote interfaces.  ``emulator.feed(data)``
uses one default session (in-process loopback transports).

A handler may return `Deferred` data (the B1500's ``XE`` measurement data): a socket
session holds it for ``hold_s`` (the measurement "runs"); replies to queries received in
that window (``*OPC?``) are sent ahead of it and the data follows right after them, or
when the hold elapses.  The default session (``hold_s=0``) sends it at once.

Quick lines: a handler may `offer_quick` a function that answers the very line it handles
(the B1500's ``TI 4``) without parsing and dispatching it again.  The emulator keeps it
under that line's bytes (at most `MAX_QUICK` lines) and calls it when the same bytes come
again as one whole line, with no input buffered, no data held and no fault planned (the
line then means exactly what it meant the first time).  The function reads the
instrument state live and returns the reply bytes, or None where the full path must
answer (the function changes nothing before it returns None).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from sim_backends.emulators.faults import FaultPlan, garble, partial

MAX_LINE = 4096
#: quick lines kept per emulator (a bench script repeats a few queries)
MAX_QUICK = 64


@dataclass(frozen=True)
class Deferred:
    """Reply text that becomes available only after the session's hold time."""

    text: str


class LineSession:
    """Input buffer and pending replies of one client connection."""

    def __init__(self, emulator: "LineEmulator", hold_s: float = 0.0) -> None:
        self.emulator = emulator
        self.hold_s = hold_s
        self.buf = bytearray()
        self.discarding = False
        self.pending: list[tuple[float, bytes]] = []  # (due time, bytes)

    def feed(self, data: bytes) -> bytes:
        """Consume input bytes; return the reply bytes to send now.  A quick line (module
        docstring) is answered first, with the fewest steps: a served query's path."""
        em = self.emulator
        with em.lock:
            quick = em._quick.get(data) if data.__class__ is bytes else None
            if quick is not None and not (self.buf or self.discarding or self.pending
                                          or em.faults.pending):
                out = quick()
                if out is not None:
                    return out
            if not self.buf and not self.discarding and data.find(b"\n") == len(data) - 1 \
                    and len(data) <= MAX_LINE + 1:
                em._offered = None
                out = em._line(self, data[:-1])   # the usual query: one whole line
                if em._offered is not None:
                    if len(em._quick) >= MAX_QUICK:
                        em._quick.clear()
                    em._quick[bytes(data)] = em._offered
                    em._offered = None
                return out
            out = bytearray()
            buf = self.buf
            buf += data
            while True:
                i = buf.find(b"\n")
                if i < 0:
                    if len(buf) > MAX_LINE:
                        if not self.discarding:
                            em.too_long()
                        self.discarding = True
                        buf.clear()
                    break
                raw = bytes(buf[:i])
                del buf[:i + 1]
                if self.discarding or len(raw) > MAX_LINE:
                    if not self.discarding:
                        em.too_long()
                    self.discarding = False
                    continue
                out += em._line(self, raw)
        return bytes(out)

    def next_due(self) -> float | None:
        """Monotonic time at which held data must be sent (None = nothing held)."""
        return self.pending[0][0] if self.pending else None

    def poll(self, now: float | None = None) -> bytes:
        """Held data whose hold has elapsed."""
        now = time.monotonic() if now is None else now
        out = bytearray()
        while self.pending and self.pending[0][0] <= now:
            out += self.pending.pop(0)[1]
        return bytes(out)

    def release(self) -> bytes:
        """All held data (after a reply was sent ahead of it)."""
        out = b"".join(d for _, d in self.pending)
        self.pending.clear()
        return out

    def clear_pending(self) -> None:
        """Drop held data (``BC``: clear the output data buffer)."""
        self.pending.clear()


class LineEmulator:
    """Subclasses implement `handle(line) -> str | Deferred | None` and `too_long()`."""

    terminator = "\n"
    name = "instrument"

    def __init__(self, lock: threading.RLock | None = None) -> None:
        self.lock = lock or threading.RLock()
        self.faults = FaultPlan()
        self._default = LineSession(self)
        #: session whose command is being handled (handlers may clear its pending data)
        self.session: LineSession = self._default
        #: line bytes (terminator included) -> function answering it (`offer_quick`)
        self._quick: dict[bytes, Callable[[], bytes | None]] = {}
        self._offered: Callable[[], bytes | None] | None = None

    # -- to implement ----------------------------------------------------------------------
    def handle(self, line: str) -> "str | Deferred | None":  # pragma: no cover - abstract
        raise NotImplementedError

    def reject(self, line: str) -> str | None:
        """Answer to a command refused by an ``error`` fault (default: nothing)."""
        return None

    def too_long(self) -> None:
        """Record the instrument's error for an over-long line."""

    # -- sessions --------------------------------------------------------------------------
    def new_session(self, hold_s: float = 0.0) -> LineSession:
        """A new client connection with its own input buffer and reply stream."""
        return LineSession(self, hold_s)

    def reset_connection(self) -> None:
        """Forget half-received input of the default session."""
        self._default.buf.clear()
        self._default.discarding = False

    @property
    def _buf(self) -> bytearray:
        return self._default.buf

    def offer_quick(self, answer: Callable[[], bytes | None] | None) -> None:
        """Called by a handler: ``answer()`` gives the reply bytes of the line being handled
        (or None: take the full path) until the instrument state changes its meaning; kept
        only if that line is one whole line of input (`feed`).  None withdraws an offer (a
        line of several commands)."""
        self._offered = answer

    # -- byte interface --------------------------------------------------------------------
    def feed(self, data: bytes, session: LineSession | None = None) -> bytes:
        """Consume input bytes (of the default session, or ``session``); return the reply
        bytes they produce (`LineSession.feed`)."""
        return (session or self._default).feed(data)

    def _line(self, s: LineSession, raw: bytes) -> bytes:
        """Handle one complete line (terminator removed) of session ``s``; the bytes to send."""
        self.session = s
        try:
            reply = self._one(raw.rstrip(b"\r"))
        finally:
            self.session = self._default
        if reply is None:
            return b""
        if isinstance(reply, Deferred):
            data = self._encode(reply.text, raw)
            if s.hold_s > 0:
                s.pending.append((time.monotonic() + s.hold_s, data))
                return b""
            return data
        data = self._encode(reply, raw)
        return data + s.release() if s.pending else data  # held data follows the reply

    def _one(self, raw: bytes) -> "str | Deferred | None":
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            line = "\x00garbage"
        if not line:
            return None
        if not self.faults.pending:   # the common case: no fault planned
            return self.handle(line)
        kind = self.faults.take(line, ("disconnect", "error"))
        if kind == "disconnect":
            raise ConnectionError(f"{self.name}: injected disconnect before {line!r}")
        return self.reject(line) if kind == "error" else self.handle(line)

    def _encode(self, reply: str, raw: bytes) -> bytes:
        data = (reply + self.terminator).encode("ascii")
        if not self.faults.pending:
            return data
        kind = self.faults.take(raw.decode("ascii", "replace"), ("timeout", "partial", "garble"))
        if kind == "timeout":
            return b""
        if kind == "partial":
            return partial(data)
        if kind == "garble":
            return garble(data)
        return data
