"""Pure builders/parsers for E5250A/B2200A-style channel lists.

A channel is ``card`` (1 digit) + input (2 digits) + output (2 digits): card 1, input 3,
output 12 -> ``10312``.  Lists are written ``(@10101,10312)``.  Card 0 addresses all
cards of a B2200A in auto configuration mode (``(@00312)``).
"""
from __future__ import annotations

import re
from typing import Iterable

from hil.errors import InstrumentError

Crosspoint = tuple[int, int]  # (input, output), 1-based


def channel(inp: int, out: int, card: int = 1) -> str:
    """One channel number as text."""
    if not (0 <= card <= 4 and 1 <= inp <= 99 and 1 <= out <= 99):
        raise ValueError(f"channel card 0..4 (0 = auto configuration), input/output 1..99; "
                         f"got card={card}, "
                         f"input={inp}, output={out}")
    return f"{card}{inp:02d}{out:02d}"


def channel_list(points: Iterable[Crosspoint], card: int = 1) -> str:
    """``(@10101,10312)``."""
    return "(@" + ",".join(channel(i, o, card) for i, o in points) + ")"


def parse_channel_list(reply: str) -> list[tuple[int, int, int]]:
    """``(@10101,10312)`` (or ``@10101,10312``) -> [(card, input, output)]."""
    s = reply.strip()
    m = re.fullmatch(r"\(?@?([0-9,\s]*)\)?", s)
    if not m:
        raise InstrumentError(f"cannot parse channel list {reply!r}: expected (@CIIOO,...)")
    out = []
    for tok in filter(None, (t.strip() for t in m.group(1).split(","))):
        if len(tok) != 5:
            raise InstrumentError(f"bad channel {tok!r} in {reply!r}: expected 5 digits CIIOO")
        out.append((int(tok[0]), int(tok[1:3]), int(tok[3:5])))
    return out


def idn() -> str: return "*IDN?"
def err() -> str: return "SYST:ERR?"
def opc() -> str: return "*OPC?"
def close(points: Iterable[Crosspoint], card: int = 1) -> str:
    return f"ROUT:CLOS {channel_list(points, card)}"
def open_(points: Iterable[Crosspoint], card: int = 1) -> str:
    return f"ROUT:OPEN {channel_list(points, card)}"
def open_all(card: int | str = "ALL") -> str: return f"ROUT:OPEN:CARD {card}"
def closed_query(card: int = 1) -> str: return f"ROUT:CLOS:CARD? {card}"
