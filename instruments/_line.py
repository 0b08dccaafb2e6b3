"""Base class for instruments that speak text lines (FLEX, SCPI, SENTIO).

Pure command builders live next to each driver; this class only sends a line and reads one
back with a per-call timeout.  Replies may end in CR LF (B1500) or LF (SCPI); both are stripped.
"""
from __future__ import annotations

import re

from hil.errors import InstrumentError
from hil.transport import Transport

#: `+0,"No error"` / `-113,"Undefined header"` / `+100,"Undefined GPIB command."`
_ERR_RE = re.compile(r'^\s*([+-]?\d+)\s*,\s*"?(.*?)"?\s*$')


def parse_error_reply(reply: str) -> tuple[int, str]:
    """Parse an error-queue reply (``ERRX?``, ``SYST:ERR?``) into (code, message)."""
    m = _ERR_RE.match(reply)
    if not m:
        raise InstrumentError(f"cannot parse error-queue reply {reply!r}: expected "
                              '+CODE,"message"')
    return int(m.group(1)), m.group(2)


def fmt_num(x: float) -> str:
    """Number as instruments read it: integers plain, others with 7 significant digits.

    ``fmt_num(6.0) == "6"``, ``fmt_num(1e-9) == "1E-09"``, ``fmt_num(0.002) == "0.002"``.
    """
    x = float(x)
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError(f"cannot send non-finite number {x!r} to an instrument")
    if x == int(x) and abs(x) < 1e12:
        return str(int(x))
    return f"{x:.7G}"


class LineInstrument:
    """A line-oriented instrument on a `Transport`."""

    write_termination = b"\n"
    read_termination = b"\n"

    def __init__(self, transport: Transport, name: str = "") -> None:
        self.transport = transport
        self.name = name or type(self).__name__

    def send(self, cmd: str) -> None:
        """Write one command line."""
        self.transport.write(cmd.encode("ascii") + self.write_termination)

    def receive(self, timeout_s: float | None = None) -> str:
        """Read one reply line (terminator and trailing CR stripped)."""
        from hil.errors import TransportError
        try:
            raw = self.transport.read_until(self.read_termination, timeout_s)
        except TransportError:
            self.transport.discard_input()  # a half reply must not prefix the next one
            raise
        try:
            return raw.decode("ascii").rstrip("\r")
        except UnicodeDecodeError as exc:
            raise TransportError(f"{self.name}: garbled reply {raw[:80]!r}") from exc

    def ask(self, cmd: str, timeout_s: float | None = None) -> str:
        """Send a query and return its reply line."""
        self.send(cmd)
        return self.receive(timeout_s)

    def close(self) -> None:
        self.transport.close()


class ScpiInstrument(LineInstrument):
    """A SCPI instrument whose commands are checked against ``SYST:ERR?``.

    On an error the rest of the queue is drained (so the next command starts clean) and
    ``error_class(code, message, command)`` is raised.
    """

    error_query = "SYST:ERR?"

    def __init__(self, transport: Transport, name: str = "", check_errors: bool = True) -> None:
        super().__init__(transport, name)
        self.check_errors = check_errors

    def error_class(self, code: int, message: str, command: str) -> InstrumentError:
        return InstrumentError(f"{self.name}: error {code} after {command!r}: {message}")

    def write(self, cmd: str) -> None:
        """Send a command, then check the error queue."""
        self.send(cmd)
        if self.check_errors:
            code, msg = parse_error_reply(self.ask(self.error_query))
            if code != 0:
                while parse_error_reply(self.ask(self.error_query))[0] != 0:
                    pass  # drain the rest of the queue
                raise self.error_class(code, msg, cmd)
