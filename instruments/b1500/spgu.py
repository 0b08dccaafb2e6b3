"""B1525A SPGU (semiconductor pulse generator unit) inside a B1500A: 2-level pulses."""
from __future__ import annotations

import time
from typing import Sequence

from hil.errors import InstrumentError, ParameterError
from instruments.b1500 import commands as c
from instruments.b1500 import constants as k
from instruments.b1500 import parse as p
from instruments.b1500.driver import B1500

#: SPGU limits (B1525A): ±40 V open load, pulse width 10 ns … period − 10 ns, period 20 ns … 10 s
V_MAX = 40.0
PERIOD_MIN_S, PERIOD_MAX_S = 20e-9, 10.0
WIDTH_MIN_S = 10e-9
EDGE_S = 20e-9


class SPGU:
    """Two-level pulse outputs of one SPGU module (channels ``100*slot+1``, ``100*slot+2``)."""

    def __init__(self, b1500: B1500, channels: Sequence[int]) -> None:
        self.b = b1500
        self.channels = list(channels)

    def setup(self, period_s: float) -> None:
        """Pulse generator mode, common period, and channels enabled in 2-level mode."""
        if not PERIOD_MIN_S <= period_s <= PERIOD_MAX_S:
            raise ParameterError(f"SPGU period_s must be {PERIOD_MIN_S:g}..{PERIOD_MAX_S:g} s, "
                                 f"got {period_s!r}")
        self.period_s = float(period_s)
        self.b.write(c.sim(k.SIM_PG))
        self.b.write(c.spper(period_s))
        self.b.write(c.cn(self.channels))
        for ch in self.channels:
            self.b.write(c.spm(ch, k.SPM_2LEVEL_SRC1))

    def configure(self, ch: int, base_V: float, peak_V: float, width_s: float,
                  delay_s: float = 0.0, edge_s: float = EDGE_S) -> None:
        """Level and timing of channel ``ch`` (pulse source 1)."""
        if ch not in self.channels:
            raise ParameterError(f"SPGU channel {ch!r} is not one of {self.channels}")
        for name, v in (("base_V", base_V), ("peak_V", peak_V)):
            if abs(v) > V_MAX:
                raise ParameterError(f"SPGU {name} must be within ±{V_MAX:g} V, got {v!r}")
        period = getattr(self, "period_s", None)
        if not WIDTH_MIN_S <= width_s or (period is not None and delay_s + width_s >= period):
            raise ParameterError(f"SPGU width_s must be >= {WIDTH_MIN_S:g} s and delay+width < "
                                 f"period {period!r} s, got width_s={width_s!r}")
        self.b.write(c.spt(ch, 1, delay_s, width_s, edge_s, edge_s))
        self.b.write(c.spv(ch, 1, base_V, peak_V))

    def output_switch(self, ch: int, on: bool) -> None:
        """Pulse switch (``ODSW``): connect the output only around the pulse when on."""
        self.b.write(c.odsw(ch, on))

    def count(self, n: int) -> None:
        """Output ``n`` pulses per start (``SPRM 1,n``)."""
        if not 1 <= n <= 1_000_000:
            raise ParameterError(f"SPGU pulse count must be 1..1000000, got {n!r}")
        self.b.write(c.sprm(k.SPRM_COUNT, n))

    def apply(self) -> None:
        """Apply the setup (``SPUPD``): outputs go to their base levels."""
        self.b.write(c.spupd(self.channels))

    def start(self) -> None:
        """Start output (``SRP``)."""
        self.b.write(c.srp())

    def stop(self) -> None:
        """Stop output (``SPP``)."""
        self.b.write(c.spp())

    def busy(self) -> bool:
        """``SPST?``: True while pulses are being output."""
        return p.parse_spst(self.b.ask(c.spst()))

    def read_back(self, ch: int) -> dict[str, float]:
        """What the SPGU holds for channel ``ch`` (source 1): period, output mode, timing,
        levels, load and the output mode condition (``SPPER? SPM? SPT? SPV? SER? SPRM?``)."""
        delay, width, lead, trail = p.parse_numbers(self.b.ask(c.spt_q(ch, 1)), 4, "SPT?")
        base, peak = p.parse_numbers(self.b.ask(c.spv_q(ch, 1)), 2, "SPV?")
        mode, cond = p.parse_numbers(self.b.ask(c.sprm_q()), 2, "SPRM?")
        return {"period_s": p.parse_numbers(self.b.ask(c.spper_q()), 1, "SPPER?")[0],
                "spm": int(p.parse_numbers(self.b.ask(c.spm_q(ch)), 1, "SPM?")[0]),
                "delay_s": delay, "width_s": width, "lead_s": lead, "trail_s": trail,
                "base_V": base, "peak_V": peak,
                "load_ohm": p.parse_numbers(self.b.ask(c.ser_q(ch)), 1, "SER?")[0],
                "sprm": int(mode), "condition": cond}

    def run(self, n: int, timeout_s: float | None = None, poll_s: float = 0.01) -> None:
        """Output ``n`` pulses and wait until done (never re-sends on error: not idempotent)."""
        self.count(n)
        self.apply()
        self.start()
        budget = timeout_s if timeout_s is not None else n * self.period_s + 5.0
        deadline = time.monotonic() + budget
        while self.busy():
            if time.monotonic() > deadline:
                raise InstrumentError(f"SPGU still busy after {budget:g} s ({n} pulses)")
            time.sleep(poll_s)
