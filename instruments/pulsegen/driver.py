"""Pulse generator driver: pulse shape, levels, triggered bursts, output switch."""
from __future__ import annotations

from hil.errors import InstrumentError, ParameterError
from hil.transport import Transport
from instruments._line import ScpiInstrument
from instruments.pulsegen import commands as c


class PulseGeneratorError(InstrumentError):
    """The generator reported a SCPI error (negative codes are standard SCPI)."""

    def __init__(self, code: int, message: str, command: str) -> None:
        super().__init__(f"pulse generator error {code} after {command!r}: {message}")
        self.code = code


class PulseGenerator(ScpiInstrument):
    """33500/81160-class generator used as a burst pulse source."""

    def __init__(self, transport: Transport, name: str = "pulsegen", channel: int = 1,
                 check_errors: bool = True) -> None:
        super().__init__(transport, name, check_errors)
        self.channel = channel

    def error_class(self, code: int, message: str, command: str) -> InstrumentError:
        return PulseGeneratorError(code, message, command)

    def identify(self) -> str:
        return self.ask(c.idn())

    def configure(self, high_V: float, low_V: float, width_s: float, period_s: float) -> None:
        """Pulse function with levels and timing."""
        if not 0 < width_s < period_s:
            raise ParameterError(f"need 0 < width_s < period_s, got width_s={width_s!r}, "
                                 f"period_s={period_s!r}")
        if high_V < low_V:
            raise ParameterError(f"high_V {high_V!r} must be >= low_V {low_V!r}")
        ch = self.channel
        self.write(c.func_pulse(ch))
        self.write(c.period(ch, period_s))
        self.write(c.width(ch, width_s))
        self.write(c.low(ch, low_V))
        self.write(c.high(ch, high_V))
        self.period_s = period_s

    def burst(self, n: int) -> None:
        """Triggered burst of ``n`` pulses on bus trigger."""
        if not 1 <= n <= 100_000_000:
            raise ParameterError(f"burst count must be 1..1e8, got {n!r}")
        ch = self.channel
        self.write(c.burst_count(ch, n))
        self.write(c.burst_mode_triggered(ch))
        self.write(c.trigger_source(ch, "BUS"))
        self.write(c.burst_state(ch, True))

    def settings(self) -> dict[str, object]:
        """Read back what the generator holds (numbers as float, switches as bool)."""
        out: dict[str, object] = {}
        for key, q in c.settings_queries(self.channel).items():
            reply = self.ask(q).strip()
            if key in ("function", "burst_mode", "trigger_source"):
                out[key] = reply
            elif key in ("burst_on", "output_on"):
                out[key] = reply in ("1", "ON")
            else:
                try:
                    out[key] = float(reply)
                except ValueError:
                    raise InstrumentError(f"{self.name}: {q!r} answered {reply!r}, "
                                          "expected a number") from None
        return out

    def output(self, on: bool) -> None:
        self.write(c.output(self.channel, on))

    def safe_state(self, channels: list[int] | None = None) -> None:
        """Teardown: outputs off (``OUTPn OFF``) on ``channels`` (default this driver's)."""
        for ch in channels or [self.channel]:
            self.write(c.output(ch, False))

    def fire(self, timeout_s: float | None = None) -> None:
        """Send one bus trigger and wait for the burst to finish (``*OPC?``)."""
        self.send(c.trigger())
        if self.ask(c.opc(), timeout_s).strip() != "1":
            raise InstrumentError(f"{self.name}: *OPC? did not report completion")
