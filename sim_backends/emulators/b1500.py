"""Keysight B1500A emulator (FLEX): SMUs and SPGU on an emulated bench.

Grammar: `sim_backends.emulators.flex` (optional space after the header, ``;``-separated
commands).  Replies end in CR LF; several query replies of one line are joined by ``;``.
Unknown headers queue error 100, bad numbers 102, a wrong parameter count 103, bad values
120, a channel list of the wrong length 122, a channel whose output is off 200, channels
without a module 305; ``ERRX?`` pops the queue (``+0,"No Error."`` when empty).  Data
formats: `sim_backends.emulators.flex_data`.  Every command, what it does and where the
behaviour comes from: ``docs/emulator-b1500.md``.

Only modules the emulator implements may be installed (``UNT?`` never advertises more):
SMUs (B1510A/B1511A/B1511B/B1514A/B1517A) and the B1525A SPGU.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from functools import lru_cache

from hil.errors import HilError, StationError
from sim_backends.emulators.b1500_learn import LearnMixin
from sim_backends.emulators.b1500_measure import MeasureMixin
from sim_backends.emulators.b1500_smu import Smu, SmuMixin
from sim_backends.emulators.b1500_spgu import SpguMixin
from sim_backends.emulators.bench import Bench
from sim_backends.emulators.flex import FlexError, check_count, integer, number, parse_line
from sim_backends.emulators.line import Deferred, LineEmulator

IDN = "Agilent Technologies,B1500A,HILEMU0001,A.06.02.2023.0401"
#: module models the emulator implements -> kind
MODULES = {"B1510A": "HPSMU", "B1511A": "MPSMU", "B1511B": "MPSMU", "B1514A": "MCSMU",
           "B1517A": "HRSMU", "B1525A": "SPGU"}
SMU_KINDS = {"HPSMU", "MPSMU", "MCSMU", "HRSMU"}
#: REFERENCE §8 UNT? of a real B1500A with the modules the emulator does not implement
#: (2 WGFMU in slots 2-3, CMU in slot 8) removed: SPGU in 1, HRSMU in 4-6, MPSMU in 7
DEFAULT_UNT = "B1525A,0;0,0;0,0;B1517A,0;B1517A,0;B1517A,0;B1511B,1;0,0;0,0;0,0"
#: the same mainframe without the SPGU (QCoDeS 0.58 has no SPGU class)
SMU_ONLY_UNT = "0,0;0,0;0,0;B1517A,0;B1517A,0;B1517A,0;B1511B,1;0,0;0,0;0,0"
N_SLOTS = 10
ERRQ_MAX = 30
#: FLEX error messages (Programming Guide, "Error Codes")
ERRORS = {
    0: "No Error.",
    100: "Undefined GPIB command.",
    102: "Incorrect numeric data syntax.",
    103: "Incorrect terminator position.",
    120: "Incorrect parameter value.",
    122: "Number of channels must be corrected.",
    150: "Command input buffer is full.",
    200: "Channel output switch must be ON.",
    305: "Unit is not installed in the slot.",
}


@lru_cache(maxsize=256)
def _handler_name(header: str) -> str:
    """``*IDN?`` -> ``cmd_STARIDNq`` (the method that handles a header), memoised."""
    return "cmd_" + header.replace("*", "STAR").replace("?", "q")


def parse_unt(unt: str) -> dict[int, str]:
    """``UNT?`` text -> {slot: kind}; StationError naming a module the emulator lacks."""
    slots = unt.split(";")
    if len(slots) != N_SLOTS:
        raise StationError(f"b1500 unt must list {N_SLOTS} slots 'model,rev;...', got {unt!r}")
    out = {}
    for i, s in enumerate(slots, start=1):
        model = s.split(",")[0].strip()
        if model == "0":
            continue
        if model not in MODULES:
            raise StationError(f"b1500 slot {i}: module {model!r} is not emulated; allowed: "
                               f"{', '.join(sorted(MODULES))} (or 0 = empty)")
        out[i] = MODULES[model]
    return out


class B1500Emulator(LearnMixin, MeasureMixin, SmuMixin, SpguMixin, LineEmulator):
    terminator = "\r\n"
    name = "B1500A"
    Err = FlexError

    def __init__(self, bench: Bench, unt: str = DEFAULT_UNT,
                 lock: threading.RLock | None = None) -> None:
        super().__init__(lock or bench.lock)
        self.bench = bench
        self.unt = unt
        self.slots = parse_unt(unt)
        self.errors: deque[int] = deque(maxlen=ERRQ_MAX)
        self.reset()

    # -- state -----------------------------------------------------------------------------
    def smu_channels(self) -> list[int]:
        return [s for s, kind in self.slots.items() if kind in SMU_KINDS]

    def spgu_channels(self) -> list[int]:
        return [100 * s + i for s, kind in self.slots.items() if kind == "SPGU" for i in (1, 2)]

    def reset(self) -> None:
        """``*RST`` state (Programming Guide, "Initial Settings")."""
        self.enabled: set[int] = set()
        self.smu: dict[int, Smu] = {ch: Smu() for ch in self.smu_channels()}
        self.fmt = (1, 0)
        self.tm, self.av, self.cm, self.az, self.pad, self.tsc = 1, (1, 0), 1, 1, 0, 0
        self.ait = {0: (0, 1.0), 1: (0, 6.0)}
        self.wat = {1: (1.0, 0.0), 2: (1.0, 0.0)}
        self.t0 = time.monotonic()
        for ch in self.smu_channels():
            self.bench.set_level(f"SMU{ch}", 0.0)
        self._measure_reset()
        self._spgu_reset()

    @property
    def source(self) -> dict[int, tuple[str, float, float]]:
        """ch -> (V|I, value, compliance) of every SMU (read by lab wirings and tests)."""
        return {ch: (s.mode, s.value, s.comp) for ch, s in self.smu.items()}

    # -- parsing ---------------------------------------------------------------------------
    def too_long(self) -> None:
        self.errors.append(150)

    def reject(self, line: str) -> str | None:
        self.errors.append(100)
        return None

    def handle(self, line: str) -> "str | Deferred | None":
        replies: list[str] = []
        data: list[str] = []
        cmds = parse_line(line)   # cached: a repeated line is parsed once
        for cmd in cmds:
            try:
                if cmd.__class__ is int:
                    raise FlexError(cmd)
                fn = getattr(self, _handler_name(cmd.header), None)
                if fn is None:
                    raise FlexError(100)
                r = fn(cmd.params)
            except FlexError as e:
                self.errors.append(e.code)
                continue
            except (HilError, ValueError):  # the physics refused the values
                self.errors.append(120)
                continue
            if cmd.header in ("BC", "AB", "*RST"):
                data.clear()  # output data of this line's earlier XE are dropped too
            if isinstance(r, Deferred):
                data.append(r.text)
            elif r is not None:
                replies.append(r)
        if len(cmds) > 1:
            self.offer_quick(None)   # a quick answer stands for a line of one command
        if data:
            return Deferred(";".join(replies + data))
        return ";".join(replies) if replies else None

    def _chs(self, params: tuple[str, ...]) -> list[int]:
        """Channel list of CN/CL/DZ/RZ (empty = every installed channel)."""
        all_chs = self.smu_channels() + self.spgu_channels()
        chs = [integer(p) for p in params] if params else sorted(all_chs)
        for c in chs:
            if c not in all_chs:
                raise FlexError(305 if 1 <= c <= N_SLOTS or c > 100 else 120)
        return chs

    # -- mainframe -------------------------------------------------------------------------
    def cmd_STARIDNq(self, a): check_count(a, 0, 0); return IDN
    def cmd_STAROPCq(self, a): check_count(a, 0, 0); return "1"
    def cmd_STARTSTq(self, a): check_count(a, 0, 0); return "0"
    def cmd_STARCALq(self, a): check_count(a, 0, 1); return "0"  # 0 = calibration passed

    def cmd_STARSTBq(self, a):
        check_count(a, 0, 0)
        return str(16 if self.errors else 0)  # bit 4 (16): error queue not empty (assumption)

    def cmd_UNTq(self, a):
        check_count(a, 0, 1)
        if a and integer(a[0]) not in (0, 1):
            raise FlexError(120)
        return self.unt

    def cmd_STARCLS(self, a):
        check_count(a, 0, 0)
        self.errors.clear()

    def cmd_STARWAI(self, a):
        check_count(a, 0, 0)  # every emulated operation has completed when its command returns

    def cmd_STARRST(self, a):
        check_count(a, 0, 0)
        self.errors.clear()
        self.session.clear_pending()
        self.reset()

    def cmd_ERRXq(self, a):
        check_count(a, 0, 1)
        mode = integer(a[0]) if a else 0
        if mode not in (0, 1, 2):
            raise FlexError(120)
        code = self.errors.popleft() if self.errors else 0
        msg = ERRORS.get(code, "Unknown error.")
        return f"+{code}" if mode == 2 else f'+{code},"{msg}"'

    def cmd_ERRq(self, a):
        """``ERR?``: up to 4 codes of the error queue, ``0`` padded."""
        check_count(a, 0, 1)
        codes = [self.errors.popleft() for _ in range(min(4, len(self.errors)))]
        return ",".join(str(c) for c in codes + [0] * (4 - len(codes)))

    def cmd_LOPq(self, a):
        check_count(a, 0, 0)
        codes = []
        for slot in range(1, N_SLOTS + 1):
            s = self.smu.get(slot)
            on = s is not None and slot in self.enabled
            codes.append("00" if not on else "01" if s.mode == "V" else
                         "02" if s.value >= 0 else "03")
        return "LOP" + ",".join(codes)

    def cmd_FMT(self, a):
        check_count(a, 1, 2)
        f, mode = integer(a[0]), integer(a[1]) if len(a) > 1 else 0
        if f not in (1, 2, 11, 12, 21, 22) or mode not in (0, 1):
            raise FlexError(120)  # binary formats and data modes >= 2 are not emulated
        self.fmt = (f, mode)

    def cmd_BC(self, a):
        check_count(a, 0, 0)
        self.session.clear_pending()

    def cmd_AB(self, a):
        check_count(a, 0, 0)
        self.session.clear_pending()
        self._spgu_stop()

    def cmd_PA(self, a):
        check_count(a, 0, 1)  # the emulated command queue never waits

    def cmd_TSC(self, a):
        check_count(a, 1, 1)
        self.tsc = self._choice(a[0], (0, 1))

    def cmd_TSR(self, a):
        check_count(a, 0, 1)
        if not a:
            self.t0 = time.monotonic()

    def cmd_CM(self, a):
        check_count(a, 1, 1)
        self.cm = self._choice(a[0], (0, 1))

    def cmd_AZ(self, a):
        check_count(a, 1, 1)
        self.az = self._choice(a[0], (0, 1))

    def cmd_PAD(self, a):
        check_count(a, 1, 1)
        self.pad = self._choice(a[0], (0, 1))

    def cmd_WAT(self, a):
        check_count(a, 2, 3)
        kind = self._choice(a[0], (1, 2))
        n, offset = number(a[1]), number(a[2]) if len(a) > 2 else 0.0
        if not 0 <= n <= 10 or not 0 <= offset <= 1:
            raise FlexError(120)
        self.wat[kind] = (n, offset)

    def cmd_AV(self, a):
        check_count(a, 1, 2)
        n, mode = integer(a[0]), integer(a[1]) if len(a) > 1 else 0
        if not (1 <= n <= 1023 or -100 <= n <= -1) or mode not in (0, 1):
            raise FlexError(120)
        self.av = (n, mode)

    def cmd_AIT(self, a):
        check_count(a, 2, 3)
        t, mode = self._choice(a[0], (0, 1, 2)), self._choice(a[1], (0, 1, 2, 3))
        self.ait[t] = (mode, number(a[2]) if len(a) > 2 else self.ait.get(t, (0, 1.0))[1])

    @staticmethod
    def _choice(text: str, allowed: tuple[int, ...]) -> int:
        v = integer(text)
        if v not in allowed:
            raise FlexError(120)
        return v
