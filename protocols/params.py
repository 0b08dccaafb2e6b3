"""Protocol parameters: declared once with unit, default and bounds; validated with clear errors.

Values arrive as Python objects (from code) or strings (from ``hil run --set k=v``); `Param.coerce`
turns both into the declared kind.  Voltages and widths are also checked against the device
card's ``[limits]`` table (the safe operating range of the device under test).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Sequence

from hil.errors import ParameterError
from hil.units import SI_UNITS, UnitError, parse_quantity

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


def _parse_floats(value: Any, number: Callable[[Any], float] = float) -> list[float]:
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else [v for v in text.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        value = [value]
    return [number(v) for v in value]


_KINDS["bool"] = _parse_bool
_KINDS["floats"] = _parse_floats


@dataclass(frozen=True)
class Param:
    """One protocol parameter.

    ``limit`` = "voltage" or "width" also checks each value against the device card's
    ``[limits]`` (``v_min_V``..``v_max_V``, ``width_min_s``..``width_max_s``) and, where the
    backend's limits are given (`hil.limits.Limits`: the station's, within the card's), against
    those: "voltage" is a programming amplitude (with the line voltages it puts on each line,
    `hil.families`), "-voltage" the magnitude of a depression amplitude, "line:KIND" a raw
    voltage on a line kind, "compliance" a current compliance.

    ``preset`` names the device card's default for a parameter left at None
    (``"ispp.v_p_start_V"`` -> the card's ``[presets.ispp] v_p_start_V``, `hil.cards.preset`).
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
    limit: str | None = None     # "voltage" | "-voltage" | "width" | "compliance" | "line:KIND"
    preset: str | None = None    # card preset used when the value is None ("ispp.width_s")
    preset_optional: bool = False  # a card may leave that preset out (the value then stays None)

    def describe(self) -> str:
        unit = f" [{self.unit}]" if self.unit else ""
        choices = f" one of {', '.join(self.choices)};" if self.choices else ""
        default = f"card presets.{self.preset}" if self.preset and self.default is None else repr(self.default)
        return f"{self.name}{unit} = {default}:{choices} {self.help}"

    def coerce(self, value: Any, device: dict[str, Any] | None = None, limits: Any = None) -> Any:
        if self.kind not in _KINDS:
            raise ValueError(f"parameter {self.name}: unknown kind {self.kind!r}")
        convert = _KINDS[self.kind]
        if self.kind in ("float", "floats") and self.unit in SI_UNITS:
            # '2ms', '10V', '1y': the one unit parser (hil.units), as --times uses
            number = partial(parse_quantity, unit=self.unit, what=f"parameter {self.name}")
            convert = number if self.kind == "float" else partial(_parse_floats, number=number)
        try:
            out = convert(value)
        except UnitError as exc:
            raise ParameterError(f"parameter {self.name}={value!r} is not a valid {self.kind}: "
                                 f"{exc.reason}") from None
        except (TypeError, ValueError, json.JSONDecodeError):
            raise ParameterError(
                f"parameter {self.name}={value!r} is not a valid {self.kind}") from None
        for v in out if isinstance(out, list) else [out]:
            self._check(v, device or {})
            if limits is not None and self.limit and self.kind in ("float", "int", "floats"):
                self._check_limits(float(v), device or {}, limits)
        return out

    def _check_limits(self, v: float, device: dict[str, Any], limits: Any) -> None:
        """Against the backend's effective limits (station within card)."""
        what = f"parameter {self.name}"
        if self.limit == "width":
            limits.check_width(v, what)
        elif self.limit == "compliance":
            limits.check_compliance(v)
        elif self.limit in ("voltage", "-voltage"):
            from hil.families import family_of

            amp = -abs(v) if self.limit == "-voltage" else v
            limits.check_amplitude(amp, what)
            fam = family_of(device) if device.get("kind") else None
            limits.check_program(fam, device, amp if amp > 0 else None, -amp if amp < 0 else None)
        elif self.limit.startswith("line:"):
            limits.check_line(self.limit[5:], v, what)

    def _check(self, v: Any, device: dict[str, Any]) -> None:
        unit = f" {self.unit}" if self.unit else ""
        if self.choices is not None and v not in self.choices:
            raise ParameterError(f"parameter {self.name}={v!r} not allowed; choose one of {list(self.choices)}")
        if self.kind in ("float", "int", "floats"):
            if v != v:
                raise ParameterError(f"parameter {self.name} is NaN; a number is required")
            if v in (float("inf"), float("-inf")):
                bounds = f" ({self.min if self.min is not None else '-inf'} .. {self.max if self.max is not None else 'inf'})"
                raise ParameterError(f"parameter {self.name}={v}{unit} is not finite; a finite "
                                     f"number is required{bounds if self.min is not None or self.max is not None else ''}")
            if self.positive and not v > 0:
                raise ParameterError(f"parameter {self.name}={v}{unit} must be > 0")
            if self.min is not None and v < self.min:
                raise ParameterError(f"parameter {self.name}={v}{unit} is below the minimum {self.min}{unit}")
            if self.max is not None and v > self.max:
                raise ParameterError(f"parameter {self.name}={v}{unit} is above the maximum {self.max}{unit}")
            if self.limit and (self.limit in ("voltage", "-voltage", "width") or self.limit.startswith("line:")):
                self._check_card(-abs(v) if self.limit == "-voltage" else v, device)

    def _check_card(self, v: float, device: dict[str, Any]) -> None:
        limits = device.get("limits", {})
        key = {"voltage": ("v_min_V", "v_max_V", "V"), "width": ("width_min_s", "width_max_s", "s")}
        lo_key, hi_key, unit = key["width" if self.limit == "width" else "voltage"]
        lo, hi = limits.get(lo_key), limits.get(hi_key)
        shown = -v if self.limit == "-voltage" else v      # the magnitude the user gave
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            what = "a depression of " + f"-{shown} {unit}" if self.limit == "-voltage" else ""
            raise ParameterError(
                f"parameter {self.name}={shown} {unit}{' (' + what + ')' if what else ''} is "
                f"outside the safe range of device "
                f"{device.get('name', '?')!r}: {lo} .. {hi} {unit} (device card [limits])")


def resolve(specs: Sequence[Param], values: dict[str, Any],
            device: dict[str, Any] | None = None, limits: Any = None) -> dict[str, Any]:
    """Defaults overlaid with ``values``, each coerced and checked; unknown names are errors.

    A value left at None takes the device card's preset where the parameter names one; the
    preset is checked like user input (so a card cannot smuggle in an unsafe default)."""
    from hil.cards import has_preset, preset

    known = {p.name: p for p in specs}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ParameterError(
            f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(known) or 'none'}")
    out = {}
    for p in specs:
        raw = values.get(p.name, p.default)
        if raw is None and p.preset and device is not None and (
                not p.preset_optional or has_preset(device, p.preset)):
            raw = preset(device, p.preset)
        out[p.name] = raw if raw is None else p.coerce(raw, device, limits)
    return out


def check_size(what: str, n_items: float, item_bytes: int = 8, limit: int | None = None) -> None:
    """Refuse, before allocating, an array of ``n_items`` that would not fit in memory.

    ``limit`` is an absolute item limit; by default half of the available memory."""
    import os

    if limit is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 8 << 30
        limit = max(1, avail // 2 // max(1, item_bytes))
    if not n_items <= limit:
        raise ParameterError(f"{what} needs {n_items:.3g} values ({n_items * item_bytes / 1e9:.3g} GB); "
                             f"allowed: at most {limit:.3g} (half the free memory)")
