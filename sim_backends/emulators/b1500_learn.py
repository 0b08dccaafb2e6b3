"""``*LRN? type`` of the B1500A emulator: the settings as the commands that set them.

Replies are ``;``-separated commands in the compact form the instrument uses in its own
replies (no space after the header, e.g. ``CN4,5``; REFERENCE §8 ``LOP00,...``).  Numbers
are NR1 for integers and ``±d.dddde±dd`` NR3 for values (assumption).  Types:

0 output switches, 1..10 one slot's source setup, 30 filters, 31 TM/AV/CM/FMT/MM,
32 measurement ranges, 33 staircase sweep, 46 SMU measurement operation mode,
47 sampling, 53 series resistors, 54 auto-ranging mode, 55 ADC of each SMU,
56 ADC setup (AIT/AZ), 57 wait times (WAT), 60 time stamp, 61 SPGU period/mode,
110 parallel measurement.
"""
from __future__ import annotations

from sim_backends.emulators.flex import FlexError, check_count, integer


def nr3(v: float) -> str:
    """``0.001`` -> ``+1.0000E-03``."""
    return f"{v:+.4E}"


class LearnMixin:
    """Handler for ``*LRN?``."""

    def cmd_STARLRNq(self, a):
        check_count(a, 1, 1)
        t = integer(a[0])
        fn = getattr(self, f"_lrn_{t}", None)
        if 1 <= t <= 10:
            return self._lrn_slot(t)
        if fn is None:
            raise FlexError(120)
        return fn()

    def _lrn_0(self) -> str:
        on = sorted(self.enabled)
        return "CN" + ",".join(map(str, on)) if on else "CL"

    def _lrn_slot(self, slot: int) -> str:
        if slot in self.smu:
            s = self.smu[slot]
            if slot not in self.enabled:
                return f"CL{slot}"
            return (f"D{s.mode}{slot},{s.out_range},{nr3(s.value)},{nr3(s.comp)},"
                    f"{s.polarity},{s.comp_range}")
        chs = [100 * slot + i for i in (1, 2)]
        if all(c in self.spgu for c in chs):
            return ";".join(f"SPM{c},{self.spgu[c].spm}" for c in chs)
        raise FlexError(305)

    def _lrn_30(self) -> str:
        off = [c for c in sorted(self.smu) if not self.smu[c].filter]
        on = [c for c in sorted(self.smu) if self.smu[c].filter]
        if not on:
            return "FL0"
        if not off:
            return "FL1"
        return f"FL0,{','.join(map(str, off))};FL1,{','.join(map(str, on))}"

    def _lrn_31(self) -> str:
        parts = [f"TM{self.tm}", f"AV{self.av[0]},{self.av[1]}", f"CM{self.cm}",
                 f"FMT{self.fmt[0]},{self.fmt[1]}"]
        if self.mm is not None:
            parts.append(f"MM{self.mm[0]}," + ",".join(map(str, self.mm[1])))
        return ";".join(parts)

    def _lrn_32(self) -> str:
        return ";".join(f"RI{c},{s.ri};RV{c},{s.rv}" for c, s in sorted(self.smu.items()))

    def _lrn_33(self) -> str:
        parts = [f"WM{self.wm[0]},{self.wm[1]}", "WT" + ",".join(nr3(v) for v in self.wt)]
        sw = self.sweep
        if sw is not None:
            wv = f"WV{sw.ch},{sw.mode},{sw.out_range},{nr3(sw.start)},{nr3(sw.stop)},{sw.n}"
            if sw.comp is not None:
                wv += f",{nr3(sw.comp)}"
                if sw.pcomp is not None:
                    wv += f",{nr3(sw.pcomp)}"
            parts.append(wv)
        return ";".join(parts)

    def _lrn_46(self) -> str:
        return ";".join(f"CMM{c},{s.cmm}" for c, s in sorted(self.smu.items()))

    def _lrn_47(self) -> str:
        hb, interval, n, hbase = self.mt
        parts = [f"MSC{self.msc[0]},{self.msc[1]}", f"ML{self.ml}",
                 f"MT{nr3(hb)},{nr3(interval)},{n},{nr3(hbase)}"]
        if self.mv is not None:
            ch, rng, base, bias, comp = self.mv
            parts.append(f"MV{ch},{rng},{nr3(base)},{nr3(bias)},{nr3(comp)}")
        return ";".join(parts)

    def _lrn_53(self) -> str:
        return ";".join(f"SSR{c},{s.ssr}" for c, s in sorted(self.smu.items()))

    def _lrn_54(self) -> str:
        return ";".join(f"RM{c},{s.rm[0]},{s.rm[1]}" for c, s in sorted(self.smu.items()))

    def _lrn_55(self) -> str:
        return ";".join(f"AAD{c},{s.aad}" for c, s in sorted(self.smu.items()))

    def _lrn_56(self) -> str:
        ait = ";".join(f"AIT{t},{m},{n:G}" for t, (m, n) in sorted(self.ait.items()))
        return f"{ait};AZ{self.az}"

    def _lrn_57(self) -> str:
        return ";".join(f"WAT{k},{n:G},{o:G}" for k, (n, o) in sorted(self.wat.items()))

    def _lrn_60(self) -> str:
        return f"TSC{self.tsc}"

    def _lrn_61(self) -> str:
        if not self.spgu:
            raise FlexError(305)
        return f"SIM{self.sim_mode};SPPER{nr3(self.spgu_period_s)};" \
               f"SPRM{self.sprm[0]},{self.sprm[1]:G}"

    def _lrn_110(self) -> str:
        return f"PAD{self.pad}"
