"""Keysight 33522B waveform generator emulator (33500 Series SCPI): triggered bursts of
pulses drive bench ports PG1/PG2.

Command table (manual notation, 33500 Series Operating and Service Guide, "SCPI Command
Reference"): every setting has its query; replies are NR3 ``+1.00000000000000E+03`` for
numbers, ``1``/``0`` for switches, the short form for choices.  Amplitude/offset and
high/low level are two views of one pair of levels, pulse period and frequency of one
period (coupled as on the instrument).  ``*TRG`` (bus trigger) fires the burst of every
channel with output on, burst on, ``BURSt:MODE TRIGgered`` and ``TRIGger:SOURce BUS``.
What is emulated and where each behaviour comes from: ``docs/emulator-pulsegen.md``.
"""
from __future__ import annotations

import threading

from sim_backends.emulators.bench import Bench
from sim_backends.emulators.scpi import ScpiEmulator, ScpiError
from sim_backends.emulators.scpi_settings import action, choice, number, switch

IDN = "Agilent Technologies,33522B,HILEMU0002,5.02-1.19-2.00-58-00"
#: level limit (V): the 33522B's high-impedance limit, not reduced for a 50 Ω load (assumption)
V_MAX = 10.0
FUNCTIONS = ("SINusoid", "SQUare", "TRIangle", "RAMP", "PULSe", "PRBS", "NOISe", "ARB", "DC")


def _channel_defaults() -> dict:
    """``*RST`` state of one channel (33500 guide, "Factory default settings")."""
    return {"func": "SIN", "freq": 1e3, "fmode": "CW", "phase": 0.0, "high": 0.05,
            "low": -0.05, "unit": "VPP", "out": False, "load": 50.0, "pol": "NORM",
            "sq_dcyc": 50.0, "symm": 100.0, "width": 1e-4, "hold": "WIDT", "lead": 10e-9,
            "trail": 10e-9, "burst": False, "bmode": "TRIG", "ncyc": 1.0, "bper": 0.01,
            "bphase": 0.0, "gpol": "NORM", "trig": "IMM", "slope": "POS", "tcount": 1.0,
            "tdelay": 0.0, "ttimer": 1.0}


# -- couplings -------------------------------------------------------------------------------
def _levels(emu: "PulseGenEmulator", ch: int, high: float, low: float) -> None:
    if max(abs(high), abs(low)) > V_MAX:
        raise ScpiError(-222)
    emu.ch[ch]["high"], emu.ch[ch]["low"] = high, low


def _amplitude(emu, ch, v):
    c = emu.ch[ch]
    off = (c["high"] + c["low"]) / 2
    _levels(emu, ch, off + v / 2, off - v / 2)


def _offset(emu, ch, v):
    c = emu.ch[ch]
    amp = c["high"] - c["low"]
    _levels(emu, ch, v + amp / 2, v - amp / 2)


def _high(emu, ch, v):
    if v <= emu.ch[ch]["low"]:
        raise ScpiError(-221)  # settings conflict: high must stay above low
    _levels(emu, ch, v, emu.ch[ch]["low"])


def _low(emu, ch, v):
    if v >= emu.ch[ch]["high"]:
        raise ScpiError(-221)
    _levels(emu, ch, emu.ch[ch]["high"], v)


def _period(emu, ch, v):
    if emu.ch[ch]["width"] >= v:
        raise ScpiError(-221)  # pulse width must stay below the period
    emu.ch[ch]["freq"] = 1.0 / v


def _frequency(emu, ch, v):
    c = emu.ch[ch]
    if c["func"] == "PULS" and c["width"] >= 1.0 / v:
        raise ScpiError(-221)
    c["freq"] = v


def _width(emu, ch, v):
    if v >= 1.0 / emu.ch[ch]["freq"]:
        raise ScpiError(-222)
    emu.ch[ch]["width"] = v


def _duty(emu, ch, v):
    _width(emu, ch, v / 100.0 / emu.ch[ch]["freq"])


def _edges(emu, ch, v):
    emu.ch[ch]["lead"] = emu.ch[ch]["trail"] = v


def _set(key):
    def f(emu, ch, v):
        emu.ch[ch][key] = v
    return f


class PulseGenEmulator(ScpiEmulator):
    name = "33522B"
    IDN = IDN
    COMMANDS = (
        ("[SOURce#:]FUNCtion", choice("func", FUNCTIONS)),
        ("[SOURce#:]FREQuency", number("freq", 1e-6, 30e6, 1e3, after=_frequency)),
        ("[SOURce#:]FREQuency:MODE", choice("fmode", ("CW", "LIST", "SWEep", "FIXed"))),
        ("[SOURce#:]PHASe", number("phase", -360, 360, 0)),
        ("[SOURce#:]PHASe:SYNChronize", action(lambda emu, s, p: None)),
        ("[SOURce#:]VOLTage", number("amp", 1e-3, 2 * V_MAX, 0.1, after=_amplitude,
                                     get=lambda e, c: c["high"] - c["low"])),
        ("[SOURce#:]VOLTage:OFFSet", number("off", -V_MAX, V_MAX, 0.0, after=_offset,
                                            get=lambda e, c: (c["high"] + c["low"]) / 2)),
        ("[SOURce#:]VOLTage:HIGH", number("high", -V_MAX, V_MAX, 0.05, after=_high)),
        ("[SOURce#:]VOLTage:LOW", number("low", -V_MAX, V_MAX, -0.05, after=_low)),
        ("[SOURce#:]VOLTage:UNIT", choice("unit", ("VPP", "VRMS", "DBM"))),
        ("[SOURce#:]FUNCtion:SQUare:DCYCle", number("sq_dcyc", 0.01, 99.98, 50)),
        ("[SOURce#:]FUNCtion:RAMP:SYMMetry", number("symm", 0, 100, 100)),
        ("[SOURce#:]FUNCtion:PULSe:PERiod", number("per", 33e-9, 1e6, 1e-3, after=_period,
                                                   get=lambda e, c: 1.0 / c["freq"])),
        ("[SOURce#:]FUNCtion:PULSe:WIDTh", number("width", 16e-9, 1e6, 1e-4, after=_width)),
        ("[SOURce#:]FUNCtion:PULSe:DCYCle", number("dcyc", 0, 100, 10, after=_duty,
                                                   get=lambda e, c: 100 * c["width"] * c["freq"])),
        ("[SOURce#:]FUNCtion:PULSe:HOLD", choice("hold", ("WIDTh", "DCYCle"))),
        ("[SOURce#:]FUNCtion:PULSe:TRANsition[:BOTH]",
         number("lead", 8.4e-9, 1e-6, 10e-9, after=_edges)),
        ("[SOURce#:]FUNCtion:PULSe:TRANsition:LEADing",
         number("lead", 8.4e-9, 1e-6, 10e-9, after=_set("lead"))),
        ("[SOURce#:]FUNCtion:PULSe:TRANsition:TRAiling",
         number("trail", 8.4e-9, 1e-6, 10e-9, after=_set("trail"))),
        ("[SOURce#:]BURSt:STATe", switch("burst")),
        ("[SOURce#:]BURSt:MODE", choice("bmode", ("TRIGgered", "GATed"))),
        ("[SOURce#:]BURSt:NCYCles", number("ncyc", 1, 1e8, 1, integer=True, allow_inf=True)),
        ("[SOURce#:]BURSt:INTernal:PERiod", number("bper", 1e-6, 8000, 0.01)),
        ("[SOURce#:]BURSt:PHASe", number("bphase", -360, 360, 0)),
        ("[SOURce#:]BURSt:GATE:POLarity", choice("gpol", ("NORMal", "INVerted"))),
        ("OUTPut:SYNC[:STATe]", switch("sync", channel=False)),
        ("OUTPut:SYNC:SOURce", choice("sync_src", ("CH1", "CH2"), channel=False)),
        ("OUTPut:TRIGger[:STATe]", switch("trig_out", channel=False)),
        ("OUTPut#[:STATe]", switch("out")),
        ("OUTPut#:LOAD", number("load", 1, 10e3, 50, allow_inf=True)),
        ("OUTPut#:POLarity", choice("pol", ("NORMal", "INVerted"))),
        ("TRIGger#:SOURce", choice("trig", ("IMMediate", "EXTernal", "TIMer", "BUS"))),
        ("TRIGger#[:IMMediate]", action(lambda emu, s, p: emu.trigger())),
        ("TRIGger#:SLOPe", choice("slope", ("POSitive", "NEGative"))),
        ("TRIGger#:COUNt", number("tcount", 1, 1e6, 1, integer=True, allow_inf=True)),
        ("TRIGger#:DELay", number("tdelay", 0, 1000, 0)),
        ("TRIGger#:TIMer", number("ttimer", 1e-6, 8000, 1)),
        ("SYSTem:ERRor[:NEXT]", ScpiEmulator.system),
        ("SYSTem:VERSion", ScpiEmulator.system_version),
        ("SYSTem:BEEPer[:IMMediate]", action(lambda emu, s, p: None)),
        ("DISPlay:TEXT[:DATA]", action(lambda emu, s, p: emu.state.update(text=p))),
        ("DISPlay:TEXT:CLEar", action(lambda emu, s, p: emu.state.update(text=[]))),
    )

    def __init__(self, bench: Bench, lock: threading.RLock | None = None) -> None:
        super().__init__(lock or bench.lock)
        self.bench = bench
        self.reset()

    def reset(self) -> None:
        self.ch = {c: _channel_defaults() for c in (1, 2)}
        self.state = {"sync": True, "sync_src": "CH1", "trig_out": False, "text": []}
        for c in (1, 2):
            self.bench.set_level(f"PG{c}", 0.0)

    # -- bench -----------------------------------------------------------------------------
    def changed(self, ch: int) -> None:
        """Output level of a channel between pulses: the low level (high when inverted)."""
        if ch not in self.ch:
            return
        c = self.ch[ch]
        idle = c["low"] if c["pol"] == "NORM" else c["high"]
        self.bench.set_level(f"PG{ch}", idle if c["out"] else 0.0)

    def trigger(self) -> None:
        segs, n, per = [], 0, 0.0
        for src, c in self.ch.items():
            if not (c["out"] and c["burst"] and c["bmode"] == "TRIG" and c["trig"] == "BUS"):
                continue
            period = 1.0 / c["freq"]
            if c["func"] == "PULS":
                width = c["width"]
            elif c["func"] == "SQU":
                width = period * c["sq_dcyc"] / 100
            else:
                continue  # only pulse and square bursts act on the devices (documented)
            level = c["high"] if c["pol"] == "NORM" else c["low"]
            segs.append(({f"PG{src}": level}, width))
            n, per = int(min(c["ncyc"], 1e8)), period
        if segs:
            width = min(w for _, w in segs)
            merged = {p: v for o, _ in segs for p, v in o.items()}
            self.bench.pulse([(merged, width)], count=n, period_s=per)
            self.pulses_fired = getattr(self, "pulses_fired", 0) + n
