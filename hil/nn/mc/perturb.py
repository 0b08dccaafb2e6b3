"""Ready-made ``perturb`` functions (picklable, so they run on every backend).

A perturbation maps (params, index, generator, spec) to the tensors of instance ``index``;
it draws only from ``generator`` (seeded per instance by the engine) and never modifies
``params`` in place.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import nn

from hil.errors import ParameterError
from hil.nn.drift import DriftSampler, WeightMapping


def weight_names(model: nn.Module) -> tuple[str, ...]:
    """Parameter names of the programmed weights: every ``weight`` of a Linear, a Conv2d or a
    VeRA+ layer (biases, batch norm and VeRA+ d/b stay digital)."""
    from hil.nn.vera import VeraPlusLayer

    kinds = (nn.Linear, nn.Conv2d, VeraPlusLayer)
    return tuple(f"{name}.weight" if name else "weight" for name, m in model.named_modules()
                 if isinstance(m, kinds))


def _check_names(params: dict[str, torch.Tensor], names: Sequence[str]) -> None:
    missing = [n for n in names if n not in params]
    if missing:
        raise ParameterError(f"perturbation names parameters {missing} the model does not have; "
                             f"it has {sorted(params)[:8]}...")


@dataclass(frozen=True)
class DriftPerturb:
    """Programmed weights drifted to ``spec.t_s`` by ``sampler`` through ``mapping``.

    Each layer in ``names`` is mapped to conductances (``mapping.to_conductance``), all
    layers' conductances are drifted in one ``sampler.sample`` call on their concatenation
    (layers in ``names`` order, each flattened; one draw of each noise term per cell, as
    layer-by-layer sampling, but a few large tensor operations per instance instead of a few
    per layer), then mapped back (``mapping.to_weight``).  The mapping of the programmed
    weights is the same for every instance, so it is computed once per set of weights.
    """

    sampler: DriftSampler
    mapping: WeightMapping
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_cache", {})

    def __getstate__(self) -> dict:
        return {"sampler": self.sampler, "mapping": self.mapping, "names": self.names}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)
        object.__setattr__(self, "_cache", {})

    def _programmed(self, params: dict[str, torch.Tensor]):
        """(tensors, conductances concatenated, per-layer mapping params) for ``params``."""
        ws = [params[n] for n in self.names]
        key = tuple((id(w), w._version) for w in ws)
        hit = self._cache.get("programmed")
        if hit is not None and hit[0] == key and all(a is b for a, b in zip(hit[1], ws)):
            return hit[1], hit[2], hit[3]
        with torch.no_grad():
            maps = [self.mapping.to_conductance(w) for w in ws]
            G = torch.cat([g.reshape(-1) for g, _ in maps])
        self._cache["programmed"] = (key, ws, G, [(g.shape, p) for g, p in maps])
        return ws, G, self._cache["programmed"][3]

    def __call__(self, params: dict[str, torch.Tensor], index: int, gen: torch.Generator,
                 spec: Any) -> dict[str, torch.Tensor]:
        if spec.t_s is None:
            raise ParameterError("a drift perturbation needs InstanceSpec.t_s (time after programming)")
        _check_names(params, self.names)
        ws, G, layout = self._programmed(params)
        with torch.no_grad():
            Gd = self.sampler.sample(G, spec.t_s, gen)
            out, a = {}, 0
            for n, w, (shape, p) in zip(self.names, ws, layout):
                k = math.prod(shape)
                out[n] = self.mapping.to_weight(Gd[a:a + k].reshape(shape), p).to(w.dtype)
                a += k
        return out


def drift_perturb(model: nn.Module, sampler: DriftSampler,
                  mapping: WeightMapping | None = None,
                  names: Sequence[str] | None = None) -> DriftPerturb:
    """A :class:`DriftPerturb` for ``model``'s programmed weights (its own mapping if it has
    one, as a VeRA+ model does)."""
    mapping = mapping or getattr(model, "mapping", None) or WeightMapping()
    return DriftPerturb(sampler, mapping, tuple(names) if names else weight_names(model))


@dataclass(frozen=True)
class WeightNoise:
    """``fn(w, gen)`` applied to each weight in ``names`` (e.g. an ``ErrorModel``'s
    ``perturb_weight``); ``fn`` must be picklable for the Ray backend."""

    fn: Callable[[torch.Tensor, torch.Generator], torch.Tensor]
    names: tuple[str, ...]

    def __call__(self, params: dict[str, torch.Tensor], index: int, gen: torch.Generator,
                 spec: Any) -> dict[str, torch.Tensor]:
        _check_names(params, self.names)
        return {n: self.fn(params[n], gen) for n in self.names}


@dataclass(frozen=True)
class GaussianNoise:
    """w·(1 + sigma_rel·n) (``relative``) or w + sigma_rel·max|w|·n (``full_scale``), n ~ N(0, 1)."""

    sigma_rel: float
    names: tuple[str, ...]
    mode: str = "relative"

    def __post_init__(self) -> None:
        if self.mode not in ("relative", "full_scale"):
            raise ParameterError(f"noise mode {self.mode!r} unknown; allowed: 'relative', 'full_scale'")
        if not self.sigma_rel >= 0:
            raise ParameterError(f"sigma_rel={self.sigma_rel!r} must be >= 0")

    def __call__(self, params: dict[str, torch.Tensor], index: int, gen: torch.Generator,
                 spec: Any) -> dict[str, torch.Tensor]:
        _check_names(params, self.names)
        out = {}
        for n in self.names:
            w = params[n]
            z = torch.randn(w.shape, generator=gen, device=w.device, dtype=w.dtype)
            scale = w if self.mode == "relative" else w.abs().max()
            out[n] = w + self.sigma_rel * scale * z
        return out


@dataclass(frozen=True)
class FixedWeights:
    """Instance ``i`` = the given weights ``instances[i]`` (measured maps, precomputed draws);
    deterministic, the generator is unused."""

    instances: tuple[dict[str, torch.Tensor], ...]

    def __call__(self, params: dict[str, torch.Tensor], index: int, gen: torch.Generator,
                 spec: Any) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self.instances):
            raise ParameterError(f"instance {index} not in 0..{len(self.instances) - 1}")
        w = self.instances[index]
        _check_names(params, list(w))
        return {k: v.to(params[k].device, params[k].dtype).reshape(params[k].shape)
                for k, v in w.items()}
