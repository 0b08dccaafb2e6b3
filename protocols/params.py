"""Protocol parameters: declared once with unit, default and bounds; validated with clear errors.

Values arrive as Python objects (from code) or strings (from ``hil run --set k=v``); `Param.coerce`
turns both into the declared kind.  Voltages and widths are also checked against the device
card's ``[limits]`` table (the safe operating range of the device under test).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from hil.errors import ParameterError

_KINDS: dict[str, Callable[[Any], Any]] = {"float": float, "int": int, "str": str}


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _parse_floats(value: Any) -> list[float]:
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else [v for v in text.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        value = [value]
    return [float(v) for v in value]


_KINDS["bool"] = _parse_bool
_KINDS["floats"] = _parse_floats


@dataclass(frozen=True)
class Param:
    """One protocol parameter.

    ``limit`` = "voltage" or "width" also checks each value against the device card's
    ``[limits]`` (``v_min_V``..``v_max_V``, ``width_min_s``..``width_max_s``).
    """

    name: str
    default: Any
    unit: str = ""
    help: str = ""
    kind: str = "float"          # float | int | str | bool | floats
    min: float | None = None
    max: float | None = None
    positive: bool = False       # strictly > 0
    choices: Sequence[str] | None = None
    limit: str | None = None     # "voltage" | "width"

    def describe(self) -> str:
        unit = f" [{self.unit}]" if self.unit else ""
        choices = f" one of {', '.join(self.choices)};" if self.choices else ""
        return f"{self.name}{unit} = {self.default!r}:{choices} {self.help}"

    def coerce(self, value: Any, device: dict[str, Any] | None = None) -> Any:
        if self.kind not in _KINDS:
            raise ValueError(f"parameter {self.name}: unknown kind {self.kind!r}")
        try:
            out = _KINDS[self.kind](value)
        except (TypeError, ValueError, json.JSONDecodeError):
            raise ParameterError(
                f"parameter {self.name}={value!r} is not a valid {self.kind}") from None
        for v in out if isinstance(out, list) else [out]:
            self._check(v, device or {})
        return out

    def _check(self, v: Any, device: dict[str, Any]) -> None:
        unit = f" {self.unit}" if self.unit else ""
        if self.choices is not None and v not in self.choices:
            raise ParameterError(f"parameter {self.name}={v!r} not allowed; choose one of {list(self.choices)}")
        if self.kind in ("float", "int", "floats"):
            if v != v:
                raise ParameterError(f"parameter {self.name} is NaN; a number is required")
            if self.positive and not v > 0:
                raise ParameterError(f"parameter {self.name}={v}{unit} must be > 0")
            if self.min is not None and v < self.min:
                raise ParameterError(f"parameter {self.name}={v}{unit} is below the minimum {self.min}{unit}")
            if self.max is not None and v > self.max:
                raise ParameterError(f"parameter {self.name}={v}{unit} is above the maximum {self.max}{unit}")
            if self.limit:
                self._check_card(v, device)

    def _check_card(self, v: float, device: dict[str, Any]) -> None:
        limits = device.get("limits", {})
        key = {"voltage": ("v_min_V", "v_max_V", "V"), "width": ("width_min_s", "width_max_s", "s")}
        lo_key, hi_key, unit = key[self.limit]
        lo, hi = limits.get(lo_key), limits.get(hi_key)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ParameterError(
                f"parameter {self.name}={v} {unit} is outside the safe range of device "
                f"{device.get('name', '?')!r}: {lo} .. {hi} {unit} (device card [limits])")


def resolve(specs: Sequence[Param], values: dict[str, Any],
            device: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults overlaid with ``values``, each coerced and checked; unknown names are errors."""
    known = {p.name: p for p in specs}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(known) or 'none'}")
    out = {}
    for p in specs:
        raw = values.get(p.name, p.default)
        out[p.name] = raw if raw is None else p.coerce(raw, device)
    return out
