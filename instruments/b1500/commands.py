"""Pure builders of B1500A FLEX command strings (no termination).

Numbers use `instruments._line.fmt_num`; channel lists are comma separated without spaces,
exactly as the emulator and the byte-exact tests expect.
"""
from __future__ import annotations

from typing import Iterable

from instruments._line import fmt_num
from instruments.b1500 import constants as k


def _chs(channels: Iterable[int]) -> str:
    return ",".join(str(int(c)) for c in channels)


def _join(head: str, *args: object) -> str:
    parts = [a if isinstance(a, str) else fmt_num(a) for a in args if a is not None]
    return head if not parts else f"{head} {','.join(parts)}"


# -- mainframe -----------------------------------------------------------------------------
def idn() -> str: return "*IDN?"
def reset() -> str: return "*RST"
def opc() -> str: return "*OPC?"
def unt() -> str: return "UNT?"
def errx() -> str: return "ERRX?"
def lop() -> str: return "LOP?"
def xe() -> str: return "XE"
def lrn(type_code: int) -> str: return f"*LRN? {int(type_code)}"


def fmt(fmt_code: int = 1, mode: int = 0) -> str:
    """``FMT 1,0``: ASCII 12 digits with header, measurement data only."""
    return f"FMT {int(fmt_code)},{int(mode)}"


def cn(channels: Iterable[int] = ()) -> str:
    """Enable channels (``CN`` alone enables all)."""
    return _join("CN", _chs(channels)) if list(channels) else "CN"


def cl(channels: Iterable[int] = ()) -> str:
    """Disable channels (``CL`` alone disables all)."""
    return _join("CL", _chs(channels)) if list(channels) else "CL"


# -- DC sourcing ---------------------------------------------------------------------------
def dv(ch: int, v_V: float, icomp_A: float, vrange: int = 0) -> str:
    """Force voltage ``v_V`` with current compliance ``icomp_A`` (range 0 = auto)."""
    return _join("DV", ch, vrange, v_V, icomp_A)


def di(ch: int, i_A: float, vcomp_V: float, irange: int = 0) -> str:
    """Force current ``i_A`` with voltage compliance ``vcomp_V``."""
    return _join("DI", ch, irange, i_A, vcomp_V)


def dz(channels: Iterable[int] = ()) -> str:
    """Store settings and set outputs to 0 V."""
    return _join("DZ", _chs(channels)) if list(channels) else "DZ"


# -- measurement ---------------------------------------------------------------------------
def mm(mode: int, channels: Iterable[int]) -> str:
    """Measurement mode and the channels that measure, e.g. ``MM 1,1`` or ``MM 10,2,3``."""
    return _join("MM", mode, _chs(channels))


def cmm(ch: int, mode: int = 1) -> str:
    """Measurement operation mode of a channel (1 = current, 2 = voltage, 0 = compliance side)."""
    return _join("CMM", ch, mode)


def ri(ch: int, irange: int = 0) -> str:
    """Current measurement range (0 = auto)."""
    return _join("RI", ch, irange)


def ti(ch: int) -> str:
    """High-speed spot current measurement."""
    return _join("TI", ch)


def tv(ch: int) -> str:
    """High-speed spot voltage measurement."""
    return _join("TV", ch)


def wv(ch: int, start_V: float, stop_V: float, n: int, icomp_A: float,
       mode: int = 1, vrange: int = 0) -> str:
    """Staircase voltage sweep source: ``WV ch,mode,range,start,stop,step,Icomp``."""
    return _join("WV", ch, mode, vrange, start_V, stop_V, n, icomp_A)


def wt(hold_s: float, delay_s: float) -> str:
    """Staircase sweep hold and step delay times."""
    return _join("WT", hold_s, delay_s)


def mt(hold_bias_s: float, interval_s: float, n: int) -> str:
    """Sampling timing: ``MT h_bias,interval,number``."""
    return _join("MT", hold_bias_s, interval_s, n)


def mv(ch: int, base_V: float, bias_V: float, icomp_A: float, vrange: int = 0) -> str:
    """Sampling source: ``MV ch,range,base,bias,Icomp``."""
    return _join("MV", ch, vrange, base_V, bias_V, icomp_A)


def ait(adc_type: int, mode: int, n: float) -> str:
    """ADC integration: ``AIT type,mode,N`` (e.g. ``AIT 1,2,1`` = HR ADC, 1 PLC)."""
    return _join("AIT", adc_type, mode, n)


def aad(ch: int, adc_type: int) -> str:
    """Select the ADC of a channel."""
    return _join("AAD", ch, adc_type)


def av(n: int, mode: int = 0) -> str:
    """Number of averaged samples (legacy integration command)."""
    return _join("AV", n, mode)


# -- SPGU ----------------------------------------------------------------------------------
def sim(mode: int = k.SIM_PG) -> str: return _join("SIM", mode)
def spper(period_s: float) -> str: return _join("SPPER", period_s)
def spm(ch: int, mode: int = k.SPM_2LEVEL_SRC1) -> str: return _join("SPM", ch, mode)


def spt(ch: int, src: int, delay_s: float, width_s: float, lead_s: float, trail_s: float) -> str:
    """Pulse timing of source ``src`` of channel ``ch``."""
    return _join("SPT", ch, src, delay_s, width_s, lead_s, trail_s)


def spv(ch: int, src: int, base_V: float, peak_V: float) -> str:
    """Pulse base and peak voltage of source ``src`` of channel ``ch``."""
    return _join("SPV", ch, src, base_V, peak_V)


def sprm(mode: int, condition: float | None = None) -> str:
    """Output mode: free run (0), pulse count (1, condition = count), duration (2)."""
    return _join("SPRM", mode, condition)


def spupd(channels: Iterable[int]) -> str: return _join("SPUPD", _chs(channels))
def srp() -> str: return "SRP"
def spp() -> str: return "SPP"
def spst() -> str: return "SPST?"


def odsw(ch: int, on: bool, normal: int = 0, delay_s: float | None = None,
         width_s: float | None = None) -> str:
    """Pulse switch of SPGU channel ``ch``: ``ODSW ch,state[,normal[,delay,width]]``."""
    if (delay_s is None) != (width_s is None):
        raise ValueError("odsw: give both delay_s and width_s, or neither")
    return _join("ODSW", ch, int(bool(on)), normal, delay_s, width_s)


def ser(ch: int, load_ohm: float) -> str: return _join("SER", ch, load_ohm)


# -- SPGU read-backs -------------------------------------------------------------------------
def sim_q() -> str: return "SIM?"
def spper_q() -> str: return "SPPER?"
def sprm_q() -> str: return "SPRM?"
def spm_q(ch: int) -> str: return _join("SPM?", ch)
def spt_q(ch: int, src: int = 1) -> str: return _join("SPT?", ch, src)
def spv_q(ch: int, src: int = 1) -> str: return _join("SPV?", ch, src)
def ser_q(ch: int) -> str: return _join("SER?", ch)
