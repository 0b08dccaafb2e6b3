"""Safety limits: what a backend may apply, checked before anything reaches a driver.

The device card's ``[limits]`` table (``v_min_V``/``v_max_V`` programming amplitudes,
``width_min_s``/``width_max_s``) is the ceiling; a station's ``[limits]`` table can only tighten
it (`Limits.tightened`) and adds what only the bench knows:

    [limits]
    v_min_V = -8.0            # programming amplitude range (V)
    v_max_V = 10.0
    v_max_gate_V = 10.0       # max |V| per line kind: gate (EG/WL), select (TG/BL),
    v_max_select_V = 10.0     #   drain (ED), source (ES/SL); a card may name them too
    width_max_s = 5e-3        # pulse width range (s)
    duty_max = 0.5            # largest fraction of time the outputs may be pulsed
    compliance_max_A = 1e-4   # largest current compliance of a DC sweep (A)
    rows = [0, 3]             # allowed cell region (inclusive row and column ranges)
    cols = [0, 7]

Protocols check their planned amplitudes and widths against `Backend.limits` when their
parameters are resolved (before the run file exists), and the backend base checks every
call again (`hil.backend.Backend`), so a violation is an error before the first pulse.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np

from hil.errors import ParameterError, StationError

LINE_KINDS = ("gate_rows", "select_cols", "drain", "source")
#: station [limits] key of each line kind
LINE_KEYS = {"gate_rows": "v_max_gate_V", "select_cols": "v_max_select_V",
             "drain": "v_max_drain_V", "source": "v_max_source_V"}
_FLOAT_KEYS = ("v_min_V", "v_max_V", "width_min_s", "width_max_s", "duty_max",
               "compliance_max_A") + tuple(LINE_KEYS.values())
STATION_KEYS = _FLOAT_KEYS + ("rows", "cols")


@dataclass(frozen=True)
class Limits:
    """Effective limits of one backend (SI units; ``None`` = unlimited)."""

    device: str = "?"
    v_min_V: float = -math.inf
    v_max_V: float = math.inf
    width_min_s: float = 0.0
    width_max_s: float = math.inf
    line_max_V: Mapping[str, float] = field(default_factory=dict)
    duty_max: float = 1.0
    compliance_max_A: float = math.inf
    rows: tuple[int, int] | None = None
    cols: tuple[int, int] | None = None
    source: str = "device card [limits]"

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> "Limits":
        """The card's safe range (the ceiling of every station)."""
        t = card.get("limits", {}) if isinstance(card.get("limits"), dict) else {}
        # per-line maxima only where the card names them: the amplitude range is the device's,
        # while a fixed line voltage of the scheme (a 1T1R word line at 3.3 V) drives a transistor
        return cls(device=str(card.get("name", "?")), v_min_V=float(t.get("v_min_V", -math.inf)),
                   v_max_V=float(t.get("v_max_V", math.inf)),
                   width_min_s=float(t.get("width_min_s", 0.0)),
                   width_max_s=float(t.get("width_max_s", math.inf)),
                   line_max_V={k: float(t.get(key, math.inf)) for k, key in LINE_KEYS.items()})

    def tightened(self, table: Mapping[str, Any], where: str = "station") -> "Limits":
        """These limits narrowed by a station's ``[limits]`` table; StationError for an unknown
        key, a bad value or a value outside the card's ceiling (a station can only tighten)."""
        unknown = sorted(set(table) - set(STATION_KEYS))
        if unknown:
            raise StationError(f"{where}: [limits] unknown key(s) {unknown}; allowed: {list(STATION_KEYS)}")
        vals: dict[str, float] = {}
        for key in _FLOAT_KEYS:
            if key in table:
                v = table[key]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise StationError(f"{where}: [limits] {key} = {v!r}; allowed: a finite number")
                vals[key] = float(v)
        out = self
        def ceiling(key: str, new: float, old: float, larger_is_looser: bool) -> None:
            if (new > old) if larger_is_looser else (new < old):
                raise StationError(
                    f"{where}: [limits] {key} = {new:g} is outside the safe range of device "
                    f"{self.device!r} ({old:g}, {self.source}); a station can only tighten it")
        for key, loose_up in (("v_max_V", True), ("v_min_V", False), ("width_max_s", True),
                              ("width_min_s", False), ("compliance_max_A", True), ("duty_max", True)):
            if key in vals:
                ceiling(key, vals[key], getattr(self, key), loose_up)
                out = replace(out, **{key: vals[key]})
        if out.v_min_V > out.v_max_V or out.width_min_s > out.width_max_s:
            raise StationError(f"{where}: [limits] empty range (v {out.v_min_V:g}..{out.v_max_V:g} V, "
                               f"width {out.width_min_s:g}..{out.width_max_s:g} s)")
        if not 0 < out.duty_max <= 1:
            raise StationError(f"{where}: [limits] duty_max = {out.duty_max:g}; allowed: 0 < duty_max <= 1")
        lines = dict(self.line_max_V)
        for kind, key in LINE_KEYS.items():
            if key in vals:
                if vals[key] <= 0:
                    raise StationError(f"{where}: [limits] {key} = {vals[key]:g}; allowed: > 0")
                ceiling(key, vals[key], lines.get(kind, math.inf), True)
                lines[kind] = vals[key]
        out = replace(out, line_max_V=lines)
        if table:
            out = replace(out, source="station [limits] within the device card's")
        for key in ("rows", "cols"):
            if key in table:
                r = table[key]
                ok = (isinstance(r, list) and len(r) == 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                                   for x in r) and 0 <= r[0] <= r[1])
                if not ok:
                    raise StationError(f"{where}: [limits] {key} = {r!r}; allowed: [first, last] "
                                       "(inclusive, 0 <= first <= last)")
                out = replace(out, **{key: (int(r[0]), int(r[1]))})
        return out

    # -- checks (ParameterError naming the value and the limit) ----------------------------------
    def _fail(self, what: str, value: float, allowed: str) -> None:
        raise ParameterError(f"{what} = {value:g} is outside the limits of this station: {allowed} "
                             f"({self.source}, device {self.device!r})")

    def check_amplitude(self, v_V: float, what: str = "amplitude_V") -> None:
        """A programming amplitude (signed) inside v_min_V .. v_max_V."""
        if not self.v_min_V <= v_V <= self.v_max_V:
            self._fail(what, v_V, f"{self.v_min_V:g} .. {self.v_max_V:g} V")

    def check_width(self, width_s: float, what: str = "width_s") -> None:
        if not self.width_min_s <= width_s <= self.width_max_s:
            self._fail(what, width_s, f"{self.width_min_s:g} .. {self.width_max_s:g} s")

    def check_line(self, kind: str, v_V: float, what: str | None = None) -> None:
        """|V| on a line kind below its maximum."""
        lim = self.line_max_V.get(kind, math.inf)
        if abs(v_V) > lim + 1e-12:
            self._fail(what or f"|V| on {kind}", abs(v_V), f"|V| <= {lim:g} V on {kind}")

    def check_compliance(self, i_A: float) -> None:
        if i_A > self.compliance_max_A:
            self._fail("compliance_A", i_A, f"<= {self.compliance_max_A:g} A")

    def check_cells(self, rows: np.ndarray, cols: np.ndarray) -> None:
        """Every (row, col) inside the allowed region."""
        for name, idx, reg in (("row", rows, self.rows), ("col", cols, self.cols)):
            if reg is None or np.size(idx) == 0:
                continue
            lo, hi = int(np.min(idx)), int(np.max(idx))
            if lo < reg[0] or hi > reg[1]:
                bad = lo if lo < reg[0] else hi
                raise ParameterError(f"{name} {bad} is outside the allowed cell region of this station: "
                                     f"{name}s {reg[0]}..{reg[1]} (station [limits] {name}s)")

    def check_program(self, family: Any, card: Mapping[str, Any], pos_max_V: float | None,
                      neg_max_V: float | None) -> None:
        """The largest potentiation / depression amplitudes of a `pulse_cells` request and the
        line voltages they put on each line kind (`hil.families.Family.program_lines`)."""
        for direction, amp in (("potentiate", pos_max_V), ("depress", neg_max_V)):
            if amp is None:
                continue
            self.check_amplitude(amp if direction == "potentiate" else -abs(amp))
            if family is not None:
                for line, v in family.program_line_voltages(card, direction, amp).items():
                    self.check_line(line, v, f"|V| on {line} of a {direction} pulse at {amp:g} V")

    def describe(self) -> str:
        """One line for `hil station show` / dry runs."""
        parts = [f"amplitude {self.v_min_V:g}..{self.v_max_V:g} V",
                 f"width {self.width_min_s:g}..{self.width_max_s:g} s"]
        parts += [f"|{k}| <= {v:g} V" for k, v in self.line_max_V.items() if math.isfinite(v)]
        if self.duty_max < 1:
            parts.append(f"duty <= {self.duty_max:g}")
        if math.isfinite(self.compliance_max_A):
            parts.append(f"compliance <= {self.compliance_max_A:g} A")
        if self.rows:
            parts.append(f"rows {self.rows[0]}..{self.rows[1]}")
        if self.cols:
            parts.append(f"cols {self.cols[0]}..{self.cols[1]}")
        return ", ".join(parts)
