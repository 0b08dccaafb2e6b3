"""Switch matrix emulator (Keysight B2200A/B2201A-class SCPI, ``[:ROUTe]`` subsystem):
routes bench ports (inputs) to array pins (outputs).

A channel is ``card`` + 2-digit input + 2-digit output (``10217``); lists are
``(@10217,10409)`` with ranges ``(@10101:10104)``.  The emulated matrix is one card that
reaches every bench pin; it answers to card 1 (normal configuration) and card 0 (auto
configuration: all cards as one, what QCoDeS's ``KeysightB220X`` uses).  Connection rule
(FREE / SROUte) and sequence, bias/ground/couple settings are stored and read back; the
bias and ground ports are not modelled electrically (documented in
``docs/emulator-switch-matrix.md``).
"""
from __future__ import annotations

import re
import threading

from sim_backends.emulators.bench import Bench
from sim_backends.emulators.scpi import ScpiEmulator, ScpiError
from sim_backends.emulators.scpi_parser import boolean

IDN = "Agilent Technologies,B2200A,HILEMU0003,1.0"
CARDS = (0, 1)


def _card(text: str) -> int:
    t = text.strip().upper()
    if t == "ALL":
        return 0
    try:
        c = int(t)
    except ValueError:
        raise ScpiError(-104) from None
    if c not in CARDS:
        raise ScpiError(-222)
    return c


class SwitchMatrixEmulator(ScpiEmulator):
    name = "B2200A"
    IDN = IDN

    def __init__(self, bench: Bench, card: int = 1, lock: threading.RLock | None = None) -> None:
        super().__init__(lock or bench.lock)
        self.bench = bench
        self.card = card
        self.reset()

    def reset(self) -> None:
        self.bench.routes.clear()
        self.state = {"rule": "FREE", "seq": "BBM", "bias_port": -1, "bias": False,
                      "agnd_port": -1, "agnd": False, "unused": "", "couple_port": "",
                      "couple": False, "bias_on": set(), "agnd_on": set()}

    # -- channel lists ---------------------------------------------------------------------
    def points(self, text: str) -> list[tuple[int, int]]:
        m = re.fullmatch(r"\(@([0-9,:\s]*)\)", text.strip())
        if not m:
            raise ScpiError(-102)  # not a channel list
        pts: list[tuple[int, int]] = []
        for tok in filter(None, (t.strip() for t in m.group(1).split(","))):
            ends = [e.strip() for e in tok.split(":")]
            if len(ends) > 2 or any(len(e) != 5 or not e.isdigit() for e in ends):
                raise ScpiError(-102)
            (c0, i0, o0), (c1, i1, o1) = [(int(e[0]), int(e[1:3]), int(e[3:])) for e in
                                          (ends[0], ends[-1])]
            if c0 != c1 or c0 not in CARDS:
                raise ScpiError(-222)
            for i in range(min(i0, i1), max(i0, i1) + 1):
                for o in range(min(o0, o1), max(o0, o1) + 1):
                    if not (1 <= i <= len(self.bench.inputs) and 1 <= o <= len(self.bench.pins)):
                        raise ScpiError(-222)
                    pts.append((i, o))
        return pts

    def list_text(self, card: int, pts) -> str:
        return "(@" + ",".join(f"{card}{i:02d}{o:02d}" for i, o in sorted(pts)) + ")"

    # -- handlers --------------------------------------------------------------------------
    def close(self, suffixes, query, params):
        (text,) = self.args(params, 1, 1)
        pts = self.points(text)
        if query:
            return ",".join("1" if p in self.bench.routes else "0" for p in pts)
        if self.state["rule"] == "SROU":  # single route: a new path replaces the old ones
            ins, outs = {i for i, _ in pts}, {o for _, o in pts}
            self.bench.routes -= {r for r in self.bench.routes if r[0] in ins or r[1] in outs}
        self.bench.routes |= set(pts)
        return None

    def open(self, suffixes, query, params):
        (text,) = self.args(params, 1, 1)
        pts = self.points(text)
        if query:
            return ",".join("0" if p in self.bench.routes else "1" for p in pts)
        self.bench.routes -= set(pts)
        return None

    def close_card(self, suffixes, query, params):
        if not query:
            raise ScpiError(-113)
        (text,) = self.args(params, 1, 1)
        return self.list_text(_card(text), self.bench.routes)

    def open_card(self, suffixes, query, params):
        if query:
            raise ScpiError(-113)
        (text,) = self.args(params, 1, 1)
        _card(text)
        self.bench.routes.clear()
        return None

    def detect(self, suffixes, query, params):
        if query:
            raise ScpiError(-113)
        return None


def card_setting(key: str, kind: str, choices: tuple[str, ...] = ()):
    """``:CONN:RULE card,FREE`` style settings and their ``? card`` queries."""
    from sim_backends.emulators.scpi_parser import compile_pattern
    nodes = [compile_pattern(c)[0] for c in choices]

    def handler(emu, suffixes, query, params):
        if query:
            (text,) = emu.args(params, 1, 1)
            _card(text)
            v = emu.state[key]
            if kind == "bool":
                return "1" if v else "0"
            return f"'{v}'" if kind == "list" else str(v)
        card, value = emu.args(params, 2, 2)
        _card(card)
        value = value.strip()
        if kind == "bool":
            emu.state[key] = boolean(value)
        elif kind == "port":
            try:
                p = int(value)
            except ValueError:
                raise ScpiError(-104) from None
            if p != -1 and not 1 <= p <= 14:
                raise ScpiError(-222)
            emu.state[key] = p
        elif kind == "list":
            emu.state[key] = value.strip("'\"")
        else:
            for node in nodes:
                if node.accepts(value):
                    emu.state[key] = node.short
                    break
            else:
                raise ScpiError(-224)
        return None
    return handler


def flag(key: str, enable: bool, whole_card: bool):
    """``:BIAS:CHAN:ENAB (@...)`` / ``...:CARD n``: outputs with bias (ground) enabled."""
    def handler(emu, suffixes, query, params):
        if query:
            raise ScpiError(-113)
        (text,) = emu.args(params, 1, 1)
        if whole_card:
            _card(text)
            outs = set(range(1, len(emu.bench.pins) + 1))
        else:
            outs = {o for _, o in emu.points(text)}
        emu.state[key] = emu.state[key] | outs if enable else emu.state[key] - outs
        return None
    return handler


SwitchMatrixEmulator.COMMANDS = (
    ("[ROUTe:]CLOSe", SwitchMatrixEmulator.close),
    ("[ROUTe:]CLOSe:CARD", SwitchMatrixEmulator.close_card),
    ("[ROUTe:]OPEN", SwitchMatrixEmulator.open),
    ("[ROUTe:]OPEN:CARD", SwitchMatrixEmulator.open_card),
    ("[ROUTe:]CONNection:RULE",
     card_setting("rule", "choice", ("FREE", "SROUte"))),
    ("[ROUTe:]CONNection:SEQuence",
     card_setting("seq", "choice", ("NSEQuence", "BBMake", "MBBReak"))),
    ("[ROUTe:]BIAS:PORT", card_setting("bias_port", "port")),
    ("[ROUTe:]BIAS[:STATe]", card_setting("bias", "bool")),
    ("[ROUTe:]BIAS:CHANnel:ENABle", flag("bias_on", True, False)),
    ("[ROUTe:]BIAS:CHANnel:DISable", flag("bias_on", False, False)),
    ("[ROUTe:]BIAS:CHANnel:ENABle:CARD", flag("bias_on", True, True)),
    ("[ROUTe:]BIAS:CHANnel:DISable:CARD", flag("bias_on", False, True)),
    ("[ROUTe:]AGND:PORT", card_setting("agnd_port", "port")),
    ("[ROUTe:]AGND[:STATe]", card_setting("agnd", "bool")),
    ("[ROUTe:]AGND:UNUSed", card_setting("unused", "list")),
    ("[ROUTe:]AGND:CHANnel:ENABle", flag("agnd_on", True, False)),
    ("[ROUTe:]AGND:CHANnel:DISable", flag("agnd_on", False, False)),
    ("[ROUTe:]AGND:CHANnel:ENABle:CARD", flag("agnd_on", True, True)),
    ("[ROUTe:]AGND:CHANnel:DISable:CARD", flag("agnd_on", False, True)),
    ("[ROUTe:]COUPle:PORT", card_setting("couple_port", "list")),
    ("[ROUTe:]COUPle[:STATe]", card_setting("couple", "bool")),
    ("[ROUTe:]COUPle:PORT:DETect", SwitchMatrixEmulator.detect),
    ("SYSTem:ERRor[:NEXT]", ScpiEmulator.system),
    ("SYSTem:VERSion", ScpiEmulator.system_version),
)
