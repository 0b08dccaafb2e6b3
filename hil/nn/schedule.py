"""Algorithm 1 of VeRA+ (§III-D): how many (d, b) sets, trained at which drift times.

t advances geometrically (×1.5) from 1 s to a horizon.  At each t, EVALSTATS gives the mean
µ and std σ of accuracy over N drifted instances with the currently deployed set; when
µ − 3σ < threshold a new set is trained at t (drift-injection training, 3 epochs, batch 64)
and recorded as (t, set).  Deployment selects the latest set whose t is <= the elapsed time.

:func:`algorithm1` is pure control flow over two callables, so its decisions can be tested on
a synthetic accuracy curve; :func:`eval_stats` and :func:`train_set` are the torch parts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from hil.errors import ParameterError
from hil.nn.drift import DriftSampler
from hil.nn.train import progress, train_epochs
from hil.nn.vera import VeraPlusModel

YEAR_S = 365.0 * 86400.0


@dataclass
class Step:
    """One time step of Algorithm 1 (accuracies in percent)."""

    t_s: float
    set_before: int
    mean: float
    std: float
    trained: bool = False
    set_after: int = -1
    mean_after: float = math.nan
    std_after: float = math.nan


@dataclass
class Schedule:
    """Recorded (t, set) pairs and the per-step log."""

    set_t_s: list[float] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    threshold: float = math.nan

    def select(self, t_s: float) -> int:
        """Set index to deploy at elapsed time ``t_s`` (-1: none needed yet)."""
        idx = -1
        for i, t0 in enumerate(self.set_t_s):
            if t0 <= t_s:
                idx = i
        return idx


def time_grid(t0_s: float = 1.0, horizon_s: float = 10 * YEAR_S, factor: float = 1.5) -> list[float]:
    """t0, t0·f, t0·f², ... while <= horizon, then the horizon itself."""
    if t0_s <= 0 or horizon_s < t0_s or factor <= 1:
        raise ParameterError(f"need 0 < t0_s <= horizon_s and factor > 1 (got t0_s={t0_s}, "
                             f"horizon_s={horizon_s}, factor={factor})")
    ts = [t0_s]
    while ts[-1] * factor <= horizon_s * (1 + 1e-12):
        ts.append(ts[-1] * factor)
    if ts[-1] < horizon_s:
        ts.append(horizon_s)  # always check the horizon itself
    return ts


def algorithm1(evalstats: Callable[[float, int], tuple[float, float]],
               train: Callable[[float, int], int], threshold: float, *, t0_s: float = 1.0,
               horizon_s: float = 10 * YEAR_S, factor: float = 1.5, k_sigma: float = 3.0,
               on_step: Callable[[Step], None] | None = None) -> Schedule:
    """Run Algorithm 1.  ``evalstats(t, set)`` -> (µ, σ) with set -1 = no compensation;
    ``train(t, previous_set)`` trains a new set at drift time t and returns its index."""
    sched = Schedule(threshold=threshold)
    current = -1
    for t in time_grid(t0_s, horizon_s, factor):
        mu, sd = evalstats(t, current)
        step = Step(t, current, mu, sd)
        if mu - k_sigma * sd < threshold:
            current = train(t, current)
            sched.set_t_s.append(t)
            step.trained, step.set_after = True, current
            step.mean_after, step.std_after = evalstats(t, current)
        else:
            step.set_after, step.mean_after, step.std_after = current, mu, sd
        sched.steps.append(step)
        if on_step:
            on_step(step)
    return sched


def drifted_instances(model: VeraPlusModel, t_s: float, sampler: DriftSampler, n: int,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """``n`` drifted copies of every programmed weight: {param name: (n, *shape)}."""
    out = {}
    with torch.no_grad():
        for name, m in model.named_modules():
            if hasattr(m, "branch"):  # a VeraPlusLayer
                G, params = model.mapping.to_conductance(m.weight)
                Gd = sampler.sample(G.unsqueeze(0).expand(n, *G.shape).contiguous(), t_s, generator)
                out[f"{name}.weight"] = torch.stack(
                    [model.mapping.to_weight(Gd[i], params) for i in range(n)]).to(m.weight.dtype)
    return out


@torch.no_grad()
def instance_accuracies(model: VeraPlusModel, x: torch.Tensor, y: torch.Tensor,
                        weights: dict[str, torch.Tensor], chunk: int = 25) -> np.ndarray:
    """Accuracy (percent) of each weight instance, instances batched with ``torch.func.vmap``."""
    from torch.func import functional_call, vmap

    dev = model.shared.A.device
    x, y = x.to(dev), y.to(dev)
    n = next(iter(weights.values())).shape[0]
    accs = []
    for i in range(0, n, chunk):
        part = {k: v[i:i + chunk] for k, v in weights.items()}
        pred = vmap(lambda p: functional_call(model, p, (x,)).argmax(1))(part)
        accs.append((pred == y).double().mean(1).cpu() * 100.0)
    return torch.cat(accs).numpy()


def eval_stats(model: VeraPlusModel, x: torch.Tensor, y: torch.Tensor, t_s: float,
               sampler: DriftSampler, n_instances: int = 100, set_index: int = -1,
               seed: int = 0, show_progress: bool = False,
               chunk: int = 25) -> tuple[float, float, np.ndarray]:
    """EVALSTATS: accuracy mean and std (percent) over ``n_instances`` drifted instances."""
    if n_instances < 1:
        raise ParameterError(f"n_instances={n_instances} must be >= 1")
    model.eval()
    model.select(set_index)
    g = torch.Generator(device=model.shared.A.device).manual_seed(seed)
    accs = []
    for i in progress(range(0, n_instances, chunk), -(-n_instances // chunk),
                      f"eval t={t_s:.3g}s", show_progress):
        w = drifted_instances(model, t_s, sampler, min(chunk, n_instances - i), g)
        accs.append(instance_accuracies(model, x, y, w, chunk))
    a = np.concatenate(accs)
    return float(a.mean()), float(a.std()), a


def train_set(model: VeraPlusModel, loader, t_s: float, sampler: DriftSampler,
              epochs: int = 3, lr: float = 1e-2, copy_from: int | None = None, seed: int = 0,
              show_progress: bool = False) -> int:
    """Train a new (d, b) set at drift time ``t_s`` with drift injection; returns its index.

    A new set starts from ``copy_from`` (the previously deployed set) when given.
    """
    idx = model.add_set(copy_from if copy_from is not None and copy_from >= 0 else None)
    model.select(idx)
    model.eval()  # BN / activation ranges stay frozen
    g = torch.Generator(device=model.shared.A.device).manual_seed(seed)
    train_epochs(model, loader, epochs, lr, params=model.set_parameters(idx),
                 before_forward=lambda: model.drift_injected(t_s, sampler, g),
                 show_progress=show_progress, desc=f"set {idx} @ {t_s:.3g}s")
    for p in model.set_parameters(idx):
        p.requires_grad_(False)  # frozen once trained: later sets do not touch it
    return idx


def accuracy_vs_time(model: VeraPlusModel, x: torch.Tensor, y: torch.Tensor, times_s,
                     sampler: DriftSampler, n_instances: int = 100, compensated: bool = True,
                     seed: int = 0, show_progress: bool = False) -> list[dict]:
    """Mean ± std accuracy over drifted instances at each time, with the set deployment would
    select (``compensated``) or none.  Same seeds with and without compensation."""
    rows = []
    for i, t in enumerate(progress(list(times_s), len(list(times_s)),
                                   "compensated" if compensated else "uncompensated",
                                   show_progress)):
        idx = model.select_by_time(t) if compensated else -1
        mu, sd, _ = eval_stats(model, x, y, t, sampler, n_instances, idx, seed + i)
        rows.append({"t_s": float(t), "set": idx, "mean": mu, "std": sd})
    return rows
