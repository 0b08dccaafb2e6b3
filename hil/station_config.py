"""Typed station configuration: a station file's tables parsed into frozen dataclasses.

Every key is checked: an unknown key is an error naming it and the allowed ones (a typo such
as ``wirng`` or ``programing`` never passes silently), a value of the wrong type or out of
range is an error naming the value and what is allowed (``rows = "8"``, ``8.7``, ``true``,
``inf``, ``1e30``), a simulated array that would not fit in memory is refused before anything
is allocated, and a lab station must name its ``device`` card and its ``wiring`` (there is no
hidden default bench).  Instruments are checked against the one driver registry
(`hil.lab.drivers.DRIVERS`), with each driver's options typed.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from hil.errors import HilError, StationError
from hil.limits import Limits

BACKEND_TYPES = ("sim", "lab")
TOP_KEYS = ("backend", "instruments", "limits")
COMMON_KEYS = ("type", "device", "array", "rows", "cols", "seed", "faults")
LAB_KEYS = ("wiring", "programming", "matrix_inputs", "roles")
WIRINGS = ("array_controller", "b1500_matrix")
PROGRAMMING = ("firmware", "host")
INSTRUMENT_KEYS = ("name", "driver", "address", "options")
MAX_LINES = 1 << 16            # per dimension
#: simulated state per cell (float32 state and device parameters, float64 programming time),
#: an upper bound of the bundled array classes, used to refuse arrays that cannot fit in memory
SIM_BYTES_PER_CELL = 64


def _finite_float(lo: float, hi: float) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo < v <= hi:
            raise ValueError(f"a finite number in ({lo:g}, {hi:g}]")
        return float(v)
    return check


def _int_in(lo: int, hi: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"an integer in {lo}..{hi}")
        return int(v)
    return check


def _text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError("a non-empty string")
    return v


#: options every instrument may have (they configure its transport), typed
TRANSPORT_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "timeout_s": _finite_float(0.0, 3600.0), "baudrate": _int_in(1, 10_000_000), "backend": _text}


def _typed(typ: type) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if typ is int:
            return _int_in(0, 2**31 - 1)(v)
        if typ is float:
            return _finite_float(-math.inf, math.inf)(v)
        if not isinstance(v, typ):
            raise ValueError(f"a {typ.__name__}")
        return v
    return check


def driver_options(driver: str) -> dict[str, Callable[[Any], Any]]:
    """Station options of a driver -> type check, from the one driver registry
    (`hil.lab.drivers.REGISTRY`: driver options and emulator options) plus the transport's."""
    from hil.lab.drivers import REGISTRY

    spec = REGISTRY[driver]
    out = dict(TRANSPORT_OPTIONS)
    out.update({opt: _typed(typ) for opt, (_, typ, _) in spec.options.items()})
    out.update({opt: _text for opt in spec.emulator_options})
    return out


@dataclass(frozen=True)
class InstrumentConfig:
    """One ``[[instruments]]`` table."""

    name: str
    driver: str
    address: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def loopback(self) -> bool:
        return self.address.strip().lower() == "loopback"


@dataclass(frozen=True)
class BackendConfig:
    """What every ``[backend]`` table holds."""

    type: str
    device: str                  # device card name (or .toml path)
    array: str                   # array type of the card's family
    rows: int
    cols: int
    seed: int
    faults: Mapping[str, Any] | None = None
    #: array-type options of the card's family (1T1R ``scheme``, H-1E1T ``program_by``)
    array_options: Mapping[str, str] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)


@dataclass(frozen=True)
class SimConfig(BackendConfig):
    """``[backend] type = "sim"``."""


@dataclass(frozen=True)
class LabConfig(BackendConfig):
    """``[backend] type = "lab"``: the chip (``device``, shape) and how it is wired."""

    wiring: str = ""
    programming: str = "firmware"              # array_controller: PROGRAM on the board or host
    matrix_inputs: tuple[str, ...] | None = None
    roles: Mapping[str, str] | None = None
    instruments: tuple[InstrumentConfig, ...] = ()


@dataclass(frozen=True)
class StationConfig:
    backend: SimConfig | LabConfig
    instruments: tuple[InstrumentConfig, ...]
    limits: Limits
    card: Mapping[str, Any]


def _value(table: Mapping[str, Any], key: str, check: Callable[[Any], Any], where: str, default: Any) -> Any:
    if key not in table:
        return default
    try:
        return check(table[key])
    except ValueError as exc:
        raise StationError(f"{where}: {key} = {table[key]!r}; allowed: {exc}") from None


def _unknown(table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    bad = sorted(set(table) - set(allowed))
    if bad:
        raise StationError(f"{where}: unknown key(s) {bad}; allowed: {', '.join(allowed)}")


def _memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return None


def parse_instruments(items: Any, where: str) -> tuple[InstrumentConfig, ...]:
    """The ``[[instruments]]`` tables, each checked against the driver registry."""
    from hil.lab.drivers import DRIVERS

    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise StationError(f"{where}: 'instruments' must be an array of tables ([[instruments]])")
    out, names = [], set()
    for k, inst in enumerate(items):
        w = f"{where}: instrument #{k + 1}"
        missing = [key for key in INSTRUMENT_KEYS[:3] if key not in inst]
        if missing:
            raise StationError(f"{w} lacks {', '.join(missing)} (each needs {', '.join(INSTRUMENT_KEYS[:3])})")
        _unknown(inst, INSTRUMENT_KEYS, w)
        name, address = _value(inst, "name", _text, w, ""), _value(inst, "address", _text, w, "")
        if name in names:
            raise StationError(f"{w}: name {name!r} is used twice; instrument names must be unique")
        names.add(name)
        driver = inst["driver"]
        if driver not in DRIVERS:
            raise StationError(f"{w} ({name!r}): unknown driver {driver!r}; allowed: {', '.join(DRIVERS)}")
        opts = inst.get("options", {})
        if not isinstance(opts, dict):
            raise StationError(f"{w} ({name!r}): options must be a table, e.g. options = {{ timeout_s = 5 }}")
        specs = driver_options(driver)
        _unknown(opts, tuple(specs), f"{w} ({name!r}) options")
        typed = {key: _value(opts, key, specs[key], f"{w} ({name!r}) options", None) for key in opts}
        out.append(InstrumentConfig(name=name, driver=driver, address=address, options=typed))
    return tuple(out)


def parse_station(data: Mapping[str, Any], where: str) -> StationConfig:
    """Typed configuration from a station file's parsed TOML (StationError on any problem)."""
    from hil.cards import load_card
    from hil.families import family_of

    b = data.get("backend")
    if not isinstance(b, dict):
        raise StationError(f"{where}: missing [backend] table (type = one of {list(BACKEND_TYPES)})")
    bad = sorted(set(data) - set(TOP_KEYS))
    if bad:
        raise StationError(f"{where}: unknown top-level key(s) {bad}; allowed: {', '.join(TOP_KEYS)}")
    kind = b.get("type")
    if kind not in BACKEND_TYPES:
        raise StationError(f"{where}: [backend] type = {kind!r}; allowed: {list(BACKEND_TYPES)}")
    w = f"{where}: [backend]"
    lab = kind == "lab"
    instruments = parse_instruments(data.get("instruments", []), where)
    def require(key: str) -> None:
        if lab and key not in b:
            raise StationError(
                f"{w} lacks {key}: a lab station must name its device card (device = "
                f"\"ecram_wox_lipon\", ...) and its wiring (one of {', '.join(WIRINGS)}); "
                "there is no default bench")
    if lab and not instruments:
        raise StationError(f"{where}: a lab station needs at least one [[instruments]] table")
    if not lab and instruments:
        raise StationError(f"{where}: [[instruments]] belong to a lab station ([backend] type = \"lab\")")
    require("device")
    device = _value(b, "device", _text, w, "ecram_wox_lipon")
    try:
        card = load_card(device)
        fam = family_of(card)
    except HilError as exc:
        raise StationError(f"{w} device = {device!r}: {exc}") from None
    fam_opts = dict(fam.options)
    _unknown(b, COMMON_KEYS + (LAB_KEYS if lab else ()) + tuple(fam_opts), w)
    require("wiring")
    array = _value(b, "array", _text, w, fam.array)
    if array != fam.array:
        raise StationError(f"{w} array = {array!r} does not fit device {device!r} (kind {fam.kind!r}: "
                           f"array = {fam.array!r})")
    rows = _value(b, "rows", _int_in(1, MAX_LINES), w, 8)
    cols = _value(b, "cols", _int_in(1, MAX_LINES), w, 8)
    if not lab:
        from sim_backends.arrays.base import MAX_CELLS

        need, have = rows * cols * SIM_BYTES_PER_CELL, _memory_bytes()
        if rows * cols > MAX_CELLS or (have is not None and need > have // 2):
            raise StationError(
                f"{w} rows x cols = {rows} x {cols} = {rows * cols} cells: too large to simulate "
                f"(at most {MAX_CELLS} cells and half of this machine's memory, "
                f"{SIM_BYTES_PER_CELL} bytes per cell)")
    seed = _value(b, "seed", _int_in(0, 2**63 - 1), w, 0)
    faults = b.get("faults")
    if faults is not None and not isinstance(faults, dict):
        raise StationError(f"{w} faults must be a table ([backend.faults])")
    array_options = {}
    for key, allowed in fam_opts.items():
        if key in b:
            if b[key] not in allowed:
                raise StationError(f"{w} {key} = {b[key]!r}; allowed: {', '.join(allowed)}")
            array_options[key] = str(b[key])
    common = dict(type=kind, device=device, array=array, rows=rows, cols=cols, seed=seed,
                  faults=faults, array_options=array_options)
    table = data.get("limits", {})
    if not isinstance(table, dict):
        raise StationError(f"{where}: limits must be a table ([limits])")
    limits = Limits.from_card(card).tightened(table, where)
    if limits.rows and limits.rows[1] >= rows or limits.cols and limits.cols[1] >= cols:
        raise StationError(f"{where}: [limits] region rows {limits.rows}, cols {limits.cols} reaches "
                           f"outside the {rows} x {cols} array")
    if not lab:
        return StationConfig(SimConfig(**common), instruments, limits, card)
    wiring = _value(b, "wiring", _text, w, "")
    if wiring not in WIRINGS:
        raise StationError(f"{w} wiring = {wiring!r}; allowed: {list(WIRINGS)}")
    for key, only in (("programming", "array_controller"), ("matrix_inputs", "b1500_matrix"),
                      ("roles", "b1500_matrix")):
        if key in b and wiring != only:
            raise StationError(f"{w} {key} applies to wiring {only!r} only; this station has {wiring!r}")
    programming = _value(b, "programming", _text, w, "firmware")
    if programming not in PROGRAMMING:
        raise StationError(f"{w} programming = {programming!r}; allowed: 'firmware', 'host'")
    inputs = b.get("matrix_inputs")
    if inputs is not None and (not isinstance(inputs, list) or not all(isinstance(x, str) for x in inputs)
                               or len(set(inputs)) != len(inputs)):
        raise StationError(f"{w} matrix_inputs = {inputs!r}; allowed: a list of distinct port names")
    roles = b.get("roles")
    if roles is not None:
        from hil.lab.matrix import DEFAULT_ROLES

        if not isinstance(roles, dict) or not all(isinstance(v, str) for v in roles.values()):
            raise StationError(f"{w} roles must be a table of port names, e.g. roles = {{ ground = \"GNDU\" }}")
        _unknown(roles, tuple(DEFAULT_ROLES), f"{w} roles")
    return StationConfig(
        LabConfig(**common, wiring=wiring, programming=programming,
                  matrix_inputs=tuple(inputs) if inputs is not None else None,
                  roles=dict(roles) if roles is not None else None, instruments=instruments),
        instruments, limits, card)
