"""Pulse generator emulator (33500/81160-class SCPI): triggered bursts drive bench ports PG1/PG2."""
from __future__ import annotations

import threading

from sim_backends.emulators.bench import Bench
from sim_backends.emulators.line import LineEmulator
from sim_backends.emulators.scpi import ErrorQueue, ScpiError, short_form

IDN = "Agilent Technologies,33522B,HILEMU0002,5.02-1.19-2.00-58-00"
V_MAX = 10.0


class PulseGenEmulator(LineEmulator):
    name = "33522B"

    def __init__(self, bench: Bench, lock: threading.RLock | None = None) -> None:
        super().__init__(lock or bench.lock)
        self.bench = bench
        self.err = ErrorQueue()
        self.reset()

    def reset(self) -> None:
        self.ch = {c: {"func": "SIN", "per": 1e-3, "wid": 1e-4, "high": 0.1, "low": -0.1,
                       "ncyc": 1, "burst": False, "mode": "TRIG", "trig": "IMM", "out": False}
                   for c in (1, 2)}
        for c in (1, 2):
            self.bench.set_level(f"PG{c}", 0.0)

    def too_long(self) -> None:
        self.err.push(-223)

    def reject(self, line: str) -> str | None:
        self.err.push(-100)
        return None

    def handle(self, line: str) -> str | None:
        head, _, arg = line.partition(" ")
        try:
            return self._dispatch(short_form(head), arg.strip())
        except ScpiError as e:
            self.err.push(e.code)
            return None

    def _num(self, arg: str) -> float:
        if not arg:
            raise ScpiError(-109)
        try:
            return float(arg)
        except ValueError:
            raise ScpiError(-121) from None

    def _dispatch(self, h: str, arg: str) -> str | None:
        if h == "*IDN?":
            return IDN
        if h == "*OPC?":
            return "1"
        if h == "*RST":
            self.reset()
            return None
        if h in ("SYST:ERR?", "SYST:ERR:NEXT?"):
            return self.err.pop()
        if h == "*CLS":
            self.err.clear()
            return None
        if h == "*TRG":
            self._trigger()
            return None
        src = 1
        parts = h.split(":")
        if parts[0].startswith(("SOUR", "OUTP", "TRIG")):
            base = parts[0].rstrip("?")
            digits = base.lstrip("SOURCEPTIG")
            src = int(digits) if digits else 1
            if src not in (1, 2):
                raise ScpiError(-113)
            parts[0] = base.rstrip("0123456789") + ("?" if parts[0].endswith("?") else "")
        if parts[0].startswith("SOUR"):
            parts = parts[1:]
        key = ":".join(parts)
        c = self.ch[src]
        if key in ("OUTP", "OUTP?"):
            if key.endswith("?"):
                return "1" if c["out"] else "0"
            if arg.upper() not in ("ON", "OFF", "1", "0"):
                raise ScpiError(-102)
            c["out"] = arg.upper() in ("ON", "1")
            self._level(src)
            return None
        if key == "TRIG:SOUR":
            if arg.upper()[:3] not in ("BUS", "IMM", "EXT"):
                raise ScpiError(-102)
            c["trig"] = arg.upper()[:3]
            return None
        if key == "FUNC":
            if short_form(arg) not in ("PULS", "SIN", "SQU", "DC"):
                raise ScpiError(-102)
            c["func"] = short_form(arg)
            return None
        if key == "BURS:STAT":
            c["burst"] = arg.upper() in ("ON", "1")
            return None
        if key == "BURS:MODE":
            c["mode"] = arg.upper()[:4]
            return None
        setters = {"FUNC:PULS:PER": "per", "FUNC:PULS:WIDT": "wid", "VOLT:HIGH": "high",
                   "VOLT:LOW": "low", "BURS:NCYC": "ncyc"}
        if key in setters:
            v = self._num(arg)
            name = setters[key]
            if name in ("high", "low") and abs(v) > V_MAX:
                raise ScpiError(-222)
            if name in ("per", "wid") and v <= 0 or name == "ncyc" and not 1 <= v <= 1e8:
                raise ScpiError(-222)
            if name == "wid" and v >= c["per"]:
                raise ScpiError(-222)
            c[name] = int(v) if name == "ncyc" else v
            self._level(src)
            return None
        if key.endswith("?") and key[:-1] in setters:
            return repr(float(c[setters[key[:-1]]]))
        raise ScpiError(-113)

    def _level(self, src: int) -> None:
        c = self.ch[src]
        self.bench.set_level(f"PG{src}", c["low"] if c["out"] else 0.0)

    def _trigger(self) -> None:
        segs, n, per = [], 0, 0.0
        for src, c in self.ch.items():
            if c["out"] and c["burst"] and c["func"] == "PULS" and c["trig"] == "BUS":
                segs.append(({f"PG{src}": c["high"]}, c["wid"]))
                n, per = c["ncyc"], c["per"]
        if segs:
            width = min(w for _, w in segs)
            merged = {p: v for o, _ in segs for p, v in o.items()}
            self.bench.pulse([(merged, width)], count=n, period_s=per)
