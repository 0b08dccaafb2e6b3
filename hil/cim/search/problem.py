"""A search problem: trained network + data + search space + cost model + device error model.

Built-in networks (offline, scikit-learn digits, trained on the spot from a seed):

- ``digits-mlp5``: MLP 64-96-64-48-32-10 (5 linear layers: 3 free between the pinned first
  and last layer; 16 (w, a) choices each = 4,096 configurations, the exhaustive scale);
- ``digits-mlp`` / ``digits-cnn``: the models of ``hil validate`` (the MLP has only two
  layers, so it needs ``pin_ends=False``), or a ``hil`` model checkpoint (.pt).

Cost-only layer sets (``resnet20``, ``mobilenet_v2``): latency is analytic, but accuracy
needs CIFAR / ImageNet, which this offline framework does not have: those get a cost table,
no accuracy search.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import torch
from torch import nn

from hil.cim.layers import LayerShape, layer_shapes, mobilenet_v2_shapes, resnet20_shapes
from hil.cim.search.cost import CostModel
from hil.cim.search.objective import Objective
from hil.cim.search.quantize import QuantizedNet, TensorBatches, quantizable_names
from hil.cim.search.space import DEFAULT_A_BITS, DEFAULT_W_BITS, SearchSpace
from hil.errors import ParameterError

SEARCH_MODELS = {"digits-mlp5": [64, 96, 64, 48, 32, 10]}
COST_ONLY = {"resnet20": resnet20_shapes, "mobilenet_v2": mobilenet_v2_shapes}


def train_search_model(name: str, seed: int = 0, epochs: int = 30, lr: float = 1e-2):
    """(trained model, digits split) of a built-in search network (Adam, seeded)."""
    from hil.nn.datasets import load_dataset
    from hil.nn.train import train_epochs
    from hil.nn.validate_models import mlp

    split = load_dataset("digits")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = mlp(SEARCH_MODELS[name])
        train_epochs(model, TensorBatches(split.x_train, split.y_train, 64, seed), epochs, lr=lr)
    return model.eval(), split


def load_network(spec: str, seed: int = 0) -> tuple[nn.Module, Any, dict]:
    """(model, split, description) for a built-in name or checkpoint (see module docstring)."""
    if spec in COST_ONLY:
        raise ParameterError(f"{spec}: accuracy needs data this offline framework does not have "
                             "(CIFAR/ImageNet); use --cost-only for its latency table")
    if spec in SEARCH_MODELS:
        model, split = train_search_model(spec, seed)
        return model, split, {"model": spec, "arch": "mlp", "sizes": SEARCH_MODELS[spec],
                              "data": "digits", "train_seed": seed}
    from hil.nn.validate_models import load_model

    return load_model(spec, seed=seed)


def with_crossbar(unit: Any, rows: int | None = None, cols: int | None = None) -> Any:
    """``unit`` with another crossbar size (a small network on a smaller macro)."""
    if rows is None and cols is None:
        return unit
    return replace(unit, rows=int(rows or unit.rows), cols=int(cols or unit.cols),
                   sources={**getattr(unit, "sources", {}), "array.rows": "set by the user",
                            "array.cols": "set by the user"})


@dataclass
class Problem:
    """Everything a searcher needs; :meth:`objective` gives each searcher a fresh cache."""

    name: str
    model: nn.Module
    split: Any
    space: SearchSpace
    net: QuantizedNet
    cost: CostModel
    error_model: Any
    n_instances: int
    seed: int
    mode: str = "ptq"
    eval_size: int | None = None
    qat_epochs: int = 2
    backend: str = "local"
    workers: int | None = None
    description: dict | None = None

    @property
    def eval_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.split.x_test, self.split.y_test
        if self.eval_size is not None:
            x, y = x[:self.eval_size], y[:self.eval_size]
        return x, y

    @property
    def probe(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Training batch for Hessian traces (first 256 training samples)."""
        return self.split.x_train[:256], self.split.y_train[:256]

    def objective(self) -> Objective:
        return Objective(self.space, self.net, self.eval_data, self.cost, self.error_model,
                         self.n_instances, self.seed, self.mode,
                         train=(self.split.x_train, self.split.y_train),
                         qat_epochs=self.qat_epochs, backend=self.backend, workers=self.workers)


def build_problem(spec: str | tuple[nn.Module, Any], unit: Any, *, w_bits: Sequence[int] = DEFAULT_W_BITS,
                  a_bits: Sequence[int] = DEFAULT_A_BITS, pin_ends: bool = True,
                  error_model: Any = None, n_instances: int = 8, seed: int = 0,
                  mode: str = "ptq", eval_size: int | None = None, qat_epochs: int = 2,
                  latency: str = "rlmp", backend: str = "local",
                  workers: int | None = None) -> Problem:
    """Train/load the network, calibrate PTQ ranges, and set up space and cost model.
    ``spec`` is a model name/checkpoint path or an already trained ``(model, split)``."""
    if isinstance(spec, str):
        model, split, desc = load_network(spec, seed)
        name = spec
    else:
        model, split = spec
        desc, name = {"model": "custom"}, "custom"
    model = model.eval()
    input_shape = tuple(split.x_train.shape[1:])
    names = quantizable_names(model)
    shapes = {s.name: s for s in layer_shapes(model, input_shape)}
    missing = [n for n in names if n not in shapes]
    if missing:
        raise ParameterError(f"layers {missing} are never called in a forward pass")
    layers = [shapes[n] for n in names]
    space = SearchSpace.build(layers, w_bits, a_bits, pin_ends)
    net = QuantizedNet(model, split.x_train[:256], names)
    return Problem(name, model, split, space, net, CostModel(space, unit, latency=latency),
                   error_model, n_instances, seed, mode, eval_size, qat_epochs, backend, workers,
                   desc)


def cost_only_layers(spec: str) -> list[LayerShape]:
    """Layer shapes of a cost-only network (``resnet20``, ``mobilenet_v2``)."""
    if spec not in COST_ONLY:
        raise ParameterError(f"cost-only network {spec!r} unknown; allowed: {', '.join(COST_ONLY)}")
    return COST_ONLY[spec]()
