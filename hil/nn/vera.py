"""VeRA+ drift compensation (VeRA+ §III, REFERENCE §6).

y = W_drifted·x + Λ_b·B·Λ_d·A·x for every Linear and Conv2d of a trained, quantized
backbone.  A (r × in_max) and B (out_max × r) are frozen random matrices shared by all layers
and all drift levels: layer l uses the leading slice A[:, :C_in], B[:C_out, :].  Convolutions
are compensated with 1×1 kernels (stride of the layer), never k×k.  Per drift level ("set")
only d (r) and b (C_out) per layer are trainable.

Drift injection (§III-D1): :meth:`VeraPlusModel.drift_injected` writes one drifted instance
of every programmed weight into the layers for the forward pass and restores the programmed
values on exit, i.e. before ``loss.backward()``.  Weights are written through ``.data`` (not
tracked by autograd), so the backward pass runs with the programmed weights, as the paper
describes; gradients only reach d and b.
"""
from __future__ import annotations

import contextlib
import copy
import math
import pickle
from typing import Iterator

import torch
from torch import nn
import torch.nn.functional as F

from hil.errors import ParameterError
from hil.nn.drift import DriftSampler, WeightMapping, drift_weights
from hil.nn.quant import QConv2d, QLinear

PROJECTIONS = ("signed", "positive")
D_INIT = 0.1  # VeRA's initial value of d (b starts at 0, so a new set starts as a no-op)


class VeraShared(nn.Module):
    """The global frozen projections A (r × in_max) and B (out_max × r), seeded."""

    def __init__(self, rank: int, in_max: int, out_max: int, seed: int = 0,
                 projection: str = "signed") -> None:
        super().__init__()
        if rank < 1:
            raise ParameterError(f"VeRA+ rank={rank} must be >= 1")
        if projection not in PROJECTIONS:
            raise ParameterError(f"projection {projection!r} unknown; allowed: {PROJECTIONS}")
        g = torch.Generator().manual_seed(seed)
        # uniform with variance 1/fan_in (Kaiming-style), as VeRA initialises its projections;
        # "positive" draws A from U(0, 2·sqrt(3/in_max)) instead (see module docstring)
        u = torch.rand(rank, in_max, generator=g)
        a = (u if projection == "positive" else u * 2 - 1) * math.sqrt(3.0 / in_max)
        b = (torch.rand(out_max, rank, generator=g) * 2 - 1) * math.sqrt(3.0 / rank)
        self.register_buffer("A", a)
        self.register_buffer("B", b)
        self.rank, self.seed, self.projection = rank, seed, projection


class VeraPlusLayer(nn.Module):
    """A programmed Linear/Conv2d (frozen weight) plus its VeRA+ branch and d/b sets."""

    def __init__(self, base: nn.Module, shared: VeraShared) -> None:
        super().__init__()
        if not isinstance(base, (nn.Conv2d, nn.Linear)):
            raise ParameterError(f"VeRA+ wraps Conv2d and Linear layers, got {type(base).__name__}")
        self.is_conv = isinstance(base, nn.Conv2d)
        w = base.quantized_weight() if isinstance(base, (QConv2d, QLinear)) else base.weight
        self.weight = nn.Parameter(w.detach().clone(), requires_grad=False)
        self.bias = (nn.Parameter(base.bias.detach().clone(), requires_grad=False)
                     if base.bias is not None else None)
        self.act = copy.deepcopy(base.act) if hasattr(base, "act") else nn.Identity()
        if self.is_conv:
            self.c_in, self.c_out = base.in_channels, base.out_channels
            self.conv_args = dict(stride=base.stride, padding=base.padding,
                                  dilation=base.dilation, groups=base.groups)
        else:
            self.c_in, self.c_out = base.in_features, base.out_features
        if self.c_in > shared.A.shape[1] or self.c_out > shared.B.shape[0]:
            raise ParameterError(f"layer {self.c_in}->{self.c_out} exceeds the shared A/B size "
                                 f"{shared.A.shape[1]}->{shared.B.shape[0]}")
        object.__setattr__(self, "_shared", shared)  # shared, not a child: stored once
        self.d = nn.ParameterList()
        self.b = nn.ParameterList()
        self.active = -1

    @property
    def rank(self) -> int:
        return self._shared.rank

    def A(self) -> torch.Tensor:
        """This layer's slice of the shared A (r × C_in)."""
        return self._shared.A[:, : self.c_in]

    def B(self) -> torch.Tensor:
        """This layer's slice of the shared B (C_out × r)."""
        return self._shared.B[: self.c_out, :]

    def add_set(self, copy_from: int | None = None) -> int:
        dev = self.weight.device
        if copy_from is None:
            d, b = torch.full((self.rank,), D_INIT, device=dev), torch.zeros(self.c_out, device=dev)
        else:
            d, b = self.d[copy_from].detach().clone(), self.b[copy_from].detach().clone()
        self.d.append(nn.Parameter(d))
        self.b.append(nn.Parameter(b))
        return len(self.d) - 1

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        """Λ_b·B·Λ_d·A·x of the active set (x already activation-quantized)."""
        d, b = self.d[self.active], self.b[self.active]
        if self.is_conv:
            z = F.conv2d(x, self.A()[:, :, None, None], stride=self.conv_args["stride"])
            z = F.conv2d(z * d[None, :, None, None], self.B()[:, :, None, None])
            return z * b[None, :, None, None]
        return F.linear(F.linear(x, self.A()) * d, self.B()) * b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(x)
        if self.is_conv:
            y = F.conv2d(x, self.weight, self.bias, **self.conv_args)
        else:
            y = F.linear(x, self.weight, self.bias)
        if self.active < 0:
            return y
        z = self.branch(x)
        if z.shape != y.shape:
            raise ParameterError(f"VeRA+ 1x1 branch gives {tuple(z.shape)} but the conv gives "
                                 f"{tuple(y.shape)}; only 'same'-padded convs are supported")
        return y + z


class VeraPlusModel(nn.Module):
    """A backbone whose Conv2d/Linear (or QConv2d/QLinear) layers became VeRA+ layers."""

    def __init__(self, backbone: nn.Module, rank: int = 1, seed: int = 0,
                 mapping: WeightMapping | None = None, projection: str = "signed") -> None:
        super().__init__()
        net = copy.deepcopy(backbone).eval()
        targets = [(p, a, m) for p in net.modules() for a, m in p.named_children()
                   if isinstance(m, (nn.Conv2d, nn.Linear))]
        if not targets:
            raise ParameterError("backbone has no Conv2d or Linear layer to compensate")
        dims = [(m.in_channels, m.out_channels) if isinstance(m, nn.Conv2d)
                else (m.in_features, m.out_features) for _, _, m in targets]
        self.shared = VeraShared(rank, max(i for i, _ in dims), max(o for _, o in dims), seed,
                                 projection)
        for parent, attr, m in targets:
            setattr(parent, attr, VeraPlusLayer(m, self.shared))
        for p in net.parameters():
            p.requires_grad_(False)
        self.net = net
        self.mapping = mapping or WeightMapping()
        self.schedule_t_s: list[float] = []  # start time of each set (Algorithm 1)

    # -- structure -------------------------------------------------------------------
    def layers(self) -> list[VeraPlusLayer]:
        return [m for m in self.net.modules() if isinstance(m, VeraPlusLayer)]

    @property
    def n_sets(self) -> int:
        return len(self.layers()[0].d)

    def add_set(self, copy_from: int | None = None) -> int:
        """Append a (d, b) set to every layer (fresh, or a copy of set ``copy_from``)."""
        if copy_from is not None and not 0 <= copy_from < self.n_sets:
            raise ParameterError(f"copy_from={copy_from} not in 0..{self.n_sets - 1}")
        idx = [layer.add_set(copy_from) for layer in self.layers()]
        for layer in self.layers():
            layer.d[-1].requires_grad_(True)
            layer.b[-1].requires_grad_(True)
        return idx[0]

    def copy_set(self, src: int, dst: int) -> None:
        """Overwrite set ``dst``'s d and b with set ``src``'s (keep-the-better retraining)."""
        for i in (src, dst):
            if not 0 <= i < self.n_sets:
                raise ParameterError(f"set index {i} not in 0..{self.n_sets - 1}")
        with torch.no_grad():
            for layer in self.layers():
                layer.d[dst].copy_(layer.d[src])
                layer.b[dst].copy_(layer.b[src])

    def select(self, index: int) -> None:
        """Activate set ``index`` (-1: no compensation)."""
        if not -1 <= index < self.n_sets:
            raise ParameterError(f"set index {index} not in -1..{self.n_sets - 1}")
        for layer in self.layers():
            layer.active = index

    def set_parameters(self, index: int) -> list[nn.Parameter]:
        """The trainable d and b of set ``index`` across all layers."""
        return [p for layer in self.layers() for p in (layer.d[index], layer.b[index])]

    def select_by_time(self, t_s: float) -> int:
        """Deployment: the set whose start time is the latest one <= t_s (-1 if none)."""
        idx = -1
        for i, t0 in enumerate(self.schedule_t_s):
            if t0 <= t_s:
                idx = i
        self.select(idx)
        return idx

    def train(self, mode: bool = True) -> "VeraPlusModel":
        # BN statistics and activation ranges of the programmed backbone stay frozen
        self.training = mode
        self.net.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    # -- drift -----------------------------------------------------------------------
    @contextlib.contextmanager
    def drift_injected(self, t_s: float, sampler: DriftSampler,
                       generator: torch.Generator | None = None) -> Iterator[None]:
        """Forward with one drifted weight instance; programmed weights restored on exit."""
        saved = []
        try:
            for layer in self.layers():
                w = layer.weight
                saved.append(w.data.clone())
                w.data.copy_(drift_weights(saved[-1], t_s, sampler, self.mapping, generator))
            yield
        finally:
            for layer, w0 in zip(self.layers(), saved):
                layer.weight.data.copy_(w0)


# --- checkpoints ------------------------------------------------------------------------

def save_checkpoint(path, model: VeraPlusModel, *, arch: dict, quant: dict,
                    meta: dict | None = None) -> None:
    """Save a VeRA+ model: ``arch`` = {"name", "kwargs", "input_shape"} for
    :func:`hil.nn.models.build`, ``quant`` = {"w_bits", "a_bits"}, ``meta`` = anything JSON-like
    (drift model, schedule log, accuracies)."""
    m = model.mapping
    torch.save({
        "format": "hil-vera+", "version": 1, "arch": arch, "quant": quant,
        "vera": {"rank": model.shared.rank, "seed": model.shared.seed,
                 "projection": model.shared.projection,
                 "mapping": {"kind": m.kind, "g_min_S": m.g_min_S, "g_max_S": m.g_max_S,
                             "per_channel": m.per_channel}},
        "n_sets": model.n_sets, "schedule_t_s": list(model.schedule_t_s),
        "state_dict": model.state_dict(), "meta": meta or {},
    }, path)


def load_checkpoint(path, map_location: str | torch.device = "cpu") -> tuple[VeraPlusModel, dict]:
    """Rebuild a model saved by :func:`save_checkpoint`; returns (model, checkpoint dict)."""
    from hil.nn.models import build
    from hil.nn.quant import quantize_model

    try:
        ck = torch.load(path, map_location=map_location, weights_only=False)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise ParameterError(f"cannot read VeRA+ checkpoint {str(path)!r}: {exc}") from exc
    if not isinstance(ck, dict) or ck.get("format") != "hil-vera+":
        raise ParameterError(f"{str(path)!r} is not a VeRA+ checkpoint (from `hil vera train`)")
    q = quantize_model(build(ck["arch"]["name"], **ck["arch"]["kwargs"]), **ck["quant"])
    v = ck["vera"]
    model = VeraPlusModel(q, v["rank"], v["seed"], WeightMapping(**v["mapping"]), v["projection"])
    for _ in range(ck["n_sets"]):
        model.add_set()
    model.load_state_dict(ck["state_dict"])
    for layer in model.layers():
        for p in list(layer.d) + list(layer.b):
            p.requires_grad_(False)
    model.schedule_t_s = list(ck["schedule_t_s"])
    return model.to(map_location).eval(), ck
