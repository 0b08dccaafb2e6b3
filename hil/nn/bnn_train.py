"""Training and evaluation loops for `hil.nn.bnn.BNN` with the metaplastic optimizer."""
from __future__ import annotations

import torch
from torch import nn

from hil.nn.bnn import BNN, ProgrammingNoise
from hil.nn.metaplastic import MetaplasticAdam


def make_optimizer(model: BNN, lr: float = 0.005, m: float = 12.0) -> MetaplasticAdam:
    """Metaplastic Adam on the hidden weights (clamped to the model's bound), Adam on BN."""
    bound = model.binary[0].bound
    return MetaplasticAdam([
        {"params": model.hidden_parameters(), "meta": True},
        {"params": model.other_parameters(), "meta": False},
    ], lr=lr, m=m, bound=bound)


def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy; binary cross-entropy on one logit when the net has one output."""
    if out.shape[1] == 1:
        return nn.functional.binary_cross_entropy_with_logits(out[:, 0], y.to(out.dtype))
    return nn.functional.cross_entropy(out, y)


def predict(out: torch.Tensor) -> torch.Tensor:
    """Class index from the network output (one logit: > 0 is class 1)."""
    if out.shape[1] == 1:
        return (out[:, 0] >= 0).long()
    return out.argmax(1)


def train_epoch(model: BNN, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                batch_size: int = 64, noise: ProgrammingNoise = ProgrammingNoise(),
                generator: torch.Generator | None = None) -> float:
    """One epoch over (x, y) in shuffled mini-batches; reprogram changed cells after each
    step.  Returns the mean training loss."""
    model.train()
    n = x.shape[0]
    order = torch.randperm(n, generator=generator)
    total = 0.0
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        if idx.numel() < 2:          # batch norm needs two samples
            continue
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        model.program(noise, generator)
        total += float(loss.detach()) * idx.numel()
    return total / n


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy (0..1) of ``model`` in eval mode."""
    model.eval()
    return float((predict(model(x)) == y).double().mean())


def instance_accuracy(out: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy (0..1) from a BNN's output, as a Monte-Carlo metric (`hil.nn.mc`)."""
    return int((predict(out) == y).sum()) / max(len(y), 1)
