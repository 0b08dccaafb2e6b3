"""Latency and energy of a configuration under the CIM cost model.

Latency comes from :mod:`hil.cim.crossbar`, the one implementation of the RLMP crossbar
formulas; this module only sums it over layers and caches per-layer values:

- ``latency="rlmp"`` (default): RLMP / CIM-AQ ``repeat·(writes·t_w + executes·t_x)``, tiles
  reprogrammed for every inference (:func:`~hil.cim.crossbar.crossbar_latency_s`);
- ``latency="compute"``: weights resident (a non-volatile macro large enough for the whole
  network): ``repeat·executes·t_x`` only, so input widths dominate.

Energy per inference (reported, not optimised): MACs ×
:meth:`hil.cim.units.Unit.energy_per_mac_bits_J` (the cost model's one implementation: the
card's int4 energy per MAC scaled by ``w·a/16``, "energy ∝ a_bits·w_bits").
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from hil.cim.crossbar import crossbar_executes, crossbar_latency_s, crossbar_writes, layer_rows
from hil.errors import ParameterError

LATENCY_MODELS = ("rlmp", "compute")
from hil.cim.search.space import Config, Pair, SearchSpace


class CostModel:
    """Per-layer crossbar latency of ``space``'s layers on ``unit`` (a CIM unit card)."""

    def __init__(self, space: SearchSpace, unit: Any, repeat: int = 1,
                 latency: str = "rlmp") -> None:
        if latency not in LATENCY_MODELS:
            raise ParameterError(f"latency model {latency!r} unknown; allowed: "
                                 f"{', '.join(LATENCY_MODELS)}")
        if not getattr(unit, "rows", 0) or getattr(unit, "is_crossbar", True) is False:
            raise ParameterError(f"unit {getattr(unit, 'name', unit)!r} has no crossbar; "
                                 "bit-width search needs a CIM unit")
        self.space, self.unit, self.repeat, self.latency = space, unit, int(repeat), latency
        self._layer = lru_cache(maxsize=None)(self._layer_latency)

    def _layer_latency(self, index: int, pair: Pair) -> float:
        w, a = pair
        layer = self.space.layers[index]
        if self.latency == "rlmp":
            return float(crossbar_latency_s(layer, self.unit, int(w), int(a), self.repeat))
        u = self.unit
        writes = crossbar_writes(layer_rows(layer), layer.fan_out, u.rows, u.cols, int(w),
                                 u.cell_bits, u.differential)
        return float(self.repeat * crossbar_executes(layer.invocations, writes, int(a),
                                                     u.dac_bits) * u.t_exec_s)

    def energy_J(self, config: Config) -> float:
        """Compute energy of one inference (see the module docstring); NaN if the card has
        no int4 energy."""
        try:
            return float(sum(ly.macs * self.unit.energy_per_mac_bits_J(w, a)
                             for ly, (w, a) in zip(self.space.layers, config)))
        except Exception:  # noqa: BLE001 - a card without int4 figures: energy unknown
            return float("nan")

    def layer_latency_s(self, index: int, pair: Pair) -> float:
        """Latency of layer ``index`` at ``pair = (w_bits, a_bits)``."""
        return self._layer(int(index), (int(pair[0]), int(pair[1])))

    def latency_s(self, config: Config) -> float:
        """Total latency of one inference (sum over layers, layers run one after another)."""
        return float(sum(self.layer_latency_s(i, p) for i, p in enumerate(config)))

    def layer_latencies_s(self, config: Config) -> np.ndarray:
        return np.array([self.layer_latency_s(i, p) for i, p in enumerate(config)])

    def choice_table_s(self) -> np.ndarray:
        """(free layers, choices) latency table used by the ILP and the agents."""
        return np.array([[self.layer_latency_s(i, p) for p in self.space.choices]
                         for i in self.space.free])

    def pinned_latency_s(self) -> float:
        pin = (self.space.pin_bits, self.space.pin_bits)
        return float(sum(self.layer_latency_s(i, pin) for i in self.space.pinned))

    def describe(self) -> dict:
        """Unit parameters used (provenance)."""
        keys = ("name", "rows", "cols", "cell_bits", "dac_bits", "differential", "t_write_s",
                "t_exec_s")
        return {k: getattr(self.unit, k) for k in keys if hasattr(self.unit, k)} | \
            {"repeat": self.repeat, "latency_model": self.latency}
