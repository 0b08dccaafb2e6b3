"""RLMP analytic crossbar cost (REFERENCE §7; Joseph et al., arXiv 2601.21737) — the ONE
implementation every CIM cost and search calls.

For a layer of m×n weights on M×N crossbars holding ``cell_bits`` per cell, w-bit weights and
a-bit inputs fed ``in_bits`` per DAC cycle:

    writes   = ⌈m·⌈w/cell_bits⌉ / M⌉ · ⌈n/N⌉        (×2 for differential pairs)
    executes = invocations · writes · ⌈a/in_bits⌉
    latency  = repeat · (writes·t_w + executes·t_x)

``writes`` counts crossbar tiles to program (weight bit slices stacked along the rows, as
the reference formula writes ⌈m/M·⌈w/cell_bits⌉⌉); ``executes`` counts crossbar MVM cycles
(input bit-serial cycles on every tile).  Grouped/depthwise convolutions are mapped as their
block-diagonal matrix (m = groups · fan_in rows), the naive mapping a crossbar compiler uses
without group packing.
"""
from __future__ import annotations

from typing import Protocol

from hil.errors import ParameterError


class CrossbarUnit(Protocol):
    """What :func:`crossbar_latency_s` reads from a unit (``hil.cim.units.Unit`` has these)."""

    rows: int
    cols: int
    cell_bits: int
    dac_bits: int
    differential: bool
    t_write_s: float
    t_exec_s: float


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _positive(**values: int) -> None:
    for name, v in values.items():
        if int(v) != v or v < 1:
            raise ParameterError(f"{name}={v!r} must be a positive integer")


def bit_slices(w_bits: int, cell_bits: int) -> int:
    """Cells per weight: ⌈w_bits / cell_bits⌉."""
    _positive(w_bits=w_bits, cell_bits=cell_bits)
    return _ceil_div(w_bits, cell_bits)


def crossbar_writes(m: int, n: int, M: int, N: int, w_bits: int, cell_bits: int,
                    differential: bool = False) -> int:
    """Crossbar tiles to program for an m×n weight matrix on M×N crossbars."""
    _positive(m=m, n=n, M=M, N=N)
    tiles = _ceil_div(m * bit_slices(w_bits, cell_bits), M) * _ceil_div(n, N)
    return 2 * tiles if differential else tiles


def crossbar_executes(invocations: int, writes: int, a_bits: int, in_bits: int) -> int:
    """Crossbar MVM cycles: every tile, every input vector, every input bit-serial cycle."""
    _positive(invocations=invocations, writes=writes, a_bits=a_bits, in_bits=in_bits)
    return invocations * writes * _ceil_div(a_bits, in_bits)


def layer_rows(layer) -> int:
    """Crossbar rows a layer needs before bit slicing (block-diagonal for grouped convs)."""
    return layer.fan_in * getattr(layer, "groups", 1)


def crossbar_latency_s(layer, unit: CrossbarUnit, w_bits: int, a_bits: int,
                       repeat: int = 1) -> float:
    """latency = repeat · (writes·t_w + executes·t_x) of ``layer`` on ``unit``."""
    _positive(repeat=repeat)
    writes = crossbar_writes(layer_rows(layer), layer.fan_out, unit.rows, unit.cols, w_bits,
                             unit.cell_bits, unit.differential)
    executes = crossbar_executes(layer.invocations, writes, a_bits, unit.dac_bits)
    return repeat * (writes * unit.t_write_s + executes * unit.t_exec_s)
