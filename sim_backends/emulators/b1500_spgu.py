"""SPGU part of the B1500A emulator: 2-level pulses that act on the bench physics.

Setters SIM, SPPER, SPM, SPT, SPV, SPRM, ODSW, SER, SPUPD, SRP, SPP and their read-backs
SIM?, SPPER?, SPM?, SPT?, SPV?, SPRM?, ODSW?, SER?, SPST?.  Query replies are plain
comma-separated numbers, NR1 for integers and NR3 (``+1.000000E-06``) for values
(assumption; PyMeasure 0.16.0 parses them with ``float``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from sim_backends.emulators.flex import FlexError, check_count, integer, number

SIM_PG = 0
SPM_DC = 0
SPRM_FREE_RUN, SPRM_COUNT, SPRM_DURATION = 0, 1, 2
V_MAX = 40.0
PERIOD_MIN_S, PERIOD_MAX_S = 20e-9, 10.0
WIDTH_MIN_S = 10e-9


def nr3(v: float) -> str:
    return f"{v:+.6E}"


@dataclass
class PulseSource:
    """Timing and levels of one pulse source (1 or 2) of a channel."""

    delay_s: float = 0.0
    width_s: float = 100e-9
    lead_s: float = 20e-9
    trail_s: float = 20e-9
    base_V: float = 0.0
    peak_V: float = 0.0


@dataclass
class SpguChannel:
    spm: int = SPM_DC
    src: dict[int, PulseSource] = field(default_factory=lambda: {1: PulseSource(), 2: PulseSource()})
    odsw: tuple[int, int, float, float] = (0, 0, 0.0, 100e-9)
    load_ohm: float = 50.0

    # the source-1 attributes the lab wirings read
    @property
    def base_V(self) -> float: return self.src[1].base_V
    @property
    def peak_V(self) -> float: return self.src[1].peak_V
    @property
    def width_s(self) -> float: return self.src[1].width_s
    @property
    def delay_s(self) -> float: return self.src[1].delay_s


class SpguMixin:
    """Handlers for the SPGU commands."""

    def _spgu_reset(self) -> None:
        self.spgu = {ch: SpguChannel() for ch in self.spgu_channels()}
        self.spgu_period_s = 1e-6
        self.sprm: tuple[int, float] = (SPRM_FREE_RUN, 0.0)
        self.spgu_running_since: float | None = None
        self.sim_mode = SIM_PG

    def _spgu_ch(self, text: str) -> SpguChannel:
        ch = integer(text)
        if ch not in self.spgu:
            raise FlexError(305 if ch >= 100 else 120)
        return self.spgu[ch]

    def _need_spgu(self) -> None:
        if not self.spgu:
            raise FlexError(305)

    def _source(self, text: str) -> int:
        s = integer(text)
        if s not in (1, 2):
            raise FlexError(120)
        return s

    def cmd_SIM(self, a):
        check_count(a, 1, 1)
        self._need_spgu()
        self.sim_mode = self._choice(a[0], (0, 1))

    def cmd_SIMq(self, a):
        check_count(a, 0, 0)
        self._need_spgu()
        return str(self.sim_mode)

    def cmd_SPPER(self, a):
        check_count(a, 1, 1)
        self._need_spgu()
        v = number(a[0])
        if not PERIOD_MIN_S <= v <= PERIOD_MAX_S:
            raise FlexError(120)
        self.spgu_period_s = v

    def cmd_SPPERq(self, a):
        check_count(a, 0, 0)
        self._need_spgu()
        return nr3(self.spgu_period_s)

    def cmd_SPM(self, a):
        check_count(a, 2, 2)
        self._spgu_ch(a[0]).spm = self._choice(a[1], (0, 1, 2, 3))

    def cmd_SPMq(self, a):
        check_count(a, 1, 1)
        return str(self._spgu_ch(a[0]).spm)

    def cmd_SPT(self, a):
        """``SPT ch,src,delay,width,lead[,trail]`` (trail = lead when omitted)."""
        check_count(a, 5, 6)
        ch, s = self._spgu_ch(a[0]), self._source(a[1])
        delay, width, lead = number(a[2]), number(a[3]), number(a[4])
        trail = number(a[5]) if len(a) > 5 else lead
        if delay < 0 or width < WIDTH_MIN_S or lead <= 0 or trail <= 0:
            raise FlexError(120)
        if delay + width >= self.spgu_period_s:
            raise FlexError(120)
        src = ch.src[s]
        src.delay_s, src.width_s, src.lead_s, src.trail_s = delay, width, lead, trail

    def cmd_SPTq(self, a):
        check_count(a, 2, 2)
        src = self._spgu_ch(a[0]).src[self._source(a[1])]
        return ",".join(nr3(v) for v in (src.delay_s, src.width_s, src.lead_s, src.trail_s))

    def cmd_SPV(self, a):
        check_count(a, 3, 4)
        ch, s = self._spgu_ch(a[0]), self._source(a[1])
        base = number(a[2])
        peak = number(a[3]) if len(a) > 3 else base
        if abs(base) > V_MAX or abs(peak) > V_MAX:
            raise FlexError(120)
        ch.src[s].base_V, ch.src[s].peak_V = base, peak

    def cmd_SPVq(self, a):
        check_count(a, 2, 2)
        src = self._spgu_ch(a[0]).src[self._source(a[1])]
        return f"{nr3(src.base_V)},{nr3(src.peak_V)}"

    def cmd_SPRM(self, a):
        check_count(a, 1, 2)
        self._need_spgu()
        mode = self._choice(a[0], (0, 1, 2))
        cond = number(a[1]) if len(a) > 1 else 0.0
        if mode == SPRM_COUNT and not (1 <= cond <= 1e6 and cond == int(cond)):
            raise FlexError(120)
        if mode == SPRM_DURATION and not 1e-6 <= cond <= 31_556_926:
            raise FlexError(120)
        self.sprm = (mode, cond)

    def cmd_SPRMq(self, a):
        check_count(a, 0, 0)
        self._need_spgu()
        mode, cond = self.sprm
        return f"{mode},{int(cond)}" if mode != SPRM_DURATION else f"{mode},{nr3(cond)}"

    def cmd_ODSW(self, a):
        check_count(a, 2, 5)
        ch = self._spgu_ch(a[0])
        state = self._choice(a[1], (0, 1))
        normal = self._choice(a[2], (0, 1)) if len(a) > 2 else 0
        if len(a) == 4:
            raise FlexError(103)  # delay and width come together
        delay, width = (number(a[3]), number(a[4])) if len(a) > 4 else (0.0, 100e-9)
        ch.odsw = (state, normal, delay, width)

    def cmd_ODSWq(self, a):
        check_count(a, 1, 1)
        s, n, d, w = self._spgu_ch(a[0]).odsw
        return f"{s},{n},{nr3(d)},{nr3(w)}"

    def cmd_SER(self, a):
        check_count(a, 2, 2)
        ch, r = self._spgu_ch(a[0]), number(a[1])
        if not 0.1 <= r <= 1e6:
            raise FlexError(120)
        ch.load_ohm = r

    def cmd_SERq(self, a):
        check_count(a, 1, 1)
        return nr3(self._spgu_ch(a[0]).load_ohm)

    def cmd_SPUPD(self, a):
        self._need_spgu()
        for c in (a or [str(c) for c in self.spgu]):
            ch = self._spgu_ch(c)
            if integer(c) in self.enabled:
                self.bench.set_level(f"SPGU{integer(c)}", ch.base_V)

    def _active(self) -> dict[int, SpguChannel]:
        return {c: ch for c, ch in self.spgu.items() if c in self.enabled and ch.spm != SPM_DC}

    def _fire(self, n: int) -> None:
        act = self._active()
        if not act or n <= 0:
            return
        # sources each channel outputs: SPM 1 -> source 1, 2 -> source 2, 3 -> both (summed)
        srcs = {c: [ch.src[s] for s in ((1,) if ch.spm == 1 else (2,) if ch.spm == 2 else (1, 2))]
                for c, ch in act.items()}
        # piecewise-constant segments between the distinct pulse edges
        edges = sorted({0.0} | {p.delay_s for ps in srcs.values() for p in ps}
                       | {p.delay_s + p.width_s for ps in srcs.values() for p in ps})
        segs = []
        for t0, t1 in zip(edges, edges[1:]):
            over = {}
            for c, ps in srcs.items():
                on = [p for p in ps if p.delay_s <= t0 and t1 <= p.delay_s + p.width_s]
                if on:
                    over[f"SPGU{c}"] = ps[0].base_V + sum(p.peak_V - p.base_V for p in on)
            segs.append((over, t1 - t0))
        self.bench.pulse(segs, count=n, period_s=self.spgu_period_s)
        self.pulses_fired = getattr(self, "pulses_fired", 0) + n

    def cmd_SRP(self, a):
        check_count(a, 0, 0)
        self._need_spgu()
        if not self._active():
            raise FlexError(200)
        mode, cond = self.sprm
        if mode == SPRM_COUNT:
            self._fire(int(cond))
        elif mode == SPRM_DURATION:
            self._fire(int(cond // self.spgu_period_s))
        else:  # free run: count the periods that really elapse until SPP
            self.spgu_running_since = time.monotonic()

    def _spgu_stop(self) -> None:
        if self.spgu_running_since is not None:
            n = int((time.monotonic() - self.spgu_running_since) // self.spgu_period_s)
            self.spgu_running_since = None
            self._fire(min(n, 10_000_000))

    def cmd_SPP(self, a):
        check_count(a, 0, 0)
        self._need_spgu()
        self._spgu_stop()

    def cmd_SPSTq(self, a):
        check_count(a, 0, 0)
        self._need_spgu()
        return "1" if self.spgu_running_since is not None else "0"
