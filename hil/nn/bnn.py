"""Binarized networks whose inference weight is the MTT transfer function of a hidden weight.

Each `BinaryLinear` keeps a real-valued hidden weight W_h (the digital accumulator the
optimizer updates) and a *device* copy: W_h quantized to ``bits`` levels in [-bound, bound]
(MTT Methods 4.5: 3 bits in +-1) and "programmed" with a relative programming error.  The
forward pass uses W_b = f(device) with f the MTT transfer function (Eq 4/7/11/16/17); the
gradient reaches W_h straight through (identity), as in Laborieux et al.'s metaplastic BNN.
Activations are sign(x) with the hardtanh straight-through estimator; every binary layer is
followed by batch normalization (MTT Fig. 5i).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from hil.errors import ParameterError
from hil.nn.mtt_transfer import TransferParams, resolve, transfer

NOISE_MODES = ("relative", "full_scale")


def hidden_levels(bits: int, bound: float = 1.0) -> torch.Tensor:
    """The 2**bits uniform levels in [-bound, bound] (both ends included)."""
    if not (isinstance(bits, int) and 1 <= bits <= 16):
        raise ParameterError(f"hidden weight bits={bits!r}: allowed integers 1..16")
    return torch.linspace(-bound, bound, 2 ** bits)


def quantize_hidden(w: torch.Tensor, bits: int | None, bound: float = 1.0) -> torch.Tensor:
    """Nearest of the `hidden_levels` (``bits=None``: only clamp to +-bound)."""
    w = w.clamp(-bound, bound)
    if bits is None:
        return w
    step = 2.0 * bound / (2 ** bits - 1)
    return torch.round((w + bound) / step) * step - bound


@dataclass(frozen=True)
class ProgrammingNoise:
    """Programming error of the hidden-weight devices, in the conductance domain of Eq 14.

    W_h maps to an MTT unit as in `hil.nn.mapping.MTTMapping`: the active device at
    g_min + |W_h|(1 - g_min) (conductances normalized to G_e,max), the other at g_min.  Each
    programmed conductance gets Gaussian error with std ``level * g`` (``"relative"``, the
    MTT paper's "relative programming error") or ``level * (1 - g_min)`` (``"full_scale"``);
    the device weight is read back with Eq 14 (sign from which device is larger).
    ``g_min_ratio`` = G_e,min / G_e,max; 0.05 is the XOR mapping's 2.245 µS / 45 µS.
    ``in_situ``: the hidden weight lives only on the device, so after each programming the
    optimizer continues from the programmed (noisy) value and errors accumulate over
    training (MTT Fig. S33); otherwise a digital accumulator keeps the exact value.
    """

    level: float = 0.0
    mode: str = "relative"
    g_min_ratio: float = 0.05
    in_situ: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.level <= 1.0:
            raise ParameterError(f"programming noise level={self.level!r}: allowed 0..1 (relative)")
        if self.mode not in NOISE_MODES:
            raise ParameterError(f"noise mode {self.mode!r}: allowed {', '.join(NOISE_MODES)}")
        if not 0.0 <= self.g_min_ratio < 1.0:
            raise ParameterError(f"g_min_ratio={self.g_min_ratio!r}: allowed 0 <= g_min/g_max < 1")

    def apply(self, w: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Programmed (noisy) hidden weight for targets ``w`` in [-1, 1]."""
        if self.level == 0.0:
            return w.clone()
        g0 = self.g_min_ratio
        active = g0 + w.abs() * (1.0 - g0)
        g_pos = torch.where(w >= 0, active, torch.full_like(w, g0))
        g_neg = torch.where(w >= 0, torch.full_like(w, g0), active)
        e = torch.randn((2,) + tuple(w.shape), generator=generator, dtype=w.dtype)
        if self.mode == "relative":
            g_pos = g_pos * (1.0 + self.level * e[0])
            g_neg = g_neg * (1.0 + self.level * e[1])
        else:
            g_pos = g_pos + self.level * (1.0 - g0) * e[0]
            g_neg = g_neg + self.level * (1.0 - g0) * e[1]
        g_pos, g_neg = g_pos.clamp(0.0, 1.0), g_neg.clamp(0.0, 1.0)
        mag = ((torch.maximum(g_pos, g_neg) - g0) / (1.0 - g0)).clamp(min=0.0)
        return torch.where(g_pos >= g_neg, mag, -mag)


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # noqa: D102
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1.0).to(grad.dtype)


class SignActivation(nn.Module):
    """Binary activation +-1 (sign(0) = +1) with the hardtanh straight-through gradient."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return _SignSTE.apply(x)


class BinaryLinear(nn.Module):
    """Linear layer (no bias) with hidden weight ``hidden`` and inference weight f(device)."""

    def __init__(self, in_features: int, out_features: int, params: TransferParams,
                 bits: int | None = 3, bound: float = 1.0, init_scale: float = 0.05) -> None:
        super().__init__()
        self.params, self.bits, self.bound = params, bits, bound
        self.hidden = nn.Parameter(torch.empty(out_features, in_features).uniform_(
            -init_scale * bound, init_scale * bound))
        self.register_buffer("level", quantize_hidden(self.hidden.detach(), bits, bound))
        self.register_buffer("device", self.level.clone())

    @torch.no_grad()
    def program(self, noise: ProgrammingNoise, generator: torch.Generator | None = None,
                force: bool = False) -> int:
        """(Re)program cells whose quantized level changed; return how many were written."""
        q = quantize_hidden(self.hidden, self.bits, self.bound)
        changed = torch.ones_like(q, dtype=torch.bool) if force else q != self.level
        n = int(changed.sum())
        if n:
            self.level[changed] = q[changed]
            self.device[changed] = noise.apply(q[changed], generator)
            if noise.in_situ:
                self.hidden[changed] = self.device[changed]
        return n

    def binary_weight(self) -> torch.Tensor:
        """W_b = f(device weight) (no gradient)."""
        return transfer(self.device, self.params).detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        w_b = transfer(self.device, self.params)
        w = self.hidden + (w_b - self.hidden).detach()   # identity straight-through to W_h
        return x @ w.t()


class BNN(nn.Module):
    """Fully connected BNN: [BinaryLinear -> BatchNorm1d -> sign] * (n-1), BinaryLinear -> BN.

    ``sizes`` e.g. (2, 3, 1) for XOR or (64, 256, 10) for digits.  The output is the
    batch-normalized pre-activation (logits for cross-entropy, or one logit for 2 classes).
    """

    def __init__(self, sizes: Sequence[int], transfer_fn: str | TransferParams = "ecram",
                 bits: int | None = 3, bound: float = 1.0, r: float = 0.0,
                 init_scale: float = 0.05, affine: bool = True) -> None:
        super().__init__()
        if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
            raise ParameterError(f"BNN sizes={list(sizes)!r}: need >= 2 positive layer widths")
        self.sizes = [int(s) for s in sizes]
        self.params = resolve(transfer_fn, r=r)
        self.binary = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i, (a, b) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            self.binary.append(BinaryLinear(a, b, self.params, bits, bound, init_scale))
            self.norms.append(nn.BatchNorm1d(b, affine=affine))
        self.act = SignActivation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = x.reshape(x.shape[0], -1)
        last = len(self.binary) - 1
        for i, (lin, bn) in enumerate(zip(self.binary, self.norms)):
            x = bn(lin(x))
            if i < last:
                x = self.act(x)
        return x

    def hidden_parameters(self) -> list[nn.Parameter]:
        """The hidden weights (what the metaplastic rule updates and the array stores)."""
        return [lin.hidden for lin in self.binary]

    def other_parameters(self) -> list[nn.Parameter]:
        """Batch-norm affine parameters."""
        return [p for bn in self.norms for p in bn.parameters()]

    def program(self, noise: ProgrammingNoise, generator: torch.Generator | None = None,
                force: bool = False) -> int:
        """Program every layer's changed cells; return the number of cells written."""
        return sum(lin.program(noise, generator, force) for lin in self.binary)


@dataclass(frozen=True)
class ProgrammingPerturb:
    """Monte-Carlo instance (`hil.nn.mc.evaluate`) of a trained BNN: every cell programmed
    afresh to its level with ``noise``; instance ``i`` = one programming of the whole array.
    ``levels``: {``"<layer>.device"``: target levels}, taken from the model when built."""

    noise: ProgrammingNoise
    levels: tuple[tuple[str, torch.Tensor], ...]

    @classmethod
    def for_model(cls, model: BNN, noise: ProgrammingNoise) -> "ProgrammingPerturb":
        """The programmed levels of every binary layer of ``model``."""
        return cls(noise, tuple((f"{name}.device", m.level.detach().clone())
                                for name, m in model.named_modules() if isinstance(m, BinaryLinear)))

    def __call__(self, params: dict[str, torch.Tensor], index: int, gen: torch.Generator,
                 spec) -> dict[str, torch.Tensor]:
        return {name: self.noise.apply(level, gen) for name, level in self.levels}
