"""B1500A ASCII measurement data formats (``FMT 1/2/11/12/21/22``), pure functions.

Each datum is ``[header]value``:

- FMT 1 / 2 (12 digits): value ``±ddd.dddE±dd`` (engineering exponent, e.g.
  ``+000.005E-09``); FMT 1 has the 3-letter header status / channel / data type
  (``NAI+000.005E-09``, Programming Guide "Data Output Format"; REFERENCE §8).
- FMT 11 / 12 (13 digits): value ``±ddd.ddddE±dd``; FMT 11 header as FMT 1.
- FMT 21 / 22 (13 digits): FMT 21 header = 3-digit status number (bit sum: 1 A/D overflow,
  2 oscillation, 4 other channel in compliance, 8 this channel in compliance, 128 end of
  data), channel letter, data type (source output data in lower case: ``v``/``i``).
  Record widths (16/17/19 characters with separator) agree with PyMeasure 0.16.0's FMT1,
  FMT11 and FMT21 parsers; the 13-digit layout is an assumption (docs/emulator-b1500.md).

FMT 2/12/22 send the value only.  Data are separated by ``,``; the line ends in CR LF.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

#: the value a B1500 sends for data without meaning (status V / overflow / aborted sweep)
DUMMY = 199.999e99
#: formats the emulator writes: format -> (digits after the point, header kind)
FORMATS = {1: (3, "letter"), 2: (3, None), 11: (4, "letter"), 12: (4, None),
           21: (4, "number"), 22: (4, None)}
#: FMT 1 status letter -> FMT 21 status number
STATUS_NUMBER = {"N": 0, "V": 1, "X": 2, "T": 4, "C": 8, "W": 0, "E": 128}
N_SLOTS = 10


def channel_letter(channel: int) -> str:
    """Slot 1 -> 'A' … slot 10 -> 'J'; the second channel of a module in lower case;
    0 (GNDU / no channel, e.g. the sampling index) -> 'Z'."""
    if channel == 0:
        return "Z"
    slot, sub = (channel // 100, channel % 100) if channel > 100 else (channel, 1)
    if not 1 <= slot <= N_SLOTS or sub not in (1, 2):
        raise ValueError(f"no data channel letter for channel {channel!r}")
    c = chr(ord("A") + slot - 1)
    return c if sub == 1 else c.lower()


def value_text(value: float, decimals: int = 3) -> str:
    """``5e-12`` -> ``+005.000E-12`` (3 decimals) / ``+005.0000E-12`` (4 decimals)."""
    return formatter(decimals)(value)


@lru_cache(maxsize=64)
def formatter(decimals: int, head: str | bytes = "", tail: str | bytes = ""
              ) -> Callable[[float], str | bytes]:
    """value -> ``head`` + ``±ddd.ddd…E±dd`` (``decimals`` digits after the point) + ``tail``,
    as str or, for bytes ``head``/``tail``, as bytes: the one implementation of the value
    text (`value_text`; a spot query's whole reply line in one ``%``, `datum_line`)."""
    if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 9:
        raise ValueError(f"decimals {decimals!r}; allowed: an int 0..9")
    if isinstance(head, bytes) != isinstance(tail, bytes):
        raise TypeError(f"head {head!r} and tail {tail!r} must be both str or both bytes")
    pct = b"%" if isinstance(head, bytes) else "%"
    head, tail = head.replace(pct, pct + pct), tail.replace(pct, pct + pct)
    mant_spec = "%%+0%d.%df" % (5 + decimals, decimals)   # ±ddd.ddd…

    def with_exponent(exp: int | None) -> str | bytes:
        """The pattern of the whole text, the exponent filled in (None: a %d for it)."""
        spec = mant_spec + ("E%+03d" if exp is None else "E%+03d" % exp)
        return head + (spec.encode("ascii") if pct == b"%" else spec) + tail

    pattern = with_exponent(None)
    dummy, zero = pattern % (199.999, 99), pattern % (0.0, 0)
    pow10, floor, log10 = _POW10, math.floor, math.log10
    # the last decade range: (lo, top, 10 ** exponent, the pattern with that exponent);
    # |values| strictly inside (lo, top) have that exponent whatever log10 rounds, and
    # their mantissa rounds below 1000 (a stream of readings stays in one): one ``%``
    last = [(1.0, 1.0, 1.0, pattern)]

    def text(value: float) -> str | bytes:
        a = value if value >= 0.0 else -value   # abs (NaN stays NaN)
        lo, top, p, pat = last[0]
        if lo < a < top:
            return pat % (value / p)
        return text_of(value, a)

    def text_of(value: float, a: float) -> str | bytes:
        """`text` of a value outside the last decade range (which it may set)."""
        if not a < DUMMY:   # also NaN and inf: data without meaning
            return dummy
        if a < _TINY:       # zero, or below any reading (10 ** e underflows past 1e-308)
            return zero
        exp = floor(log10(a))
        exp -= exp % 3  # engineering exponent (floor to a multiple of 3)
        p = pow10[exp]
        if exp + 3 in pow10:   # top: below DUMMY and where rounding could reach 1000
            last[0] = (p * _INSIDE_LO, min(p * 999.9, pow10[exp + 3] * _INSIDE_HI, DUMMY), p,
                       with_exponent(exp))
        mant = value / p
        # round() is exact but slow: ask it only where rounding can reach 1000
        if abs(mant) >= 999.99 and round(abs(mant), decimals) >= 1000.0:
            exp += 3
            mant = value / pow10[exp]
        return pattern % (mant, exp)
    return text


#: magnitudes below this format as zero: far below any instrument's resolution (fA)
_TINY = 1e-300
#: 10 ** e for every engineering exponent of a finite float (the values ``10.0 ** e`` gives)
_POW10 = {e: 10.0 ** e for e in range(-327, 309, 3)}
#: a decade range shrunk by 1e-9 relative: log10 of a value inside is more than 4e-10 away
#: from the range's ends, far beyond its rounding error (1e-15), so floor(log10) is known
_INSIDE_LO, _INSIDE_HI = 1.0 + 1e-9, 1.0 - 1e-9


def datum(fmt: int, status: str, channel: int, kind: str, value: float,
          source: bool = False) -> str:
    """One datum in format ``fmt``; ``status`` is the FMT 1 letter (N, C, T, V, W, E)."""
    decimals, head = layout(fmt, status, channel, kind, source)
    return head + value_text(value, decimals)


@lru_cache(maxsize=512, typed=True)
def layout(fmt: int, status: str, channel: int, kind: str, source: bool) -> tuple[int, str]:
    """(decimals, header text) of a datum: the same few per bench script, so memoised
    (a spot measurement formats one per query)."""
    if fmt not in FORMATS:
        raise ValueError(f"data format {fmt!r} not emulated; allowed: {sorted(FORMATS)}")
    decimals, header = FORMATS[fmt]
    if header == "letter":
        return decimals, f"{status}{channel_letter(channel)}{kind}"
    if header == "number":
        k = kind.lower() if source and kind in "VI" else kind
        return decimals, f"{STATUS_NUMBER.get(status, 0):03d}{channel_letter(channel)}{k}"
    return decimals, ""


def datum_line(fmt: int, status: str, channel: int, kind: str, terminator: str
               ) -> Callable[[float], bytes]:
    """value -> the bytes of a reply line holding one datum: ``datum(fmt, status, channel,
    kind, value) + terminator``, encoded (the same text; memoised through `layout` and
    `formatter`, so a spot query formats its reply in one call)."""
    decimals, head = layout(fmt, status, channel, kind, False)
    return formatter(decimals, head.encode("ascii"), terminator.encode("ascii"))
