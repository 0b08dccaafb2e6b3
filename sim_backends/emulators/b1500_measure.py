"""Measurement part of the B1500A emulator: spot (TI/TV), staircase sweep (WV/MM 2) and
sampling (MT/MV/MM 10), in FMT 1 with compliance (C) and overflow (V) statuses."""
from __future__ import annotations

from instruments.b1500 import constants as k
from instruments.b1500.parse import format_datum

#: largest current an SMU sources or measures (HRSMU: 100 mA)
I_MAX_A = 0.1


class MeasureMixin:
    """Handlers for TI, TV, MM, WV, WT, MT, MV and XE."""

    def _measure_i(self, ch: int) -> str:
        if ch not in self.enabled:
            raise self.Err(200)
        _, _, comp = self.source.get(ch, ("V", 0.0, 0.1))
        i = self.bench.current(f"SMU{ch}")
        status = "N"
        if self.faults.take("", ("compliance",)) or abs(i) > comp:
            status, i = "C", comp if i >= 0 else -comp
        if abs(i) > I_MAX_A:
            status, i = "V", k.DUMMY_VALUE
        return format_datum(status, ch, "I", i)

    def cmd_TI(self, a):
        self.need(a, 1, 2)
        return self._measure_i(self._smu(a[0]))

    def cmd_TV(self, a):
        self.need(a, 1, 2)
        ch = self._smu(a[0])
        if ch not in self.enabled:
            raise self.Err(200)
        mode, v, _ = self.source.get(ch, ("V", 0.0, 0.1))
        return format_datum("N", ch, "V", v if mode == "V" else 0.0)

    def cmd_MM(self, a):
        self.need(a, 1, 11)
        mode = int(a[0])
        if mode not in (k.MM_SPOT, k.MM_STAIRCASE, k.MM_SAMPLING):
            raise self.Err(120)
        chs = [self._smu(c) for c in a[1:]]
        if not chs:
            raise self.Err(122)
        self.mm = (mode, chs)

    def cmd_WV(self, a):
        self.need(a, 6, 8)
        ch = self._smu(a[0])
        n = int(a[5])
        if int(a[1]) not in (1, 2, 3, 4) or not 1 <= n <= 10001:
            raise self.Err(120)
        self.sweep = (ch, a[3], a[4], n, abs(a[6]) if len(a) > 6 else 0.1)

    def cmd_WT(self, a):
        self.need(a, 2, 5)
        self.wt = (a[0], a[1])

    def cmd_MT(self, a):
        self.need(a, 3, 4)
        if a[1] <= 0 or not 1 <= int(a[2]) <= 100001:
            raise self.Err(120)
        self.mt = (a[0], a[1], int(a[2]))

    def cmd_MV(self, a):
        self.need(a, 4, 5)
        self.mv = (self._smu(a[0]), a[2], a[3], abs(a[4]) if len(a) > 4 else 0.1)

    def _step(self, ch: int, v: float, dwell_s: float) -> None:
        """Set an SMU level; stress the devices for ``dwell_s`` if it drives a gate."""
        self.bench.set_level(f"SMU{ch}", v)
        if dwell_s > 0 and any(p[0] in "GT" for p in self.bench.routed_pins(f"SMU{ch}")):
            self.bench.pulse([({}, dwell_s)])

    def cmd_XE(self, a):
        mode, chs = self.mm
        if mode == k.MM_SPOT:
            return ",".join(self._measure_i(c) for c in chs)
        if mode == k.MM_STAIRCASE:
            if self.sweep is None or self.sweep[0] not in self.enabled:
                raise self.Err(200 if self.sweep else 120)
            ch, start, stop, n, comp = self.sweep
            self.source[ch] = ("V", start, comp)
            out = []
            for j in range(n):
                v = start + (stop - start) * j / max(n - 1, 1)
                self.source[ch] = ("V", v, comp)
                self._step(ch, v, (self.wt[0] if j == 0 else 0.0) + max(self.wt[1], 1e-3))
                out += [self._measure_i(c) for c in chs]
            return ",".join(out)
        if self.mv is None:
            raise self.Err(120)
        ch, base, bias, comp = self.mv
        self.source[ch] = ("V", bias, comp)
        hold, interval, n = self.mt
        self._step(ch, bias, hold)
        out = []
        for _ in range(n):
            out += [self._measure_i(c) for c in chs]
            self._step(ch, bias, interval)
        self.source[ch] = ("V", base, comp)
        self._apply_source(ch)
        return ",".join(out)
