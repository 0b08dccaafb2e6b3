"""Energy, latency, area and storage of a network mapped onto compute units.

Per layer on unit U in format f (w = a = bits of f; inputs are fed at the format's width):

- compute energy  = MACs · E_mac(U, f)                         (card: TOPS/W or J/MAC)
- load energy     = weights · w · E_load(U) / inferences_per_load   (volatile units only:
  SRAM-CIM and digital reload weights at wake-up; memristor-CIM keeps them, HYBRID abstract)
- crossbar tiles  = RLMP writes (``hil.cim.crossbar``), MVM cycles = RLMP executes
- latency         = executes · t_x (crossbar) or MACs / throughput (digital);
  ``rlmp_latency_s`` adds the tile writes (RLMP's ``repeat·(writes·t_w + executes·t_x)``)
- program energy  = cells · mean pulses · (pulse + verify read energy)  (memristor, once)
- storage         = weights · w bits;  area = storage / density (Mb = 1e6 bits, as VeRA+ Table IV)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from hil.cim.crossbar import (bit_slices, crossbar_executes, crossbar_latency_s, crossbar_writes,
                              layer_rows)
from hil.cim.formats import format_bits
from hil.cim.layers import LayerShape
from hil.cim.units import Unit
from hil.errors import ParameterError


@dataclass(frozen=True)
class LayerCost:
    """Cost of one layer on one unit in one format (SI units)."""

    layer: str
    unit: str
    kind: str
    fmt: str
    macs: int
    weights: int
    storage_bits: int
    energy_J: float          # per inference: compute + amortised load
    compute_energy_J: float
    load_energy_J: float
    latency_s: float         # per inference
    rlmp_latency_s: float    # RLMP formula incl. tile writes (0 for digital)
    area_mm2: float
    tiles: int
    cycles: int
    cells: int
    program_energy_J: float  # one-time write-verify programming (memristor)
    program_time_s: float

    def as_dict(self) -> dict:
        return asdict(self)


def layer_cost(layer: LayerShape, unit: Unit, fmt: str, *,
               inferences_per_load: float = 1.0) -> LayerCost:
    """Cost of ``layer`` on ``unit`` in number format ``fmt``."""
    if inferences_per_load <= 0:
        raise ParameterError(f"inferences_per_load={inferences_per_load} must be > 0")
    bits = format_bits(fmt)
    e_mac = unit.energy_per_mac_J(fmt)
    compute = layer.macs * e_mac
    storage = layer.weights * bits
    load = 0.0 if unit.nonvolatile else storage * unit.load_energy_J_per_bit / inferences_per_load
    tiles = cycles = cells = 0
    rlmp = prog_e = prog_t = 0.0
    if unit.is_crossbar:
        rows = layer_rows(layer)
        tiles = crossbar_writes(rows, layer.fan_out, unit.rows, unit.cols, bits, unit.cell_bits,
                                unit.differential)
        cycles = crossbar_executes(layer.invocations, tiles, bits, unit.dac_bits)
        latency = cycles * unit.t_exec_s
        rlmp = crossbar_latency_s(layer, unit, bits, bits)
        cells = layer.weights * bit_slices(bits, unit.cell_bits) * (2 if unit.differential else 1)
        prog_e = cells * unit.write_energy_J_per_cell
        prog_t = tiles * unit.t_write_s
    else:
        if unit.macs_per_s <= 0:
            raise ParameterError(f"digital unit {unit.name} needs [digital] macs_per_s > 0")
        latency = layer.macs / unit.macs_per_s
    area = storage / (unit.density_Mb_per_mm2 * 1e6)
    return LayerCost(layer.name, unit.name, unit.kind, fmt, layer.macs, layer.weights, storage,
                     compute + load, compute, load, latency, rlmp, area, tiles, cycles, cells,
                     prog_e, prog_t)


def network_cost(layers: list[LayerShape], assignment: list[tuple[Unit, str]], *,
                 inferences_per_load: float = 1.0) -> tuple[list[LayerCost], dict[str, float]]:
    """Per-layer costs and totals of ``layers`` mapped as ``assignment`` [(unit, format)].

    Totals: energy/latency summed (layers run one after another), area summed per unit
    (every weight stored once), storage in bits.
    """
    if len(layers) != len(assignment):
        raise ParameterError(f"{len(layers)} layers but {len(assignment)} assignments")
    costs = [layer_cost(s, u, f, inferences_per_load=inferences_per_load)
             for s, (u, f) in zip(layers, assignment)]
    total = {k: float(sum(getattr(c, k) for c in costs))
             for k in ("energy_J", "compute_energy_J", "load_energy_J", "latency_s",
                       "rlmp_latency_s", "area_mm2", "storage_bits", "macs", "program_energy_J",
                       "program_time_s", "tiles", "cycles", "cells")}
    total["tops_per_w"] = 2 * total["macs"] / total["energy_J"] / 1e12 if total["energy_J"] else 0.0
    return costs, total


def format_cost_table(costs: list[LayerCost], total: dict[str, float]) -> str:
    """Markdown table of per-layer costs and the total."""
    head = ("| layer | unit | format | MACs | energy (nJ) | latency (µs) | area (mm²) | tiles |\n"
            "|---|---|---|---|---|---|---|---|\n")
    rows = [f"| {c.layer} | {c.unit} | {c.fmt} | {c.macs:,} | {c.energy_J * 1e9:.3f} | "
            f"{c.latency_s * 1e6:.3f} | {c.area_mm2:.5f} | {c.tiles} |" for c in costs]
    rows.append(f"| **total** | | | {int(total['macs']):,} | {total['energy_J'] * 1e9:.3f} | "
                f"{total['latency_s'] * 1e6:.3f} | {total['area_mm2']:.5f} | {int(total['tiles'])} |")
    return head + "\n".join(rows) + "\n"
