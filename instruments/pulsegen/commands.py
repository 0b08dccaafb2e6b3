"""Pure SCPI command builders for 33500/81160-class pulse generators (channel 1 or 2)."""
from __future__ import annotations

from instruments._line import fmt_num


def _src(ch: int) -> str:
    if ch not in (1, 2):
        raise ValueError(f"pulse generator channel must be 1 or 2, got {ch!r}")
    return f"SOUR{ch}:"


def idn() -> str: return "*IDN?"
def reset() -> str: return "*RST"
def opc() -> str: return "*OPC?"
def err() -> str: return "SYST:ERR?"
def trigger() -> str: return "*TRG"
def func_pulse(ch: int = 1) -> str: return f"{_src(ch)}FUNC PULS"
def period(ch: int, period_s: float) -> str: return f"{_src(ch)}FUNC:PULS:PER {fmt_num(period_s)}"
def width(ch: int, width_s: float) -> str: return f"{_src(ch)}FUNC:PULS:WIDT {fmt_num(width_s)}"
def high(ch: int, v_V: float) -> str: return f"{_src(ch)}VOLT:HIGH {fmt_num(v_V)}"
def low(ch: int, v_V: float) -> str: return f"{_src(ch)}VOLT:LOW {fmt_num(v_V)}"
def burst_count(ch: int, n: int) -> str: return f"{_src(ch)}BURS:NCYC {int(n)}"
def burst_mode_triggered(ch: int = 1) -> str: return f"{_src(ch)}BURS:MODE TRIG"
def burst_state(ch: int, on: bool) -> str: return f"{_src(ch)}BURS:STAT {'ON' if on else 'OFF'}"


def trigger_source(ch: int, source: str = "BUS") -> str:
    if source not in ("BUS", "IMM", "EXT"):
        raise ValueError(f"trigger source must be BUS, IMM or EXT, got {source!r}")
    return f"TRIG{ch}:SOUR {source}"


def output(ch: int, on: bool) -> str: return f"OUTP{ch} {'ON' if on else 'OFF'}"
def output_query(ch: int) -> str: return f"OUTP{ch}?"


#: read-back queries of the settings `PulseGenerator.configure`/`burst` make, with the
#: parser of each reply (33500 replies: NR3 numbers, short-form choices, 0/1 switches)
def settings_queries(ch: int) -> dict[str, str]:
    return {"function": f"{_src(ch)}FUNC?", "period_s": f"{_src(ch)}FUNC:PULS:PER?",
            "width_s": f"{_src(ch)}FUNC:PULS:WIDT?", "high_V": f"{_src(ch)}VOLT:HIGH?",
            "low_V": f"{_src(ch)}VOLT:LOW?", "burst_count": f"{_src(ch)}BURS:NCYC?",
            "burst_mode": f"{_src(ch)}BURS:MODE?", "burst_on": f"{_src(ch)}BURS:STAT?",
            "trigger_source": f"TRIG{ch}:SOUR?", "output_on": output_query(ch)}
