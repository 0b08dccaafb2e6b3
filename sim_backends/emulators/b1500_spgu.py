"""SPGU part of the B1500A emulator: 2-level pulses that act on the bench physics."""
from __future__ import annotations

import time
from dataclasses import dataclass

from instruments.b1500 import constants as k


@dataclass
class SpguChannel:
    spm: int = k.SPM_DC
    delay_s: float = 0.0
    width_s: float = 1e-6
    lead_s: float = 20e-9
    trail_s: float = 20e-9
    base_V: float = 0.0
    peak_V: float = 0.0
    switch_on: bool = True


class SpguMixin:
    """Handlers for SIM, SPPER, SPM, SPT, SPV, SPRM, SPUPD, SRP, SPP, SPST?, ODSW, SER."""

    def _spgu_reset(self) -> None:
        self.spgu = {ch: SpguChannel() for ch in self.spgu_channels()}
        self.spgu_period_s = 1e-6
        self.sprm = (k.SPRM_FREE_RUN, 0.0)
        self.spgu_running_since: float | None = None
        self.sim_mode = k.SIM_PG

    def _spgu_ch(self, ch: float) -> SpguChannel:
        ch = int(ch)
        if ch not in self.spgu:
            raise self.Err(305 if ch >= 100 else 120)
        return self.spgu[ch]

    def cmd_SIM(self, a):
        self.need(a, 1, 1)
        if int(a[0]) not in (0, 1):
            raise self.Err(120)
        self.sim_mode = int(a[0])

    def cmd_SPPER(self, a):
        self.need(a, 1, 1)
        if not 20e-9 <= a[0] <= 10.0:
            raise self.Err(120)
        self.spgu_period_s = a[0]

    def cmd_SPM(self, a):
        self.need(a, 2, 2)
        if int(a[1]) not in (0, 1, 2, 3):
            raise self.Err(120)
        self._spgu_ch(a[0]).spm = int(a[1])

    def cmd_SPT(self, a):
        self.need(a, 6, 6)
        ch = self._spgu_ch(a[0])
        if int(a[1]) not in (1, 2) or a[3] < 10e-9 or a[2] < 0 or a[4] <= 0 or a[5] <= 0:
            raise self.Err(120)
        if a[2] + a[3] >= self.spgu_period_s:
            raise self.Err(120)
        if int(a[1]) == 1:
            ch.delay_s, ch.width_s, ch.lead_s, ch.trail_s = a[2], a[3], a[4], a[5]

    def cmd_SPV(self, a):
        self.need(a, 4, 4)
        ch = self._spgu_ch(a[0])
        if int(a[1]) not in (1, 2) or abs(a[2]) > 40 or abs(a[3]) > 40:
            raise self.Err(120)
        if int(a[1]) == 1:
            ch.base_V, ch.peak_V = a[2], a[3]

    def cmd_SPRM(self, a):
        self.need(a, 1, 2)
        mode = int(a[0])
        if mode not in (0, 1, 2) or (mode and len(a) < 2) or (mode == 1 and not 1 <= a[1] <= 1e6):
            raise self.Err(120)
        self.sprm = (mode, a[1] if len(a) > 1 else 0.0)

    def cmd_ODSW(self, a):
        self.need(a, 2, 5)
        self._spgu_ch(a[0]).switch_on = bool(int(a[1]))

    def cmd_SER(self, a):
        self.need(a, 2, 2)
        self._spgu_ch(a[0])

    def cmd_SPUPD(self, a):
        for c in (a or list(self.spgu)):
            ch = self._spgu_ch(c)
            if int(c) in self.enabled:
                self.bench.set_level(f"SPGU{int(c)}", ch.base_V)

    def _active(self) -> dict[int, SpguChannel]:
        return {c: ch for c, ch in self.spgu.items() if c in self.enabled and ch.spm != k.SPM_DC}

    def _fire(self, n: int) -> None:
        act = self._active()
        if not act or n <= 0:
            return
        # piecewise-constant segments from the distinct pulse edges (delay, delay + width)
        edges = sorted({0.0} | {c.delay_s for c in act.values()}
                       | {c.delay_s + c.width_s for c in act.values()})
        segs = []
        for t0, t1 in zip(edges, edges[1:]):
            over = {f"SPGU{c}": ch.peak_V for c, ch in act.items()
                    if ch.delay_s <= t0 and t1 <= ch.delay_s + ch.width_s}
            segs.append((over, t1 - t0))
        self.bench.pulse(segs, count=n, period_s=self.spgu_period_s)

    def cmd_SRP(self, a):
        self.need(a, 0, 0)
        if not self._active():
            raise self.Err(200)
        mode, cond = self.sprm
        if mode == k.SPRM_COUNT:
            self._fire(int(cond))
        elif mode == k.SPRM_DURATION:
            self._fire(int(cond // self.spgu_period_s))
        else:  # free run: count the periods that really elapse until SPP
            self.spgu_running_since = time.monotonic()

    def cmd_SPP(self, a):
        self.need(a, 0, 0)
        if self.spgu_running_since is not None:
            n = int((time.monotonic() - self.spgu_running_since) // self.spgu_period_s)
            self.spgu_running_since = None
            self._fire(min(n, 10_000_000))

    def cmd_SPSTq(self, a):
        self.need(a, 0, 0)
        return "1" if self.spgu_running_since is not None else "0"
