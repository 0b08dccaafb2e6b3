"""Compute units (memristor-CIM, SRAM-CIM, digital) from cited TOML cards in ``data/cim/``.

Card layout (every numeric constant has an entry in ``[sources]`` naming where it comes
from; a value no seed gives is marked ``"ASSUMED: why"`` there — the loader refuses a card
with an unsourced number)::

    name = "rram_imc_22nm"; kind = "memristor-cim"; source = "..."
    [array]    rows, cols, cell_bits, dac_bits, adc_bits, differential, t_exec_s
    [write]    pulse_width_s, verify_read_s, mean_pulses, pulse_energy_J, read_energy_J
    [memory]   density_Mb_per_mm2, capacity_bits, nonvolatile, load_energy_J_per_bit, wake_up_s
    [formats.int4] tops_per_w = 209      (or energy_per_mac_J = ...)
    [sources]  "formats.int4.tops_per_w" = "VeRA+ Table I ([15] Hsu et al., JSSC 2024)"

Energy per MAC = ops_per_mac / (TOPS/W · 1e12) J (``ops_per_mac`` = 2, the ISSCC convention
that 1 MAC = 1 multiply + 1 add, unless the card says otherwise).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from hil.errors import ParameterError

KINDS = ("memristor-cim", "sram-cim", "digital")
FORMATS = ("int4", "int8", "fp8", "fp16", "fp32")


@dataclass(frozen=True)
class Format:
    """A number format a unit runs, with its energy per MAC."""

    name: str
    energy_per_mac_J: float
    source: str
    tops_per_w: float | None = None  # as the card gives it (None: given as energy per MAC)


@dataclass(frozen=True)
class Unit:
    """One compute unit.  Crossbar attributes are those :mod:`hil.cim.crossbar` reads."""

    name: str
    kind: str
    source: str
    formats: dict[str, Format]
    density_Mb_per_mm2: float
    capacity_bits: float = float("inf")
    nonvolatile: bool = False
    load_energy_J_per_bit: float = 0.0
    wake_up_s: float = 0.0
    rows: int = 1
    cols: int = 1
    cell_bits: int = 1
    dac_bits: int = 1
    adc_bits: int = 0
    differential: bool = False
    t_exec_s: float = 0.0
    pulse_width_s: float = 0.0
    verify_read_s: float = 0.0
    mean_pulses: float = 0.0
    pulse_energy_J: float = 0.0
    read_energy_J: float = 0.0
    macs_per_s: float = 0.0  # digital throughput (no crossbar)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def is_crossbar(self) -> bool:
        return self.kind != "digital"

    @property
    def t_write_s(self) -> float:
        """Time to program one crossbar tile: row by row, ``mean_pulses`` pulse+verify rounds."""
        return self.rows * self.mean_pulses * (self.pulse_width_s + self.verify_read_s)

    @property
    def write_energy_J_per_cell(self) -> float:
        """Energy to program one cell by write-verify: mean pulses × (pulse + verify read)."""
        return self.mean_pulses * (self.pulse_energy_J + self.read_energy_J)

    def energy_per_mac_J(self, fmt: str) -> float:
        """Energy of one MAC in ``fmt``; ParameterError if the unit does not run it."""
        try:
            return self.formats[fmt].energy_per_mac_J
        except KeyError:
            raise ParameterError(f"unit {self.name} does not run format {fmt!r}; "
                                 f"allowed: {', '.join(self.formats)}") from None

    def energy_per_mac_bits_J(self, w_bits: int, a_bits: int) -> float:
        """Energy of one MAC at ``w_bits`` weights × ``a_bits`` inputs: the int4 figure scaled
        by ``w·a/16`` — bit-serial inputs on bit-sliced weights, "energy ∝ a_bits·w_bits" as
        the cards state.  ParameterError if the card has no int4 figure."""
        return self.energy_per_mac_J("int4") * int(w_bits) * int(a_bits) / 16.0

    def with_measured(self, **values: Any) -> "Unit":
        """A copy with measured values replacing card ones (e.g. ``mean_pulses`` from a run)."""
        from dataclasses import replace

        src = dict(self.sources)
        src.update({k: "measured" for k in values})
        return replace(self, sources=src, **values)


def _cards_dir() -> Path:
    return Path(str(resources.files("hil_data") / "cim"))


def list_units() -> list[str]:
    """Names of the bundled unit cards."""
    return sorted(p.stem for p in _cards_dir().glob("*.toml"))


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def unit_from_dict(card: dict[str, Any], name: str = "card") -> Unit:
    """Build a :class:`Unit` from a parsed card; every number must be in ``[sources]``."""
    card = dict(card)
    sources = {str(k): str(v) for k, v in card.pop("sources", {}).items()}
    for key, value in _flatten(card).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in sources:
            raise ParameterError(f"unit card {name}: {key} = {value} has no [sources] entry "
                                 "(cite it, or say 'ASSUMED: why')")
    kind = card.get("kind")
    if kind not in KINDS:
        raise ParameterError(f"unit card {name}: kind {kind!r}; allowed: {', '.join(KINDS)}")
    ops_per_mac = float(card.get("ops_per_mac", 2.0))
    formats = {}
    for fmt, spec in card.get("formats", {}).items():
        if fmt not in FORMATS:
            raise ParameterError(f"unit card {name}: format {fmt!r}; allowed: {', '.join(FORMATS)}")
        tops = None
        if "energy_per_mac_J" in spec:
            e = float(spec["energy_per_mac_J"])
            src = sources[f"formats.{fmt}.energy_per_mac_J"]
        elif "tops_per_w" in spec:
            tops = float(spec["tops_per_w"])
            e = ops_per_mac / (tops * 1e12)
            src = sources[f"formats.{fmt}.tops_per_w"]
        else:
            raise ParameterError(f"unit card {name}: format {fmt} needs tops_per_w or energy_per_mac_J")
        if not e > 0:
            raise ParameterError(f"unit card {name}: format {fmt} energy {e} must be > 0")
        formats[fmt] = Format(fmt, e, src, tops)
    if not formats:
        raise ParameterError(f"unit card {name}: no [formats.*] table")
    arr, wr, mem = card.get("array", {}), card.get("write", {}), card.get("memory", {})
    cap = mem.get("capacity_bits", 0)
    return Unit(
        name=card.get("name", name), kind=kind, source=card.get("source", ""), formats=formats,
        density_Mb_per_mm2=float(mem["density_Mb_per_mm2"]),
        capacity_bits=float(cap) if cap else float("inf"),
        nonvolatile=bool(mem.get("nonvolatile", False)),
        load_energy_J_per_bit=float(mem.get("load_energy_J_per_bit", 0.0)),
        wake_up_s=float(mem.get("wake_up_s", 0.0)),
        rows=int(arr.get("rows", 1)), cols=int(arr.get("cols", 1)),
        cell_bits=int(arr.get("cell_bits", 1)), dac_bits=int(arr.get("dac_bits", 1)),
        adc_bits=int(arr.get("adc_bits", 0)), differential=bool(arr.get("differential", False)),
        t_exec_s=float(arr.get("t_exec_s", 0.0)),
        pulse_width_s=float(wr.get("pulse_width_s", 0.0)),
        verify_read_s=float(wr.get("verify_read_s", 0.0)),
        mean_pulses=float(wr.get("mean_pulses", 0.0)),
        pulse_energy_J=float(wr.get("pulse_energy_J", 0.0)),
        read_energy_J=float(wr.get("read_energy_J", 0.0)),
        macs_per_s=float(card.get("digital", {}).get("macs_per_s", 0.0)),
        sources=sources,
    )


def load_unit(name_or_path: str | Path) -> Unit:
    """A bundled unit card by name (``"rram_imc_22nm"``) or any TOML file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = _cards_dir() / f"{name_or_path}.toml"
    if not path.is_file():
        raise ParameterError(f"unit card {str(name_or_path)!r} not found; bundled: "
                             f"{', '.join(list_units())}")
    with path.open("rb") as f:
        card = tomllib.load(f)
    card.setdefault("name", path.stem)
    return unit_from_dict(card, path.stem)


DEFAULT_UNITS = ("rram_imc_22nm", "sram_imc_22nm", "digital_22nm")


def default_units() -> dict[str, Unit]:
    """The three bundled units of the heterogeneous processor, keyed by kind."""
    units = [load_unit(n) for n in DEFAULT_UNITS]
    return {u.kind: u for u in units}
