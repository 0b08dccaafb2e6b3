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
    a = abs(value)
    if not a < DUMMY:   # also NaN and inf: data without meaning
        return _text(199.999, 99, decimals)
    if a == 0:
        return _text(0.0, 0, decimals)
    exp = math.floor(math.log10(a))
    exp -= exp % 3  # engineering exponent (floor to a multiple of 3)
    mant = value / _POW10[exp]
    # round() is exact but slow: ask it only where rounding can reach 1000
    if abs(mant) >= 999.99 and round(abs(mant), decimals) >= 1000.0:
        exp += 3
        mant = value / _POW10[exp]
    return _text(mant, exp, decimals)


def _text(mant: float, exp: int, decimals: int) -> str:
    """``±ddd.ddd…E±dd``: sign + 3 digits + point + ``decimals`` digits, exponent."""
    return "%+0*.*fE%+03d" % (5 + decimals, decimals, mant, exp)


#: 10 ** e for every engineering exponent of a finite float (the values ``10.0 ** e`` gives)
_POW10 = {e: 10.0 ** e for e in range(-327, 309, 3)}


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
