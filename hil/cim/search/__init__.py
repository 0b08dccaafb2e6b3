"""Per-layer bit-width search for CIM compilation (issue 17; RLMP / CIM-AQ, arXiv 2601.21737).

- :mod:`.space`: per-layer (weight, input) bit widths, first/last layer pinned to 8 bits;
- :mod:`.quantize`: PTQ (cached) or short QAT at one configuration, weights as programmed;
- :mod:`.cost`: latency from :mod:`hil.cim.crossbar` (the RLMP formulas) and energy;
- :mod:`.objective`: accuracy over device-noise instances through :func:`hil.nn.mc.evaluate`
  (device error model of :mod:`hil.cim.error_model`), budgets, ranking;
- :mod:`.searchers`: ``rl`` (DDPG as in HAQ), ``hawq`` (Hutchinson traces + ILP),
  ``greedy`` (sensitivity-ranked), uniform INT8/INT4, ``exhaustive``;
- :mod:`.pareto`, :mod:`.compare` (table, regret), :mod:`.report` (HDF5, plot), :mod:`.cli`.
"""
from typing import Any

# Names are imported on first use: `hil cim search` registers its CLI from `.cli` at every
# `hil` start, and the searchers pull in torch, which must not slow down unrelated commands.
_EXPORTS = {"Budget": "objective", "Evaluation": "objective", "Objective": "objective",
            "Problem": "problem", "build_problem": "problem", "SearchSpace": "space",
            "config_label": "space", "pareto_front": "pareto"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hil.cim.search' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"hil.cim.search.{_EXPORTS[name]}"), name)
