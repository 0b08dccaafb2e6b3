"""Metaplastic optimizer for binarized networks (Laborieux et al. 2021; MTT Eq 8).

Hidden weights W_h are trained with Adam; an update that pushes a hidden weight towards zero
(and so towards flipping its binary weight) is scaled by f_meta = 1 - tanh^2(m * W_h), so
weights that grew large (important for earlier tasks) consolidate.  Updates that increase
|W_h| are not attenuated.  m = 0 gives plain Adam (no metaplasticity).
"""
from __future__ import annotations

import math
from typing import Iterable

import torch

from hil.errors import ParameterError


def f_meta(w_h: torch.Tensor, m: float) -> torch.Tensor:
    """Eq 8: 1 - tanh^2(m * W_h)."""
    return 1.0 - torch.tanh(m * w_h) ** 2


class MetaplasticAdam(torch.optim.Optimizer):
    """Adam whose steps on hidden weights are scaled by f_meta where they shrink |W_h|.

    Parameter groups with ``meta=True`` are hidden weights (clamped to ``[-bound, bound]``
    after each step); other groups (batch-norm affine parameters) are plain Adam.
    """

    def __init__(self, params: Iterable, lr: float = 0.005, m: float = 12.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 bound: float = 1.0) -> None:
        if not lr > 0:
            raise ParameterError(f"learning rate lr={lr!r}: must be > 0")
        if not m >= 0:
            raise ParameterError(f"metaplasticity m={m!r}: must be >= 0 (0 = off)")
        if not bound > 0:
            raise ParameterError(f"hidden weight bound={bound!r}: must be > 0")
        super().__init__(params, dict(lr=lr, m=m, betas=betas, eps=eps, meta=False, bound=bound))

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - torch signature
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                bc1 = 1 - beta1 ** state["step"]
                bc2 = 1 - beta2 ** state["step"]
                denom = (exp_avg_sq.sqrt() / math.sqrt(bc2)).add_(group["eps"])
                update = exp_avg / denom * (group["lr"] / bc1)   # p <- p - update
                if group["meta"] and group["m"] > 0:
                    # update towards zero: sign(W_h) and update agree (p - update shrinks |p|)
                    shrink = torch.sign(p) * update > 0
                    update = torch.where(shrink, update * f_meta(p, group["m"]), update)
                p.sub_(update)
                if group["meta"]:
                    p.clamp_(-group["bound"], group["bound"])
        return loss
