"""Numbers with units typed by a user: ``1y``, ``2ms``, ``10V``, ``-7 V``, ``50uS`` -> SI floats.

One parser for every place a user types a quantity (``--set``, ``--times``, ``--horizon``,
``--t-read``): a number, optionally followed by a unit.  Times take the calendar units
(``min``, ``h``, ``d``, ``w``, ``mo``, ``y``) as well as the SI prefixes (``ms``, ``us``, ``ns``);
other SI units (V, A, S, Hz, Ohm, F) take the SI prefixes p n u µ m k M G.  A bare number is
already in the declared SI unit.
"""
from __future__ import annotations

import re

from hil.errors import ParameterError

#: seconds per time unit (a month is 30 days, a year 365 days)
TIME_UNITS_S: dict[str, float] = {
    "ps": 1e-12, "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0,
    "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0, "mo": 30 * 86400.0, "y": 365 * 86400.0}
SI_PREFIXES: dict[str, float] = {"p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3, "": 1.0,
                                 "k": 1e3, "M": 1e6, "G": 1e9}
#: SI units that take prefixes and may be typed after a number
SI_UNITS = ("s", "V", "A", "S", "Hz", "Ohm", "F")

_NUMBER = re.compile(r"\s*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*(\S*)\s*")


class UnitError(ParameterError):
    """A quantity that could not be read; ``reason`` says why and what is allowed."""

    def __init__(self, what: str, text: str, reason: str, sep: str = ": ") -> None:
        super().__init__(f"{what} {text!r}{sep}{reason}")
        self.reason = reason


def unit_scales(unit: str) -> dict[str, float]:
    """The suffixes a value of SI ``unit`` may carry, each with its factor to ``unit``."""
    if unit == "s":
        return dict(TIME_UNITS_S)
    return {p + unit: f for p, f in SI_PREFIXES.items()}


def parse_quantity(text: str | float, unit: str, what: str = "value") -> float:
    """``text`` (``'2ms'``, ``'10 V'``, ``'1y'``, ``'3e-6'``) as a float in SI ``unit``.

    Units other than `SI_UNITS` (counts, steps) take a bare number only.  Raises
    `ParameterError` naming ``what`` and the suffixes allowed."""
    if not isinstance(text, str):
        return float(text)
    m = _NUMBER.fullmatch(text)
    scales = unit_scales(unit) if unit in SI_UNITS else {}
    allowed = f"a number with a unit ({', '.join(k for k in scales if k)}), e.g. 2{'ms' if unit == 's' else 'm' + unit}" \
        if scales else "a number"
    if not m:
        try:  # 'nan', 'inf': Python's own spellings, left to the caller's range checks
            return float(text)
        except ValueError:
            raise UnitError(what, text, f"not understood; use {allowed}", " ") from None
    number, suffix = m.groups()
    if not suffix:
        return float(number)
    factor = scales.get(suffix)
    if factor is None and suffix.lower() == unit.lower() and scales:
        factor = 1.0                       # '10v' for volts: the case is not ambiguous here
    if factor is None:
        raise UnitError(what, text, f"unit {suffix!r} not allowed here; use {allowed}")
    return float(number) * factor


def parse_time(text: str) -> float:
    """``'10y'``, ``'1mo'``, ``'3600'``, ``'2.5h'``, ``'2ms'`` -> seconds (> 0)."""
    value = parse_quantity(text, "s", what="time")
    if value <= 0:
        raise ParameterError(f"time {text!r} must be > 0")
    return value
