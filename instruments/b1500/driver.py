"""B1500A mainframe driver: SMU sourcing and measurement over FLEX.

Every configuration command is followed by ``ERRX?`` (unless ``check_errors=False``) so a
rejected command raises at once with the instrument's own code and message.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from hil.errors import InstrumentError, ParameterError
from hil.transport import Transport
from instruments._line import LineInstrument
from instruments.b1500 import commands as c
from instruments.b1500 import constants as k
from instruments.b1500 import parse as p
from instruments.b1500.parse import Datum

__all__ = ["B1500", "Datum", "B1500Error"]


class B1500Error(InstrumentError):
    """The B1500 put an error in its queue; ``code`` is the FLEX error number."""

    def __init__(self, code: int, message: str, command: str) -> None:
        super().__init__(f"B1500 error {code} after {command!r}: {message}")
        self.code = code


class B1500(LineInstrument):
    """Keysight B1500A on a transport (FLEX command set, ``FMT 1,0`` data)."""

    def __init__(self, transport: Transport, name: str = "b1500", check_errors: bool = True) -> None:
        super().__init__(transport, name)
        self.check_errors = check_errors
        self.slots: dict[int, str] = {}

    # -- plumbing --------------------------------------------------------------------------
    def write(self, cmd: str) -> None:
        """Send a command, then read ``ERRX?`` and raise `B1500Error` if it failed."""
        self.send(cmd)
        if self.check_errors:
            self.raise_errors(cmd)

    def raise_errors(self, after: str = "") -> None:
        """Drain the error queue; raise the first error found."""
        first: tuple[int, str] | None = None
        for _ in range(32):  # the queue is finite; never loop forever on a broken reply
            code, msg = p.parse_errx(self.ask(c.errx()))
            if code == 0:
                break
            first = first or (code, msg)
        if first:
            raise B1500Error(first[0], first[1], after)

    def wait_opc(self, timeout_s: float | None = None) -> None:
        """Block until all pending operations are complete (``*OPC?``)."""
        if not p.parse_opc(self.ask(c.opc(), timeout_s)):
            raise InstrumentError(f"{self.name}: *OPC? did not report completion")

    # -- identification ---------------------------------------------------------------------
    def identify(self) -> str:
        """``*IDN?`` reply."""
        return self.ask(c.idn())

    def discover(self) -> dict[int, str]:
        """``UNT?``: remember and return {slot: module kind}."""
        self.slots = p.modules(self.ask(c.unt()))
        return dict(self.slots)

    def smu_channels(self) -> list[int]:
        """Channel numbers of installed SMUs (after `discover`)."""
        return [s for s, kind in sorted(self.slots.items()) if kind in k.SMU_KINDS]

    def spgu_channels(self) -> list[int]:
        """Channel numbers of installed SPGU outputs (after `discover`)."""
        return [100 * s + i for s, kind in sorted(self.slots.items()) if kind == "SPGU"
                for i in (1, 2)]

    def setup(self) -> None:
        """Discover modules and select ASCII data with header (``FMT 1,0``)."""
        self.discover()
        self.write(c.fmt(1, 0))

    # -- channels and sourcing --------------------------------------------------------------
    def enable(self, channels: Iterable[int] = ()) -> None:
        """Close the output switches (``CN``)."""
        self.write(c.cn(list(channels)))

    def disable(self, channels: Iterable[int] = ()) -> None:
        """Open the output switches (``CL``)."""
        self.write(c.cl(list(channels)))

    def enabled(self) -> list[int]:
        """Channels whose output switch is closed (``*LRN? 0``)."""
        return p.parse_lrn0(self.ask(c.lrn(0)))

    def learn(self, type_code: int) -> list[tuple[str, list[str]]]:
        """Settings of one ``*LRN?`` type as (command, params), e.g. 31 -> TM, AV, CM, FMT, MM."""
        return p.parse_lrn(self.ask(c.lrn(type_code)))

    def measurement_mode(self) -> tuple[int, list[int]] | None:
        """(mode, channels) of ``MM`` from ``*LRN? 31``; None if no mode was set."""
        for head, params in self.learn(31):
            if head == "MM":
                return int(params[0]), [int(x) for x in params[1:]]
        return None

    def sweep_settings(self) -> dict[str, object]:
        """Staircase sweep setup from ``*LRN? 33``: ``abort``/``post`` (WM), ``hold_s``,
        ``delay_s`` (WT) and, once WV was sent, ``channel``, ``start_V``, ``stop_V``, ``n``."""
        out: dict[str, object] = {}
        for head, v in self.learn(33):
            if head == "WM":
                out["abort"], out["post"] = int(v[0]), int(v[1])
            elif head == "WT":
                out["hold_s"], out["delay_s"] = float(v[0]), float(v[1])
            elif head == "WV":
                out.update(channel=int(v[0]), mode=int(v[1]), start_V=float(v[3]),
                           stop_V=float(v[4]), n=int(v[5]))
                if len(v) > 6:
                    out["compliance_A"] = float(v[6])
        return out

    def force_voltage(self, ch: int, v_V: float, compliance_A: float, vrange: int = 0) -> None:
        """DC voltage with current compliance (``DV``)."""
        if not compliance_A > 0:
            raise ParameterError(f"compliance_A must be > 0 A, got {compliance_A!r}")
        self.write(c.dv(ch, v_V, compliance_A, vrange))

    def force_current(self, ch: int, i_A: float, compliance_V: float, irange: int = 0) -> None:
        """DC current with voltage compliance (``DI``)."""
        if not compliance_V > 0:
            raise ParameterError(f"compliance_V must be > 0 V, got {compliance_V!r}")
        self.write(c.di(ch, i_A, compliance_V, irange))

    def zero(self, channels: Iterable[int] = ()) -> None:
        """Outputs to 0 V (``DZ``)."""
        self.write(c.dz(list(channels)))

    def safe_state(self) -> None:
        """Teardown: stop SPGU pulses (``SPP``), every output to 0 V (``DZ``) and every
        output switch open (``CL``).  Works on a fresh connection (discovers modules)."""
        if not self.slots:
            self.discover()
        if self.spgu_channels():
            self.write(c.spp())
        self.write(c.dz())
        self.write(c.cl())

    # -- measurement ------------------------------------------------------------------------
    def integration(self, adc_type: int, mode: int, n: float) -> None:
        """ADC integration time (``AIT``), e.g. ``integration(1, 2, 1)`` = 1 PLC high-res."""
        self.write(c.ait(adc_type, mode, n))

    def spot_current(self, ch: int, timeout_s: float | None = None) -> Datum:
        """High-speed spot current (``TI``)."""
        return self._one(c.ti(ch), timeout_s)

    def spot_voltage(self, ch: int, timeout_s: float | None = None) -> Datum:
        """High-speed spot voltage (``TV``)."""
        return self._one(c.tv(ch), timeout_s)

    def _one(self, cmd: str, timeout_s: float | None) -> Datum:
        reply = self.ask(cmd, timeout_s)
        data = p.parse_data(reply)
        if len(data) != 1:
            raise InstrumentError(f"{cmd!r}: expected one datum, got {reply!r}")
        return data[0]

    def measure(self, timeout_s: float | None = None) -> list[Datum]:
        """Run the measurement set up with ``MM`` (``XE``) and read all its data."""
        self.send(c.xe())
        return p.parse_data(self.receive(timeout_s))

    def staircase_sweep(self, src_ch: int, start_V: float, stop_V: float, n: int,
                        compliance_A: float, meas_chs: Sequence[int] | None = None,
                        hold_s: float = 0.0, delay_s: float = 0.0,
                        step_time_s: float = 0.05) -> list[Datum]:
        """Staircase voltage sweep on ``src_ch`` measuring current on ``meas_chs``.

        The read timeout grows with the sweep (``n * (delay_s + step_time_s)`` + 5 s), so a
        long sweep never trips a fixed VISA timeout.
        """
        if not 1 <= n <= 10001:
            raise ParameterError(f"staircase sweep points n must be 1..10001, got {n!r}")
        meas = list(meas_chs or [src_ch])
        self.write(c.wv(src_ch, start_V, stop_V, n, compliance_A))
        self.write(c.wt(hold_s, delay_s))
        self.write(c.mm(k.MM_STAIRCASE, meas))
        return self.measure(timeout_s=hold_s + n * (delay_s + step_time_s) + 5.0)

    def sampling(self, ch: int, bias_V: float, compliance_A: float, interval_s: float, n: int,
                 base_V: float = 0.0, hold_s: float = 0.0) -> list[Datum]:
        """Sampling measurement (``MM 10``/``MT``/``MV``) of current on ``ch``."""
        if not 1 <= n <= 100001:
            raise ParameterError(f"sampling points n must be 1..100001, got {n!r}")
        self.write(c.mv(ch, base_V, bias_V, compliance_A))
        self.write(c.mt(hold_s, interval_s, n))
        self.write(c.mm(k.MM_SAMPLING, [ch]))
        return self.measure(timeout_s=hold_s + n * interval_s + 5.0)
