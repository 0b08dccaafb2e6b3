"""Probe station driver (SENTIO remote commands): die/subsite stepping, contact, position."""
from __future__ import annotations

from hil.errors import InstrumentError
from hil.transport import Transport
from instruments._line import LineInstrument
from instruments.probe_station import commands as c


class ProbeStationError(InstrumentError):
    def __init__(self, code: int, message: str, command: str) -> None:
        name = c.ERRORS.get(code, "unknown")
        super().__init__(f"probe station error {code} ({name}) after {command!r}: {message}")
        self.code = code


class ProbeStation(LineInstrument):
    """MPI SENTIO-compatible prober.  Motion commands may take seconds: per-call timeouts."""

    def __init__(self, transport: Transport, name: str = "prober", move_timeout_s: float = 60.0
                 ) -> None:
        super().__init__(transport, name)
        self.move_timeout_s = move_timeout_s

    def command(self, cmd: str, timeout_s: float | None = None) -> c.Reply:
        """Send a SENTIO command and return its reply; raise on a non-zero error code."""
        reply = c.parse_reply(self.ask(cmd, timeout_s))
        if reply.error:
            raise ProbeStationError(reply.error, reply.message, cmd)
        return reply

    def identify(self) -> str:
        return self.ask(c.idn())

    def use_native_commands(self) -> None:
        """``*RCS 1``: switch to SENTIO's native command set (no reply)."""
        self.send(c.rcs_native())

    def step_die(self, col: int, row: int, subsite: int = 0) -> tuple[int, int, int]:
        """Move the chuck to die (col, row) and subsite; return where it went."""
        r = self.command(c.step_die(col, row, subsite), self.move_timeout_s)
        return tuple(int(v) for v in c.floats(r.message, 3))  # type: ignore[return-value]

    def current_die(self) -> tuple[int, int]:
        r = self.command(c.current_die())
        col, row = c.floats(r.message, 2)
        return int(col), int(row)

    def contact(self) -> float:
        """Chuck to contact height; return z (µm)."""
        return c.floats(self.command(c.contact(), self.move_timeout_s).message, 1)[0]

    def separate(self) -> float:
        """Chuck to separation height; return z (µm)."""
        return c.floats(self.command(c.separate(), self.move_timeout_s).message, 1)[0]

    def position(self) -> tuple[float, float, float]:
        """Chuck (x, y, z) in µm."""
        x, y = c.floats(self.command(c.chuck_xy()).message, 2)
        z = c.floats(self.command(c.chuck_z()).message, 1)[0]
        return x, y, z
