"""One Monte-Carlo engine for drifted and noisy networks (ARCHITECTURE "Monte-Carlo engine").

Every network-level statistic (VeRA+ EVALSTATS, `hil vera eval`, `hil validate` over times,
the BNN noise sweeps, CIM sensitivity and search) goes through :func:`evaluate`: instances
of one model drawn by a ``perturb`` function from per-instance seeds
(``SeedSequence(root).spawn(n)``), evaluated by a backend (``local`` loop, ``vectorized``
vmap, ``ray`` cluster); per-instance numbers are the same on every backend.

Names are imported lazily, so ``hil.nn.mc.cli`` (argparse options) does not pull in torch.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BACKENDS": "choices", "DEFAULT_BACKEND": "choices", "evaluate": "engine",
    "Journal": "journal", "accuracy": "metrics", "Progress": "progress",
    "InstanceSpec": "spec", "derive_seed": "spec", "instance_generator": "spec",
    "instance_seeds": "spec",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hil.nn.mc' has no attribute {name!r}")
    return getattr(importlib.import_module(f"hil.nn.mc.{_EXPORTS[name]}"), name)
