"""A network at one per-layer bit-width configuration: post-training quantization (PTQ) or a
short quantization-aware fine-tune (QAT), in the form the device error model perturbs.

The quantizers are those of :mod:`hil.nn.quant` (symmetric per-output-channel weights,
per-tensor input activations).  Every Conv2d/Linear layer becomes a :class:`ProgrammedLayer`:
input fake-quantizer, then the layer with its *already quantized* weight as a parameter — the
values written to the crossbar — so a Monte-Carlo perturbation of the parameters is a
programming error on top of the quantized levels (not re-quantized away).

PTQ activation ranges are calibrated once on the float network (max |x| of each layer input
over the calibration set), so a configuration's network depends only on the configuration;
quantized weights are cached per (layer, bits), which makes enumerating thousands of
configurations cheap.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

from hil.cim.activations import calibrate_inputs
from hil.cim.search.space import Config
from hil.errors import ParameterError
from hil.nn.quant import ActQuant, QConv2d, QLinear, quantize_model, quantize_weight

QUANTIZABLE = (nn.Conv2d, nn.Linear)


class TensorBatches:
    """Seeded shuffled mini-batches of in-memory tensors (an iterable with ``len`` that
    :func:`hil.nn.train.train_epochs` accepts); much cheaper than a per-sample DataLoader for
    the small data sets used here.  Epoch ``k`` uses permutation ``k`` of one generator."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64,
                 seed: int = 0) -> None:
        if batch_size < 1:
            raise ParameterError(f"batch_size={batch_size} must be >= 1")
        self.x, self.y, self.batch_size = x, y, int(batch_size)
        self.gen = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self):
        perm = torch.randperm(len(self.x), generator=self.gen)
        for i in range(0, len(perm), self.batch_size):
            idx = perm[i:i + self.batch_size]
            yield self.x[idx], self.y[idx]


def quantizable_names(model: nn.Module) -> list[str]:
    """Names of the Conv2d/Linear modules, in registration order."""
    return [n for n, m in model.named_modules() if type(m) in QUANTIZABLE]


class ProgrammedLayer(nn.Module):
    """Input activation quantizer followed by a conv/linear layer holding quantized weights."""

    def __init__(self, layer: nn.Module, amax: float, signed: bool) -> None:
        super().__init__()
        self.layer = copy.deepcopy(layer)
        self.act = ActQuant(8)
        self.act.amax.fill_(float(amax))
        self.act.signed.fill_(bool(signed))
        self.act.calibrated.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(self.act(x))


def _set_child(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, attr, new)


class QuantizedNet:
    """One mutable copy of a float network whose layers are :class:`ProgrammedLayer`.

    :meth:`load` puts a configuration in (weights from the PTQ cache or from a QAT run);
    :attr:`weight_names` are the parameters a device error model perturbs.
    """

    def __init__(self, float_model: nn.Module, calib_x: torch.Tensor,
                 names: Sequence[str] | None = None) -> None:
        self.float_model = float_model.eval()
        self.names = list(names) if names is not None else quantizable_names(float_model)
        if not self.names:
            raise ParameterError("model has no Conv2d or Linear layer to quantize")
        self.ranges = calibrate_inputs(float_model, self.names, calib_x)
        self.model = copy.deepcopy(float_model).eval()
        modules = dict(float_model.named_modules())
        for n in self.names:
            amax, signed = self.ranges[n]
            _set_child(self.model, n, ProgrammedLayer(modules[n], amax, signed))
        for p in self.model.parameters():
            p.requires_grad_(False)
        self._float_w = {n: modules[n].weight.detach().clone() for n in self.names}
        self._cache: dict[tuple[str, int], torch.Tensor] = {}
        self.weight_names = [f"{n}.layer.weight" for n in self.names]

    def float_weight(self, name: str) -> torch.Tensor:
        """Trained (unquantized) weight of layer ``name``."""
        return self._float_w[name]

    def quantized_weight(self, name: str, bits: int) -> torch.Tensor:
        """PTQ weight of layer ``name`` at ``bits`` (cached)."""
        key = (name, int(bits))
        if key not in self._cache:
            with torch.no_grad():
                self._cache[key] = quantize_weight(self._float_w[name], int(bits))
        return self._cache[key]

    @torch.no_grad()
    def load(self, config: Config, weights: dict[str, torch.Tensor] | None = None,
             ranges: dict[str, float] | None = None) -> nn.Module:
        """Set every layer to its (w, a) pair; ``weights``/``ranges`` (from :func:`qat_weights`)
        replace the PTQ weights and activation ranges.  Returns the network (eval mode)."""
        if len(config) != len(self.names):
            raise ParameterError(f"configuration has {len(config)} pairs for {len(self.names)} "
                                 "layers")
        for n, (w, a) in zip(self.names, config):
            layer = self.model.get_submodule(n)
            src = weights[n] if weights is not None else self.quantized_weight(n, w)
            layer.layer.weight.copy_(src)
            layer.act.bits = int(a)
            layer.act.amax.fill_(ranges[n] if ranges is not None else self.ranges[n][0])
        return self.model


def qat_weights(float_model: nn.Module, names: Sequence[str], config: Config,
                train: tuple[torch.Tensor, torch.Tensor], epochs: int, lr: float, seed: int,
                batch_size: int = 64) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Quantization-aware fine-tune of ``float_model`` at ``config`` for ``epochs`` (Adam,
    straight-through estimator, :mod:`hil.nn.quant` quantizers); returns the quantized weights
    and the learned activation ranges of each layer.  Seeded: the same inputs give the same
    weights."""
    from hil.nn.train import train_epochs

    if epochs < 1:
        raise ParameterError(f"QAT epochs={epochs} must be >= 1")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        q = quantize_model(float_model, 8, 8)
        layers = {n: q.get_submodule(n) for n in names}
        for n, (w, a) in zip(names, config):
            m = layers[n]
            if not isinstance(m, (QConv2d, QLinear)):
                raise ParameterError(f"layer {n!r} is not a Conv2d/Linear layer")
            m.w_bits, m.act.bits = int(w), int(a)
        loader = TensorBatches(train[0], train[1], batch_size, seed)
        q.train()
        train_epochs(q, loader, epochs, lr)
        q.eval()
        with torch.no_grad():
            weights = {n: layers[n].quantized_weight().detach().clone() for n in names}
            ranges = {n: float(layers[n].act.amax) for n in names}
    return weights, ranges
