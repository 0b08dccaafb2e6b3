"""Keysight B1500A emulator (FLEX): SMUs and SPGU on an emulated bench.

Replies end in CR LF like the real instrument; several commands may share a line separated
by ``;``.  Unknown headers queue error 100, bad numbers 102, a wrong parameter count 103,
bad values 120, channels without a module 305; ``ERRX?`` pops the queue (``+0,"No Error."``
when empty).  Data use FMT 1 (ASCII with header, e.g. ``NAI+000.005E-09``).

Emulation limits (documented, not hidden): only ``FMT 1`` is supported (other formats
give error 120); DC bias on gate pins stresses the devices only during sweeps and pulses.
"""
from __future__ import annotations

import threading
from collections import deque

from hil.errors import HilError
from instruments.b1500 import constants as k
from sim_backends.emulators.b1500_measure import I_MAX_A, MeasureMixin
from sim_backends.emulators.b1500_spgu import SpguMixin
from sim_backends.emulators.bench import Bench
from sim_backends.emulators.line import LineEmulator

IDN = "Agilent Technologies,B1500A,HILEMU0001,A.06.02.2023.0401"
#: REFERENCE §8: UNT? of a real B1500A (SPGU, 2 WGFMU, 3 HRSMU, MPSMU, CMU)
DEFAULT_UNT = "B1525A,0;B1530A,0;B1530A,0;B1517A,0;B1517A,0;B1517A,0;B1511B,1;B1520A,0;0,0;0,0"

ERRQ_MAX = 30


class B1500Emulator(MeasureMixin, SpguMixin, LineEmulator):
    terminator = "\r\n"
    name = "B1500A"

    class Err(Exception):
        def __init__(self, code: int) -> None:
            super().__init__(code)
            self.code = code

    def __init__(self, bench: Bench, unt: str = DEFAULT_UNT,
                 lock: threading.RLock | None = None) -> None:
        super().__init__(lock or bench.lock)
        self.bench = bench
        self.unt = unt
        self.slots = {i + 1: k.MODULE_KINDS.get(s.split(",")[0], s.split(",")[0])
                      for i, s in enumerate(unt.split(";")) if s.split(",")[0] != "0"}
        self.errors: deque[int] = deque(maxlen=ERRQ_MAX)
        self.reset()

    # -- state -----------------------------------------------------------------------------
    def smu_channels(self) -> list[int]:
        return [s for s, kind in self.slots.items() if kind in k.SMU_KINDS]

    def spgu_channels(self) -> list[int]:
        return [100 * s + i for s, kind in self.slots.items() if kind == "SPGU" for i in (1, 2)]

    def reset(self) -> None:
        self.enabled: set[int] = set()
        self.source: dict[int, tuple[str, float, float]] = {}  # ch -> (V|I, value, compliance)
        self.mm: tuple[int, list[int]] = (k.MM_SPOT, [])
        self.sweep: tuple | None = None
        self.wt = (0.0, 0.0)
        self.mt = (0.0, 1e-3, 1)
        self.mv: tuple | None = None
        for ch in self.smu_channels():
            self.bench.set_level(f"SMU{ch}", 0.0)
        self._spgu_reset()

    def _apply_source(self, ch: int) -> None:
        mode, value, _ = self.source.get(ch, ("V", 0.0, 0.1))
        on = ch in self.enabled and mode == "V"
        self.bench.set_level(f"SMU{ch}", value if on else 0.0)

    # -- parsing ---------------------------------------------------------------------------
    def too_long(self) -> None:
        self.errors.append(150)

    def reject(self, line: str) -> str | None:
        self.errors.append(100)
        return None

    def handle(self, line: str) -> str | None:
        replies = []
        for cmd in filter(None, (c.strip() for c in line.split(";"))):
            head, _, rest = cmd.partition(" ")
            name = "cmd_" + head.upper().replace("*", "STAR").replace("?", "q")
            fn = getattr(self, name, None)
            try:
                if fn is None:
                    raise self.Err(100)
                args = [self._num(x) for x in rest.split(",")] if rest.strip() else []
                r = fn(args)
            except self.Err as e:
                self.errors.append(e.code)
                continue
            except (HilError, ValueError):  # the physics refused the values
                self.errors.append(120)
                continue
            if r is not None:
                replies.append(r)
        return ";".join(replies) if replies else None

    def _num(self, s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise self.Err(102) from None
        if v != v or v in (float("inf"), float("-inf")):
            raise self.Err(102)
        return v

    def need(self, a: list, lo: int, hi: int) -> None:
        if not lo <= len(a) <= hi:
            raise self.Err(103)

    def _smu(self, ch: float) -> int:
        c = int(ch)
        if c != ch or c not in self.smu_channels():
            raise self.Err(305 if 1 <= c <= 10 else 120)
        return c

    def _chs(self, a: list) -> list[int]:
        chs = [int(x) for x in a] or sorted(self.smu_channels() + self.spgu_channels())
        for c in chs:
            if c not in self.smu_channels() and c not in self.spgu_channels():
                raise self.Err(305 if 1 <= c <= 10 or c > 100 else 120)
        return chs

    # -- mainframe -------------------------------------------------------------------------
    def cmd_STARIDNq(self, a): return IDN
    def cmd_STAROPCq(self, a): return "1"
    def cmd_UNTq(self, a): return self.unt

    def cmd_STARCLS(self, a):
        self.need(a, 0, 0)
        self.errors.clear()

    def cmd_STARWAI(self, a):
        self.need(a, 0, 0)  # every emulated operation has completed when its command returns

    def cmd_STARRST(self, a):
        self.errors.clear()
        self.reset()

    def cmd_ERRXq(self, a):
        code = self.errors.popleft() if self.errors else 0
        return f'+{code},"{k.ERRORS.get(code, "Unknown error.")}"'

    def cmd_STARLRNq(self, a):
        self.need(a, 1, 1)
        if int(a[0]) != 0:
            raise self.Err(120)  # only type 0 (output switch status) is emulated
        on = sorted(self.enabled)
        return "CN" + ",".join(map(str, on)) if on else "CL"

    def cmd_LOPq(self, a):
        codes = []
        for slot in range(1, k.N_SLOTS + 1):
            mode, val, _ = self.source.get(slot, ("V", 0.0, 0.0))
            on = slot in self.enabled and slot in self.smu_channels()
            codes.append("00" if not on else "01" if mode == "V" else "02" if val >= 0 else "03")
        return "LOP" + ",".join(codes)

    def cmd_FMT(self, a):
        self.need(a, 1, 2)
        if int(a[0]) != 1 or (len(a) > 1 and int(a[1]) != 0):
            raise self.Err(120)

    def cmd_CN(self, a):
        chs = self._chs(a)
        self.enabled |= set(chs)
        for c in chs:
            self._apply_source(c) if c < 100 else self.bench.set_level(
                f"SPGU{c}", self.spgu[c].base_V)

    def cmd_CL(self, a):
        for c in self._chs(a):
            self.enabled.discard(c)
            self.bench.set_level(f"SMU{c}" if c < 100 else f"SPGU{c}", 0.0)

    def cmd_DV(self, a):
        self.need(a, 3, 6)
        ch = self._smu(a[0])
        comp = a[3] if len(a) > 3 else 0.1
        if abs(a[2]) > 100 or not 0 < abs(comp) <= I_MAX_A:
            raise self.Err(120)
        self.source[ch] = ("V", a[2], abs(comp))
        self._apply_source(ch)

    def cmd_DI(self, a):
        self.need(a, 3, 6)
        ch = self._smu(a[0])
        if abs(a[2]) > I_MAX_A:
            raise self.Err(120)
        self.source[ch] = ("I", a[2], abs(a[3]) if len(a) > 3 else 2.0)
        self._apply_source(ch)

    def cmd_DZ(self, a):
        for c in self._chs(a):
            if c < 100:
                self.source[c] = ("V", 0.0, self.source.get(c, ("V", 0, 0.1))[2])
                self._apply_source(c)

    def _accept(self, a, lo, hi):
        self.need(a, lo, hi)

    def cmd_CMM(self, a): self._smu(a[0]) if a else self.need(a, 2, 2)
    def cmd_RI(self, a): self._smu(a[0]) if a else self.need(a, 2, 2)
    def cmd_AAD(self, a): self._accept(a, 1, 2)
    def cmd_AV(self, a): self._accept(a, 1, 2)
    def cmd_WM(self, a): self._accept(a, 1, 2)
    def cmd_TSR(self, a): self._accept(a, 0, 1)

    def cmd_AIT(self, a):
        self.need(a, 2, 3)
        if int(a[0]) not in (0, 1, 2) or int(a[1]) not in (0, 1, 2, 3):
            raise self.Err(120)
