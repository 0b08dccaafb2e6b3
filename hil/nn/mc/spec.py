"""What a Monte-Carlo job evaluates: the instances and their seeds.

Every instance ``i`` of a job owns one seed, ``instance_seeds(root_seed, n)[i]``, taken from
``numpy.random.SeedSequence(root_seed).spawn(n)``.  A backend seeds a fresh
``torch.Generator`` from that seed right before it asks the perturbation for instance ``i``,
so the draws of an instance depend on (root seed, index) only: not on the backend, the chunk
size, the number of workers or the order in which chunks finish.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch

from hil.errors import ParameterError

#: perturb(params, index, generator, spec) -> perturbed params of instance ``index``
Perturb = Callable[[dict[str, torch.Tensor], int, torch.Generator, "InstanceSpec"],
                   dict[str, torch.Tensor]]


@dataclass(frozen=True)
class InstanceSpec:
    """``n`` instances seeded from ``root_seed``, drifted to ``t_s`` (None: no drift time)
    or scoring ``config`` (bit widths, a partition, ...; anything picklable)."""

    n: int
    root_seed: int = 0
    t_s: float | None = None
    config: Any = None

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 1:
            raise ParameterError(f"InstanceSpec.n={self.n!r}: need an integer >= 1")
        if int(self.root_seed) < 0:
            raise ParameterError(f"InstanceSpec.root_seed={self.root_seed!r}: need an integer >= 0")
        if self.t_s is not None and not (np.isfinite(self.t_s) and self.t_s >= 0):
            raise ParameterError(f"InstanceSpec.t_s={self.t_s!r}: need a finite time >= 0 s or None")

    def seeds(self) -> np.ndarray:
        """The ``n`` per-instance seeds (uint64)."""
        return instance_seeds(self.root_seed, self.n)


def instance_seeds(root_seed: int, n: int) -> np.ndarray:
    """``n`` independent 64-bit seeds from ``SeedSequence(root_seed).spawn(n)`` (uint64)."""
    if n < 0:
        raise ParameterError(f"number of instances n={n!r} must be >= 0")
    children = np.random.SeedSequence(int(root_seed)).spawn(int(n))
    return np.array([c.generate_state(1, np.uint64)[0] for c in children], dtype=np.uint64)


def derive_seed(root_seed: int, *keys: int) -> int:
    """A 64-bit root for a sub-job (e.g. time step ``k`` of a schedule) from
    ``SeedSequence([root_seed, *keys])``: distinct keys give independent streams."""
    return int(np.random.SeedSequence([int(root_seed), *map(int, keys)]).generate_state(1, np.uint64)[0])


def instance_generator(seed: int | np.integer, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh torch generator for one instance seed."""
    return torch.Generator(device=device).manual_seed(int(seed))


def chunk_ranges(indices: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """Split ``indices`` into consecutive pieces of at most ``size``."""
    if size < 1:
        raise ParameterError(f"chunk size {size!r} must be >= 1")
    for i in range(0, len(indices), size):
        yield indices[i:i + size]
