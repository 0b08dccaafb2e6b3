"""FLEX command grammar of the Keysight B1500A (Programming Guide, ch. 1 "Command syntax").

A program message is one line of commands separated by ``;``.  A command is a header
(letters, optionally led by ``*`` and ended by ``?``) followed by parameters separated by
``,``.  FLEX headers contain letters only, so the space between header and parameters is
optional: ``CN4,5``, ``CN 4,5`` and ``WV4, 1, 0, 0, 0.5, 11, 0.001`` are all valid (the
instrument's own ``*LRN?`` replies use the compact form).  Spaces around parameters are
ignored.  Pure functions; the emulator maps a `Command` to its handler.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

#: ``*`` + letters + ``?`` header, then the rest of the command
_CMD_RE = re.compile(r"^\s*(\*?[A-Za-z]+\??)\s*(.*?)\s*$", re.S)


class FlexError(Exception):
    """A FLEX error number for the error queue (``ERRX?``)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Command:
    """One parsed FLEX command: ``WV4, 1, 0`` -> header 'WV', params ('4', '1', '0')."""

    header: str
    params: tuple[str, ...]

    @property
    def query(self) -> bool:
        return self.header.endswith("?")


def split_message(line: str) -> list[str]:
    """Commands of one program message (``;``-separated, empty ones dropped)."""
    return [c for c in (p.strip() for p in line.split(";")) if c]


def parse_command(text: str) -> Command:
    """``CN4,5`` / ``CN 4, 5`` -> Command('CN', ('4', '5')); error 100 if no header."""
    m = _CMD_RE.match(text)
    if not m:
        raise FlexError(100)
    header, rest = m.group(1).upper(), m.group(2)
    if rest and not (rest[0].isdigit() or rest[0] in "+-.,"):
        raise FlexError(100)  # letters glued to the header: an unknown header
    params = tuple(p.strip() for p in rest.split(",")) if rest else ()
    if any(p == "" for p in params):
        raise FlexError(102)  # ``CN 1,,2`` or a trailing comma: a missing number
    return Command(header, params)


@lru_cache(maxsize=1024)
def parse_line(line: str) -> tuple["Command | int", ...]:
    """Every command of one program message parsed, a malformed one as its error number.
    Pure, so cached: a bench script repeats the same few lines (``TI 4``) thousands of times;
    the cache holds at most 1024 lines of at most `line.MAX_LINE` characters."""
    out: list[Command | int] = []
    for text in split_message(line):
        try:
            out.append(parse_command(text))
        except FlexError as e:
            out.append(e.code)
    return tuple(out)


def number(text: str) -> float:
    """A FLEX numeric parameter (NR1/NR2/NR3); error 102 if it is not a finite number."""
    try:
        v = float(text)
    except ValueError:
        raise FlexError(102) from None
    if not math.isfinite(v):
        raise FlexError(102)
    return v


def integer(text: str) -> int:
    """An integer parameter; a non-integral number is a bad value (120)."""
    v = number(text)
    if v != int(v):
        raise FlexError(120)
    return int(v)


def check_count(params: tuple[str, ...], lo: int, hi: int) -> None:
    """Parameter count ``lo..hi`` or error 103 (the instrument sees the terminator too soon/late)."""
    if not lo <= len(params) <= hi:
        raise FlexError(103)
