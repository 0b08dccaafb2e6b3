"""Switch matrix emulator (E5250A/B2200A-class SCPI): routes bench ports to array pins."""
from __future__ import annotations

import re
import threading

from sim_backends.emulators.bench import Bench
from sim_backends.emulators.line import LineEmulator
from sim_backends.emulators.scpi import ErrorQueue, ScpiError, short_form

IDN = "Agilent Technologies,E5250A,HILEMU0003,B.01.00"


class SwitchMatrixEmulator(LineEmulator):
    name = "E5250A"

    def __init__(self, bench: Bench, card: int = 1, lock: threading.RLock | None = None) -> None:
        super().__init__(lock or bench.lock)
        self.bench = bench
        self.card = card
        self.err = ErrorQueue()

    def too_long(self) -> None:
        self.err.push(-223)

    def reject(self, line: str) -> str | None:
        self.err.push(-100)
        return None

    def _points(self, arg: str) -> list[tuple[int, int]]:
        m = re.fullmatch(r"\(@([0-9,:\s]*)\)", arg.strip())
        if not m:
            raise ScpiError(-102)
        pts = []
        for tok in filter(None, (t.strip() for t in m.group(1).split(","))):
            if len(tok) != 5 or not tok.isdigit():
                raise ScpiError(-102)
            card, i, o = int(tok[0]), int(tok[1:3]), int(tok[3:])
            if card != self.card or not 1 <= i <= len(self.bench.inputs) \
                    or not 1 <= o <= len(self.bench.pins):
                raise ScpiError(-222)
            pts.append((i, o))
        return pts

    def handle(self, line: str) -> str | None:
        head, _, arg = line.partition(" ")
        try:
            h = short_form(head)
            if h == "*IDN?":
                return IDN
            if h == "*OPC?":
                return "1"
            if h in ("SYST:ERR?", "SYST:ERR:NEXT?"):
                return self.err.pop()
            if h in ("*RST", "ROUT:OPEN:CARD"):
                if h == "ROUT:OPEN:CARD" and arg.strip().upper() not in ("ALL", str(self.card)):
                    raise ScpiError(-222)
                self.bench.routes.clear()
                return None
            if h == "ROUT:CLOS":
                self.bench.routes |= set(self._points(arg))
                return None
            if h == "ROUT:OPEN":
                self.bench.routes -= set(self._points(arg))
                return None
            if h == "ROUT:CLOS:CARD?":
                if arg.strip() not in (str(self.card), "ALL"):
                    raise ScpiError(-222)
                return "(@" + ",".join(f"{self.card}{i:02d}{o:02d}"
                                       for i, o in sorted(self.bench.routes)) + ")"
            if h == "ROUT:CLOS?":
                return ",".join("1" if p in self.bench.routes else "0" for p in self._points(arg))
            raise ScpiError(-113)
        except ScpiError as e:
            self.err.push(e.code)
            return None
