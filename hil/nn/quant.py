"""W4A4-style fake quantization (quantization-aware training with a straight-through estimator).

Weights: symmetric per output channel, levels -(2^(b-1)-1) .. 2^(b-1)-1 (15 levels at 4 bits).
Activations (layer inputs): per tensor; unsigned 0 .. 2^b-1 when the calibrated input is
non-negative (after ReLU), symmetric otherwise; the range is an exponential moving average of
the batch maximum during training and frozen in eval mode.  VeRA+ §III-D quantizes the
backbone this way before it is programmed into RRAM.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
import torch.nn.functional as F

from hil.errors import ParameterError

def _with_noise(m: nn.Module, wq: torch.Tensor) -> torch.Tensor:
    """Noise-aware training hook (see :func:`train_quantized`), train mode only."""
    fn = getattr(m, "weight_noise", None)
    if fn is None or not m.training:
        return wq
    with torch.no_grad():
        delta = fn(wq.detach()) - wq.detach()
    return wq + delta  # forward: noisy weights; backward: gradient of the clean weights


def _check_bits(bits: int, what: str) -> int:
    if not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ParameterError(f"{what} bits={bits!r} must be an integer in 2..16")
    return bits


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """round() forward, identity gradient backward."""
    return x + (torch.round(x) - x).detach()


def quantize_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Symmetric per-output-channel fake quantization of a weight tensor (dim 0 = output)."""
    qmax = 2 ** (bits - 1) - 1
    amax = w.detach().abs().reshape(w.shape[0], -1).amax(dim=1).clamp(min=1e-8)
    scale = (amax / qmax).reshape(-1, *([1] * (w.dim() - 1)))
    return torch.clamp(round_ste(w / scale), -qmax, qmax) * scale


class ActQuant(nn.Module):
    """Per-tensor activation fake quantizer with an EMA-calibrated range."""

    def __init__(self, bits: int = 4, momentum: float = 0.1) -> None:
        super().__init__()
        self.bits = _check_bits(bits, "activation")
        self.momentum = momentum
        self.register_buffer("amax", torch.zeros(()))
        self.register_buffer("signed", torch.zeros((), dtype=torch.bool))
        self.register_buffer("calibrated", torch.zeros((), dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                m = x.detach().abs().max()
                if not bool(self.calibrated):
                    self.amax.copy_(m)
                    self.calibrated.fill_(True)
                else:
                    self.amax.mul_(1 - self.momentum).add_(self.momentum * m)
                self.signed |= bool(x.detach().min() < 0)
        if not bool(self.calibrated):
            return x
        if bool(self.signed):
            qmin, qmax = -(2 ** (self.bits - 1) - 1), 2 ** (self.bits - 1) - 1
        else:
            qmin, qmax = 0, 2 ** self.bits - 1
        scale = self.amax.clamp(min=1e-8) / qmax
        if not torch.is_grad_enabled():
            # inference (e.g. Monte-Carlo evaluation): the same values without the STE's two
            # extra passes, in place (q + (round(q) - q) == round(q) exactly in floating point)
            return torch.div(x, scale).round_().clamp(qmin, qmax).mul_(scale)
        return torch.clamp(round_ste(x / scale), qmin, qmax) * scale


class QConv2d(nn.Conv2d):
    """Conv2d with fake-quantized weights and input activations."""

    w_bits: int = 4

    @classmethod
    def from_float(cls, m: nn.Conv2d, w_bits: int, a_bits: int) -> "QConv2d":
        q = cls(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                m.groups, m.bias is not None, m.padding_mode)
        q.load_state_dict(m.state_dict())
        q.w_bits, q.act = _check_bits(w_bits, "weight"), ActQuant(a_bits)
        return q.to(m.weight.device)

    def quantized_weight(self) -> torch.Tensor:
        return quantize_weight(self.weight, self.w_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.act(x), _with_noise(self, self.quantized_weight()), self.bias)


class QLinear(nn.Linear):
    """Linear with fake-quantized weights and input activations."""

    w_bits: int = 4

    @classmethod
    def from_float(cls, m: nn.Linear, w_bits: int, a_bits: int) -> "QLinear":
        q = cls(m.in_features, m.out_features, m.bias is not None)
        q.load_state_dict(m.state_dict())
        q.w_bits, q.act = _check_bits(w_bits, "weight"), ActQuant(a_bits)
        return q.to(m.weight.device)

    def quantized_weight(self) -> torch.Tensor:
        return quantize_weight(self.weight, self.w_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.act(x), _with_noise(self, self.quantized_weight()), self.bias)


def quantize_model(model: nn.Module, w_bits: int = 4, a_bits: int = 4) -> nn.Module:
    """A copy of ``model`` whose Conv2d/Linear layers are fake-quantized (train it briefly:
    activation ranges calibrate in train mode)."""
    model = copy.deepcopy(model)
    for name, child in list(model.named_modules()):
        for attr, sub in list(child.named_children()):
            if type(sub) is nn.Conv2d:
                setattr(child, attr, QConv2d.from_float(sub, w_bits, a_bits))
            elif type(sub) is nn.Linear:
                setattr(child, attr, QLinear.from_float(sub, w_bits, a_bits))
    return model


def train_quantized(model: nn.Module, loader, float_epochs: int = 15, qat_epochs: int = 5,
                    lr: float = 3e-3, w_bits: int = 4, a_bits: int = 4,
                    show_progress: bool = False, weight_noise=None,
                    noise_epochs: int = 0) -> nn.Module:
    """Train ``model`` in float, then fine-tune its W4A4 fake-quantized copy (QAT); eval mode.

    Noise-aware step (optional): with ``weight_noise`` (``fn(w) -> noisy w``) and
    ``noise_epochs > 0``, the QAT model is fine-tuned ``noise_epochs`` more epochs with a
    fresh noisy instance of every quantized weight per forward pass (straight-through
    gradient); the hook is removed afterwards.
    """
    from hil.nn.train import train_epochs

    model.train()
    if float_epochs:
        train_epochs(model, loader, float_epochs, lr, show_progress=show_progress, desc="float")
    q = quantize_model(model, w_bits, a_bits)
    q.train()
    if qat_epochs:
        train_epochs(q, loader, qat_epochs, lr / 3, show_progress=show_progress, desc="QAT")
    if weight_noise is not None and noise_epochs > 0:
        layers = [m for m in q.modules() if isinstance(m, (QConv2d, QLinear))]
        for m in layers:
            m.weight_noise = weight_noise
        try:
            train_epochs(q, loader, noise_epochs, lr / 3, show_progress=show_progress,
                         desc="noise-aware")
        finally:
            for m in layers:
                m.weight_noise = None
    return q.eval()
