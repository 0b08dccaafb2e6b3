"""Plain training and evaluation loops shared by the VeRA+ and BNN code."""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from hil.errors import ParameterError


def progress(iterable: Iterable, total: int | None = None, desc: str = "", enabled: bool = True):
    """tqdm progress bar (to stderr) or the bare iterable."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def train_epochs(model: nn.Module, loader: DataLoader, epochs: int, lr: float = 1e-2,
                 params: Iterable[nn.Parameter] | None = None, weight_decay: float = 0.0,
                 before_forward: Callable[[], object] | None = None,
                 show_progress: bool = False, desc: str = "train") -> list[float]:
    """Adam over ``params`` (default: all trainable), cross-entropy; returns epoch losses.

    ``before_forward`` (optional) is called for every mini-batch and may return a context
    manager that is active during the forward pass only (used for drift injection).
    """
    if epochs < 0:
        raise ParameterError(f"epochs={epochs} must be >= 0")
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    if not params:
        raise ParameterError("nothing to train: no parameter requires grad")
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    device = params[0].device
    losses = []
    # one bar over every batch of every epoch: its ETA is the whole training's, not one epoch's
    bar = progress(None, epochs * len(loader), desc, show_progress) if show_progress else None
    for ep in range(epochs):
        total, n = 0.0, 0
        if bar is not None:
            bar.set_postfix_str(f"epoch {ep + 1}/{epochs}", refresh=False)
        for x, y in loader:
            if bar is not None:
                bar.update(1)
            x, y = x.to(device), y.to(device)
            ctx = before_forward() if before_forward else None
            if ctx is not None:
                with ctx:
                    out = model(x)
            else:
                out = model(x)
            loss = F.cross_entropy(out, y)  # the context exited: programmed weights are back
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(y)
            n += len(y)
        losses.append(total / max(n, 1))
    if bar is not None:
        bar.close()
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    """Top-1 accuracy in percent (model in whatever mode the caller set)."""
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, len(x), batch_size):
        out = model(x[i:i + batch_size].to(device))
        correct += int((out.argmax(1).cpu() == y[i:i + batch_size]).sum())
    return 100.0 * correct / max(len(x), 1)
