"""SCPI-99 program-message parser (SCPI 1999.0 Vol. 1 ch. 6-7, IEEE 488.2 ch. 7), pure.

Headers are matched against command patterns written as the manuals tabulate them,
``[SOURce#:]FUNCtion:PULSe:WIDTh``: each node is accepted in its short form (the upper-case
letters) or its long form (all letters), case-insensitively, and nothing in between
(``FREQ`` and ``FREQUENCY`` match ``FREQuency``, ``FREQU`` does not); ``[...]`` nodes are
optional; ``#`` marks a numeric suffix (default 1).  The forms come from the table, never
from a letter rule.

Messages: units separated by ``;``; a unit not starting with ``:`` or ``*`` continues in
the subsystem of the previous one (``SOUR1:VOLT:HIGH 1;LOW 0`` = ``…:VOLT:LOW 0``), a
leading ``:`` returns to the root.  Parameters are separated by ``,`` outside quotes and
``(@...)`` channel lists.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from sim_backends.emulators.scpi import ScpiError

#: SCPI's "not a number"/infinity reply value (SCPI 1999 Vol. 1, 7.2.1.5)
INFINITY = 9.9e37
_TOKEN_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*?)(\d*)(\?)?$")


@dataclass(frozen=True)
class Node:
    short: str
    long: str
    optional: bool
    suffix: bool

    def accepts(self, word: str) -> bool:
        w = word.upper()
        return w == self.short or w == self.long


def compile_pattern(pattern: str) -> tuple[Node, ...]:
    """``[SOURce#:]FUNCtion:PULSe:WIDTh`` -> nodes (short = the upper-case letters/digits)."""
    nodes, optional = [], False
    for m in re.finditer(r"\[|\]|:|([A-Za-z][A-Za-z0-9]*?)(#?)(?=[\[\]:]|$)|(.)", pattern):
        tok = m.group(0)
        if m.group(3) is not None:
            raise ValueError(f"bad character {tok!r} in SCPI pattern {pattern!r}")
        if tok == "[":
            if optional:
                raise ValueError(f"nested [] in SCPI pattern {pattern!r}")
            optional = True
        elif tok == "]":
            if not optional:
                raise ValueError(f"unbalanced [] in SCPI pattern {pattern!r}")
            optional = False
        elif tok != ":":
            word = m.group(1)
            short = "".join(ch for ch in word if ch.isupper() or ch.isdigit())
            nodes.append(Node(short, word.upper(), optional, bool(m.group(2))))
    if optional or not nodes:
        raise ValueError(f"unbalanced [] or empty SCPI pattern {pattern!r}")
    return tuple(nodes)


def split_tokens(header: str) -> list[tuple[str, int | None]]:
    """``SOUR1:FUNC:PULS:WIDT`` -> [('SOUR', 1), ('FUNC', None), ...]; -113 if malformed."""
    out = []
    for tok in header.split(":"):
        m = _TOKEN_RE.match(tok)
        if not m or m.group(3):
            raise ScpiError(-113)
        out.append((m.group(1), int(m.group(2)) if m.group(2) else None))
    return out


def match(nodes: tuple[Node, ...], tokens: list[tuple[str, int | None]]) -> list[int] | None:
    """Numeric suffixes (one per suffix node, default 1) if ``tokens`` fit, else None."""
    def rec(i: int, j: int, suffixes: list[int]) -> list[int] | None:
        if i == len(nodes):
            return suffixes if j == len(tokens) else None
        node = nodes[i]
        if j < len(tokens):
            word, num = tokens[j]
            if node.accepts(word) and (num is None or node.suffix):
                r = rec(i + 1, j + 1, suffixes + ([num or 1] if node.suffix else []))
                if r is not None:
                    return r
        if node.optional:
            return rec(i + 1, j, suffixes + ([1] if node.suffix else []))
        return None
    return rec(0, 0, [])


def split_units(message: str) -> list[str]:
    """Program message units (``;`` outside quotes)."""
    units, cur, quote = [], [], ""
    for ch in message:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch == ";":
            units.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    units.append("".join(cur))
    return [u.strip() for u in units if u.strip()]


def split_params(text: str) -> list[str]:
    """Parameters (``,`` outside quotes and parentheses)."""
    if not text.strip():
        return []
    out, cur, depth, quote = [], [], 0, ""
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    if any(p == "" for p in out):
        raise ScpiError(-109)
    return out


@dataclass(frozen=True)
class Unit:
    """One program message unit with its header expanded to the full path."""

    header: str            # e.g. "SOUR1:VOLT:LOW" or "*IDN"
    query: bool
    params: tuple[str, ...]


def parse_message(message: str) -> list[Unit | ScpiError]:
    """Units of a message with relative headers resolved; a malformed unit becomes its error."""
    out: list[Unit | ScpiError] = []
    prefix: list[str] = []
    for text in split_units(message):
        head, _, rest = text.partition(" ")
        head = head.strip()
        if "\t" in head:
            head, _, more = head.partition("\t")
            rest = more + " " + rest
        query = head.endswith("?")
        head = head[:-1] if query else head
        try:
            if head.startswith("*"):
                if not re.fullmatch(r"\*[A-Za-z]+", head):
                    raise ScpiError(-113)
                out.append(Unit(head.upper(), query, tuple(split_params(rest))))
                continue
            if head.startswith(":"):
                prefix = []
                head = head[1:]
            parts = prefix + head.split(":")
            split_tokens(":".join(parts))  # validates every token
            prefix = parts[:-1]
            out.append(Unit(":".join(parts), query, tuple(split_params(rest))))
        except ScpiError as e:
            out.append(e)
    return out


def number(text: str, minimum: float | None = None, maximum: float | None = None,
           default: float | None = None) -> float:
    """A numeric parameter: NR1/NR2/NR3, ``MIN``/``MAX``/``DEF``, ``INF``; units ignored
    (``1 KHZ`` is not accepted: the emulated instruments take SI base units)."""
    t = text.strip().upper()
    special = {"MIN": minimum, "MINIMUM": minimum, "MAX": maximum, "MAXIMUM": maximum,
               "DEF": default, "DEFAULT": default, "INF": INFINITY, "INFINITY": INFINITY}
    if t in special:
        v = special[t]
        if v is None:
            raise ScpiError(-224)  # illegal parameter value
        return float(v)
    try:
        v = float(t)
    except ValueError:
        raise ScpiError(-121 if t[:1].isdigit() or t[:1] in "+-." else -104) from None
    if not math.isfinite(v):
        raise ScpiError(-121)
    return v


def boolean(text: str) -> bool:
    t = text.strip().upper()
    if t in ("ON", "1"):
        return True
    if t in ("OFF", "0"):
        return False
    try:
        return round(float(t)) != 0
    except ValueError:
        raise ScpiError(-224) from None


def nr3(v: float, digits: int = 14) -> str:
    """``1000.0`` -> ``+1.00000000000000E+03`` (33500-series reply format)."""
    return f"{v:+.{digits}E}"
