"""SMU part of the B1500A emulator: output switches, DC sourcing and per-channel setup.

Commands: CN, CL, DV, DI, DZ, RZ, FL, SSR, RI, RV, RM, CMM, AAD.  The forced voltage of an
enabled SMU is the level of its bench port ``SMU<ch>``; current sourcing (DI) leaves the
port at 0 V (the bench models voltage-driven lines only).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from sim_backends.emulators.flex import FlexError, check_count, integer, number

#: largest current an SMU sources or measures (HRSMU/MPSMU: 100 mA)
I_MAX_A = 0.1
#: largest voltage an SMU forces (HRSMU/MPSMU: 100 V)
V_MAX_V = 100.0
#: valid range indices (Programming Guide, "Ranging"): voltage output/measurement ranges
#: (0 auto, 5..2000 limited/fixed), current ranges (0 auto, 8..20 limited, -8..-20 fixed)
_V = {5, 11, 12, 13, 14, 15, 16, 17, 20, 50, 200, 400, 1000, 2000, 5000, 15000, 25000, 30000}
V_RANGES = {0} | _V | {-v for v in _V}
I_RANGES = {0} | set(range(8, 23)) | set(range(-22, -7))


@dataclass
class Smu:
    """Settings of one SMU channel (``*RST``: 0 V, 100 mA compliance, filter off)."""

    mode: str = "V"          # V (DV) or I (DI)
    value: float = 0.0
    comp: float = 0.1
    out_range: int = 0
    polarity: int = 0
    comp_range: int = 0
    filter: int = 0
    ssr: int = 0
    ri: int = 0
    rv: int = 0
    rm: tuple[int, int] = (1, 50)
    cmm: int = 0
    aad: int = 0
    saved: "Smu | None" = field(default=None, repr=False)


class SmuMixin:
    """Handlers for the SMU setup commands."""

    def _smu(self, text: str) -> int:
        c = integer(text)
        if c not in self.smu:
            raise FlexError(305 if 1 <= c <= 10 else 120)
        return c

    def _apply_source(self, ch: int) -> None:
        s = self.smu[ch]
        on = ch in self.enabled and s.mode == "V"
        self.bench.set_level(f"SMU{ch}", s.value if on else 0.0)

    def _smu_chs(self, a) -> list[int]:
        """SMU channels of a ``[chnum...]`` list (empty = every SMU)."""
        return [self._smu(p) for p in a] if a else sorted(self.smu)

    def cmd_CN(self, a):
        chs = self._chs(a)
        self.enabled |= set(chs)
        for c in chs:
            if c < 100:
                self._apply_source(c)
            else:
                self.bench.set_level(f"SPGU{c}", self.spgu[c].base_V)

    def cmd_CL(self, a):
        for c in self._chs(a):
            self.enabled.discard(c)
            if c < 100:
                self.smu[c] = replace(self.smu[c], mode="V", value=0.0)  # output to 0 V
            self.bench.set_level(f"SMU{c}" if c < 100 else f"SPGU{c}", 0.0)

    def _force(self, a, mode: str) -> None:
        check_count(a, 3, 6)
        ch = self._smu(a[0])
        rng = integer(a[1])
        value = number(a[2])
        s = self.smu[ch]
        comp = abs(number(a[3])) if len(a) > 3 else s.comp if s.mode == mode else (
            0.1 if mode == "V" else 2.0)
        if rng not in (V_RANGES if mode == "V" else I_RANGES):
            raise FlexError(120)
        limit, comp_limit = (V_MAX_V, I_MAX_A) if mode == "V" else (I_MAX_A, V_MAX_V)
        if abs(value) > limit or not 0 < comp <= comp_limit:
            raise FlexError(120)
        pol = integer(a[4]) if len(a) > 4 else 0
        crng = integer(a[5]) if len(a) > 5 else 0
        if pol not in (0, 1) or crng not in (I_RANGES if mode == "V" else V_RANGES):
            raise FlexError(120)
        self.smu[ch] = replace(s, mode=mode, value=value, comp=comp, out_range=rng,
                               polarity=pol, comp_range=crng)
        self._apply_source(ch)

    def cmd_DV(self, a): self._force(a, "V")
    def cmd_DI(self, a): self._force(a, "I")

    def cmd_DZ(self, a):
        """Store the source settings and force 0 V."""
        for c in self._chs(a):
            if c < 100:
                s = self.smu[c]
                self.smu[c] = replace(s, mode="V", value=0.0, saved=replace(s, saved=None))
                self._apply_source(c)

    def cmd_RZ(self, a):
        """Restore the settings stored by DZ."""
        for c in self._chs(a):
            if c < 100 and self.smu[c].saved is not None:
                self.smu[c] = self.smu[c].saved
                self._apply_source(c)

    def cmd_FL(self, a):
        check_count(a, 1, 11)
        mode = self._choice(a[0], (0, 1))
        for c in self._smu_chs(a[1:]):
            self.smu[c].filter = mode

    def cmd_SSR(self, a):
        check_count(a, 2, 2)
        self.smu[self._smu(a[0])].ssr = self._choice(a[1], (0, 1))

    def cmd_RI(self, a):
        check_count(a, 2, 2)
        ch, r = self._smu(a[0]), integer(a[1])
        if r not in I_RANGES:
            raise FlexError(120)
        self.smu[ch].ri = r

    def cmd_RV(self, a):
        check_count(a, 2, 2)
        ch, r = self._smu(a[0]), integer(a[1])
        if r not in V_RANGES:
            raise FlexError(120)
        self.smu[ch].rv = r

    def cmd_RM(self, a):
        check_count(a, 2, 3)
        ch, mode = self._smu(a[0]), self._choice(a[1], (1, 2, 3))
        rate = integer(a[2]) if len(a) > 2 else 50
        if not 11 <= rate <= 100:
            raise FlexError(120)
        self.smu[ch].rm = (mode, rate)

    def cmd_CMM(self, a):
        check_count(a, 2, 2)
        self.smu[self._smu(a[0])].cmm = self._choice(a[1], (0, 1, 2, 3, 4))

    def cmd_AAD(self, a):
        check_count(a, 1, 2)
        ch = self._smu(a[0])
        self.smu[ch].aad = self._choice(a[1], (0, 1, 2)) if len(a) > 1 else 0
