"""A whole network's weights as conductance maps on one or more arrays, and back.

`NetworkMap` = a weight<->conductance mapping (`hil.nn.mapping`), a per-layer weight scale
w_max and a `TilePlan`.  Linear weights (out, in) and convolution kernels (out, in, kh, kw)
-> (out, in*kh*kw) are mapped; biases and batch-norm stay digital.  The JSON form is stored
in run files so that maps measured later (or in a lab) decode exactly the same way.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hil.errors import ParameterError
from hil.nn.mapping import AnyMapping, make_mapping
from hil.nn.tiling import TilePlan, plan_tiles


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The Linear and Conv2d modules of ``model`` (in definition order)."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, (nn.Linear, nn.Conv2d))]


def layer_matrix(module: nn.Module) -> np.ndarray:
    """A layer's weight as a 2-D (out, fan_in) float64 matrix."""
    w = module.weight.detach().cpu().double().numpy()
    return w.reshape(w.shape[0], -1)


@dataclass(frozen=True)
class NetworkMap:
    """Mapping kind and range, layer names, per-layer w_max and the tile plan."""

    mapping: AnyMapping
    layers: tuple[str, ...]
    w_max: tuple[float, ...]
    plan: TilePlan

    @classmethod
    def build(cls, model: nn.Module, kind: str, g_range_S: tuple[float, float],
              array_shape: tuple[int, int], max_arrays: int | None = None) -> "NetworkMap":
        """Plan the mapping of every weight layer of ``model``."""
        mapping = make_mapping(kind, *g_range_S)
        layers = weight_layers(model)
        if not layers:
            raise ParameterError("model has no Linear or Conv2d layer to map")
        shapes, names, w_max = {}, [], []
        for name, mod in layers:
            w = layer_matrix(mod)
            names.append(name)
            w_max.append(1.0 if kind == "mtt" else float(max(np.abs(w).max(), 1e-12)))
            shapes[name] = mapping.map_shape(*w.shape)
        plan = plan_tiles(shapes, array_shape, col_align=mapping.col_group, max_arrays=max_arrays)
        return cls(mapping, tuple(names), tuple(w_max), plan)

    def target_maps(self, model: nn.Module) -> dict[str, np.ndarray]:
        """Per-layer target conductance maps of ``model``'s weights."""
        mods = dict(weight_layers(model))
        return {n: self.mapping.encode(layer_matrix(mods[n]), w)
                for n, w in zip(self.layers, self.w_max)}

    def target_arrays(self, model: nn.Module) -> np.ndarray:
        """(n_arrays, rows, cols) targets; NaN where no weight lives."""
        return self.plan.scatter(self.target_maps(model))

    def weights(self, arrays: np.ndarray) -> dict[str, np.ndarray]:
        """Weights (out, fan_in) of every layer decoded from measured array maps."""
        maps = self.plan.gather(arrays)
        return {n: self.mapping.decode(maps[n], w) for n, w in zip(self.layers, self.w_max)}

    def to_json(self) -> str:
        """JSON text (mapping, range, layers, w_max, plan)."""
        return json.dumps({"kind": self.mapping.kind, "g_min_S": self.mapping.g_min_S,
                           "g_max_S": self.mapping.g_max_S, "layers": list(self.layers),
                           "w_max": list(self.w_max), "plan": json.loads(self.plan.to_json())})

    @classmethod
    def from_json(cls, text: str) -> "NetworkMap":
        """Inverse of `to_json`."""
        d = json.loads(text)
        return cls(make_mapping(d["kind"], d["g_min_S"], d["g_max_S"]), tuple(d["layers"]),
                   tuple(float(w) for w in d["w_max"]), TilePlan.from_json(json.dumps(d["plan"])))


def with_weights(model: nn.Module, weights: dict[str, np.ndarray]) -> nn.Module:
    """A copy of ``model`` whose mapped layers carry ``weights`` (NaN -> 0: unread cell)."""
    out = copy.deepcopy(model)
    mods = dict(weight_layers(out))
    for name, w in weights.items():
        mod = mods[name]
        t = torch.as_tensor(np.nan_to_num(w, nan=0.0), dtype=mod.weight.dtype)
        with torch.no_grad():
            mod.weight.copy_(t.reshape(mod.weight.shape))
    return out.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> float:
    """Top-1 accuracy (0..1) in eval mode."""
    model.eval()
    correct = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
                  for i in range(0, len(x), batch))
    return correct / max(len(x), 1)


def layer_errors(net: NetworkMap, measured: dict[str, np.ndarray],
                 target: dict[str, np.ndarray]) -> np.ndarray:
    """Per-layer RMS weight error, relative to the layer's w_max."""
    return np.array([float(np.sqrt(np.nanmean((measured[n] - target[n]) ** 2))) / w
                     for n, w in zip(net.layers, net.w_max)])
