"""Measurement part of the B1500A emulator: high-speed spot (TI/TV/TTI/TTV/TIV/TTIV), spot,
staircase sweep (WV/WT/WM + MM 2) and sampling (MT/MV/MSC/ML + MM 10), with compliance (C)
and overflow (V) statuses, in the data format chosen by FMT.

``XE`` returns `Deferred` data: a socket session holds it for its measurement time, and a
``*OPC?`` sent meanwhile is answered first (docs/emulator-b1500.md, "XE and *OPC?").
Sampling without ``MV`` samples the channels at their DC output (``DV``), as QCoDeS runs it.
A ``TI``/``TV`` line, once answered, is answered again as a quick line
(`line.LineEmulator.offer_quick`): the same reading and reply, without the parser.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

from hil.errors import HilError
from sim_backends.emulators import flex_data as fd
from sim_backends.emulators.b1500_smu import I_MAX_A, V_MAX_V, V_RANGES
from sim_backends.emulators.flex import FlexError, check_count, integer, number
from sim_backends.emulators.line import Deferred

MM_SPOT, MM_STAIRCASE, MM_SAMPLING = 1, 2, 10
#: shortest emulated step dwell (s): what the physics sees for a step with no delay set
MIN_STEP_S = 1e-3


@dataclass
class Sweep:
    """``WV ch,mode,range,start,stop,step[,Icomp[,Pcomp]]``."""

    ch: int
    mode: int
    out_range: int
    start: float
    stop: float
    n: int
    comp: float | None
    pcomp: float | None

    def values(self) -> list[float]:
        """Source value of every step: linear/log (1/2), two-way linear/log (3/4)."""
        n = self.n
        if self.mode in (2, 4):
            f = [self.start * (self.stop / self.start) ** (j / max(n - 1, 1)) for j in range(n)]
        else:
            f = [self.start + (self.stop - self.start) * j / max(n - 1, 1) for j in range(n)]
        return f + f[::-1] if self.mode in (3, 4) else f


class MeasureMixin:
    """Handlers for the measurement commands."""

    _spot_chs: dict[tuple[str, ...], int]

    def _measure_reset(self) -> None:
        self._spot_chs = {}   # spot-measurement parameters -> validated SMU channel
        self.mm: tuple[int, list[int]] | None = None
        self.sweep: Sweep | None = None
        self.wt = (0.0, 0.0, 0.0, 0.0, 0.0)
        self.wm = (1, 1)
        self.mt = (0.0, 2e-3, 1000, 0.0)
        self.mv: tuple[int, int, float, float, float] | None = None
        self.msc = (1, 1)
        self.ml = 1

    # -- one reading -----------------------------------------------------------------------
    def _read(self, ch: int, kind: str = "I") -> tuple[str, float]:
        """(status letter, value) of current or voltage on an enabled SMU."""
        if ch not in self.enabled:
            raise FlexError(200)
        s = self.smu[ch]
        if kind == "V":
            return "N", s.value if s.mode == "V" else 0.0
        return self._judge(s, self.bench.current(f"SMU{ch}"))

    def _judge(self, s: Any, i: float) -> tuple[str, float]:
        """(status letter, value) of the current ``i`` (A) measured on the SMU ``s``:
        compliance (C, also a planned ``compliance`` fault) and overflow (V)."""
        status = "N"
        if (self.faults.pending and self.faults.take("", ("compliance",))) \
                or (s.mode == "V" and abs(i) > s.comp):
            status, i = "C", math.copysign(s.comp, i)
        if abs(i) > I_MAX_A:
            status, i = "V", fd.DUMMY
        return status, i

    def _d(self, status: str, ch: int, kind: str, value: float, source: bool = False) -> str:
        return fd.datum(self.fmt[0], status, ch, kind, value, source)

    def _stamp(self, ch: int, t_s: float) -> list[str]:
        return [self._d("N", ch, "T", t_s)] if self.tsc else []

    def _now(self) -> float:
        """Seconds since the time stamp was last cleared (``TSR``)."""
        return time.monotonic() - self.t0

    # -- high-speed spot -------------------------------------------------------------------
    def _spot(self, a, kinds: str, timed: bool) -> str:
        ch = self._spot_chs.get(a)
        if ch is None:   # validated once per parameter list (the installed SMUs never change)
            check_count(a, 1, 3)
            ch = self._smu(a[0])
            if len(self._spot_chs) >= 64:
                self._spot_chs.clear()
            self._spot_chs[a] = ch
        if len(kinds) == 1 and not timed:   # TI / TV: one datum
            self.offer_quick(self._quick_spot(ch, kinds))
            status, v = self._read(ch, kinds)
            return self._d(status, ch, kinds, v)
        out = [self._d("N", ch, "T", self._now())] if timed else []
        for k in kinds:
            status, v = self._read(ch, k)
            out.append(self._d(status, ch, k, v))
        return ",".join(out)

    def _quick_spot(self, ch: int, kind: str) -> "Callable[[], bytes | None]":
        """The quick answer of a ``TI``/``TV`` line on the validated SMU ``ch`` in the present
        data format: the reply line of `_spot`, encoded; None (the full path answers, and
        queues the error or plans anew) after ``FMT``, with the channel off, and (TI) once
        the routing changed or while the probes are off the pads.  A ``TI`` on one cell
        reads it through the bench's one-cell current (`Bench.spot`, called under the bench
        lock, which `feed` holds), else through `_read`.  Quick answers run only with no
        fault planned (`feed`), so `_judge` sees none."""
        fmt = self.fmt
        line = fd.datum_line(fmt[0], "N", ch, kind, self.terminator)
        term = self.terminator

        if kind == "V":
            def answer_v() -> bytes | None:
                if self.fmt is not fmt or ch not in self.enabled:
                    return None
                s = self.smu[ch]
                return line(s.value if s.mode == "V" else 0.0)
            return answer_v
        cell = self.bench.spot(f"SMU{ch}") if self.lock is self.bench.lock else None
        if cell is None:
            read, stamp = self._read, self.bench.routes.stamp

            def answer_read() -> bytes | None:
                if self.fmt is not fmt or self.bench.routes.stamp != stamp:
                    return None   # (new routes: perhaps one cell now)
                try:
                    status, v = read(ch, kind)
                except (FlexError, HilError, ValueError):   # refused before any reading
                    return None                             # (channel off): the full path
                if status == "N":
                    return line(v)
                return (self._d(status, ch, kind, v) + term).encode("ascii")
            return answer_read

        i_max = I_MAX_A

        def answer() -> bytes | None:
            if self.fmt is not fmt or ch not in self.enabled:
                return None
            try:
                i = cell()
            except (HilError, ValueError):   # the physics refused: the full path, as above
                return None
            if i is None:   # routing changed or no contact: nothing read
                return None
            s = self.smu[ch]
            a = i if i >= 0.0 else -i
            if a <= i_max and (a <= s.comp or s.mode != "V"):   # `_judge`'s "N"
                return line(i)
            status, i = self._judge(s, i)
            return (self._d(status, ch, kind, i) + term).encode("ascii")
        return answer

    def cmd_TI(self, a): return self._spot(a, "I", False)
    def cmd_TV(self, a): return self._spot(a, "V", False)
    def cmd_TTI(self, a): return self._spot(a, "I", True)
    def cmd_TTV(self, a): return self._spot(a, "V", True)
    def cmd_TIV(self, a): return self._spot(a, "IV", False)
    def cmd_TTIV(self, a): return self._spot(a, "IV", True)

    # -- setup -----------------------------------------------------------------------------
    def cmd_MM(self, a):
        check_count(a, 1, 11)
        mode = integer(a[0])
        if mode not in (MM_SPOT, MM_STAIRCASE, MM_SAMPLING):
            raise FlexError(120)  # other modes (pulsed, search, CV, ...) are not emulated
        chs = [self._smu(c) for c in a[1:]]
        if not chs or len(set(chs)) != len(chs):
            raise FlexError(122)
        self.mm = (mode, chs)

    def cmd_WV(self, a):
        check_count(a, 6, 8)
        ch = self._smu(a[0])
        mode, rng, n = integer(a[1]), integer(a[2]), integer(a[5])
        start, stop = number(a[3]), number(a[4])
        comp = abs(number(a[6])) if len(a) > 6 else None
        pcomp = number(a[7]) if len(a) > 7 else None
        if mode not in (1, 2, 3, 4) or rng not in V_RANGES or not 1 <= n <= 10001:
            raise FlexError(120)
        if max(abs(start), abs(stop)) > V_MAX_V or (comp is not None and not 0 < comp <= I_MAX_A):
            raise FlexError(120)
        if mode in (2, 4) and (start == 0 or stop == 0 or (start > 0) != (stop > 0)):
            raise FlexError(120)  # log sweeps need start and stop of one polarity
        if pcomp is not None and not 0.001 <= pcomp <= 2:
            raise FlexError(120)
        self.sweep = Sweep(ch, mode, rng, start, stop, n, comp, pcomp)

    def cmd_WT(self, a):
        check_count(a, 2, 5)
        v = [number(x) for x in a] + [0.0] * (5 - len(a))
        if not (0 <= v[0] <= 655.35 and 0 <= v[1] <= 65.535 and 0 <= v[2] <= 1
                and all(0 <= x <= 65.535 for x in v[3:])):
            raise FlexError(120)
        self.wt = tuple(v)

    def cmd_WM(self, a):
        check_count(a, 1, 2)
        self.wm = (self._choice(a[0], (1, 2)),
                   self._choice(a[1], (1, 2)) if len(a) > 1 else self.wm[1])

    def cmd_MT(self, a):
        check_count(a, 3, 4)
        hb, interval, n = number(a[0]), number(a[1]), integer(a[2])
        hbase = number(a[3]) if len(a) > 3 else 0.0
        if not (-0.09 <= hb <= 655.35 and 1e-4 <= interval <= 65.535 and 1 <= n <= 100001
                and 0 <= hbase <= 655.35):
            raise FlexError(120)
        self.mt = (hb, interval, n, hbase)

    def cmd_MV(self, a):
        check_count(a, 4, 5)
        ch, rng = self._smu(a[0]), integer(a[1])
        base, bias = number(a[2]), number(a[3])
        comp = abs(number(a[4])) if len(a) > 4 else self.smu[ch].comp
        if rng not in V_RANGES or max(abs(base), abs(bias)) > V_MAX_V or not 0 < comp <= I_MAX_A:
            raise FlexError(120)
        self.mv = (ch, rng, base, bias, comp)

    def cmd_MSC(self, a):
        check_count(a, 1, 2)
        self.msc = (self._choice(a[0], (1, 2)),
                    self._choice(a[1], (1, 2)) if len(a) > 1 else self.msc[1])

    def cmd_ML(self, a):
        check_count(a, 1, 1)
        self.ml = self._choice(a[0], (1,))  # log sampling (2, 3, 4) is not emulated

    # -- running ---------------------------------------------------------------------------
    def _dwell(self, ch: int, v: float, dwell_s: float) -> None:
        """Set an SMU level, then hold it for ``dwell_s``."""
        self.bench.set_level(f"SMU{ch}", v)
        self._stress(ch, dwell_s)

    def _stress(self, ch: int, dwell_s: float) -> None:
        """The devices feel a DC level only while an SMU on a gate pin holds it."""
        if dwell_s > 0 and any(p[0] in "GT" for p in self.bench.routed_pins(f"SMU{ch}")):
            self.bench.pulse([({}, dwell_s)])

    def cmd_XE(self, a):
        check_count(a, 0, 0)
        if self.mm is None:
            raise FlexError(120)
        mode, chs = self.mm
        if mode == MM_SPOT:
            out = []
            for c in chs:
                status, v = self._read(c)
                out += self._stamp(c, self._now()) + [self._d(status, c, "I", v)]
            return Deferred(",".join(out))
        if mode == MM_STAIRCASE:
            return Deferred(self._staircase(chs))
        return Deferred(self._sampling(chs))

    def _staircase(self, chs: list[int]) -> str:
        sw = self.sweep
        if sw is None:
            raise FlexError(120)
        if sw.ch not in self.enabled:
            raise FlexError(200)
        s = self.smu[sw.ch]
        comp = sw.comp if sw.comp is not None else s.comp
        saved = (s.mode, s.value, s.comp)
        hold, delay, step_delay = self.wt[:3]
        values = sw.values()
        out, aborted, t = [], False, self._now()
        for j, v in enumerate(values):
            last = j == len(values) - 1
            if aborted:
                out += [self._d("V", c, "I", fd.DUMMY) for c in chs]
            else:
                s.mode, s.value, s.comp = "V", v, comp
                dwell = (hold if j == 0 else 0.0) + max(delay + step_delay, MIN_STEP_S)
                self._dwell(sw.ch, v, dwell)
                t += dwell
                for c in chs:
                    status, i = self._read(c)
                    out += self._stamp(c, t) + [self._d(status, c, "I", i)]
                    aborted |= status in "CV" and self.wm[0] == 2
            if self.fmt[1] == 1:
                out.append(self._d("E" if last else "W", sw.ch, "V", v, source=True))
        # after the sweep: start value if aborted or WM post = 1, else the stop value
        s.mode, s.comp = saved[0], saved[2]
        s.value = values[0] if aborted or self.wm[1] == 1 else values[-1]
        if saved[0] != "V":
            s.value = saved[1]
        self._apply_source(sw.ch)
        return ",".join(out)

    def _sampling(self, chs: list[int]) -> str:
        hb, interval, n, hbase = self.mt
        src = None
        if self.mv is not None:
            ch, _, base, bias, comp = self.mv
            if ch not in self.enabled:
                raise FlexError(200)
            s = self.smu[ch]
            src = (ch, s.mode, s.value, s.comp)
            s.mode, s.value, s.comp = "V", base, comp
            self._dwell(ch, base, hbase)
            s.value = bias
            self._dwell(ch, bias, max(hb, 0.0))
        for c in chs:
            if c not in self.enabled:
                raise FlexError(200)
        out, t = [], max(hb, 0.0)
        gate_src = src[0] if src else chs[0]
        for k in range(n):
            if self.fmt[1] == 1:
                out.append(self._d("N", 0, "X", k + 1))  # sampling index
            for c in chs:
                status, i = self._read(c)
                out += self._stamp(c, t) + [self._d(status, c, "I", i)]
            self._stress(gate_src, interval)
            t += interval
        if src is not None:  # MSC post: 1 = base value, 2 = bias value
            ch, mode, value, comp = src
            s = self.smu[ch]
            s.mode, s.comp = mode, comp
            s.value = self.mv[2] if self.msc[1] == 1 else self.mv[3]
            self._apply_source(ch)
        return ",".join(out)
