"""Algorithm 1 of VeRA+ (§III-D): how many (d, b) sets, trained at which drift times.

t advances geometrically (×1.5) from 1 s to a horizon.  At each t, EVALSTATS gives the mean
µ and std σ of accuracy over N drifted instances with the currently deployed set; when
µ − 3σ < threshold a new set is trained at t (drift-injection training, 3 epochs, batch 64)
and recorded as (t, set).  Deployment selects the latest set whose t is <= the elapsed time.

:func:`algorithm1` is pure control flow over two callables, so its decisions can be tested on
a synthetic accuracy curve; :func:`eval_stats` (through the Monte-Carlo engine
`hil.nn.mc`) and :func:`train_set` are the torch parts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from hil.errors import ParameterError
from hil.nn.drift import DriftSampler
from hil.nn.mc import DEFAULT_BACKEND, InstanceSpec, Progress, derive_seed, evaluate
from hil.nn.mc.perturb import FixedWeights, drift_perturb
from hil.nn.train import train_epochs
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
    """``n`` drifted copies of every programmed weight, drawn one after the other from
    ``generator``: {param name: (n, *shape)} (the engine's :class:`DriftPerturb`)."""
    perturb = drift_perturb(model, sampler)
    params = {k: v.detach() for k, v in model.named_parameters()}
    spec = InstanceSpec(max(n, 1), t_s=t_s)
    gen = generator if generator is not None else torch.Generator(device=model.shared.A.device)
    draws = [perturb(params, i, gen, spec) for i in range(n)]
    return {k: torch.stack([d[k] for d in draws]) for k in perturb.names}


def instance_accuracies(model: VeraPlusModel, x: torch.Tensor, y: torch.Tensor,
                        weights: dict[str, torch.Tensor], chunk: int = 25,
                        backend: str = "local") -> np.ndarray:
    """Accuracy (percent) of each given weight instance ({name: (n, *shape)}), through
    the Monte-Carlo engine (``chunk`` instances per chunk)."""
    n = next(iter(weights.values())).shape[0]
    fixed = FixedWeights(tuple({k: v[i] for k, v in weights.items()} for i in range(n)))
    return 100.0 * evaluate(model, (x, y), InstanceSpec(n), fixed, backend=backend,
                            progress=False, chunk=chunk)


def eval_stats(model: VeraPlusModel, x: torch.Tensor, y: torch.Tensor, t_s: float,
               sampler: DriftSampler, n_instances: int = 100, set_index: int = -1,
               seed: int = 0, show_progress: bool = False, chunk: int | None = None, *,
               backend: str = DEFAULT_BACKEND, workers: int | None = None,
               progress: Progress | None = None, journal=None,
               cluster: str | None = None) -> tuple[float, float, np.ndarray]:
    """EVALSTATS: accuracy mean and std (percent) over ``n_instances`` drifted instances
    with set ``set_index`` deployed; instance i drawn from ``instance_seeds(seed, n)[i]``
    (:func:`hil.nn.mc.evaluate`, any backend, same numbers)."""
    if n_instances < 1:
        raise ParameterError(f"n_instances={n_instances} must be >= 1")
    model.eval()
    model.select(set_index)
    accs = 100.0 * evaluate(model, (x, y), InstanceSpec(n_instances, seed, t_s, {"set": set_index}),
                            drift_perturb(model, sampler), backend=backend, workers=workers,
                            progress=progress if progress is not None else show_progress,
                            journal=journal, chunk=chunk, cluster=cluster)
    return float(accs.mean()), float(accs.std()), accs


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
                     seed: int = 0, show_progress: bool = False, **engine) -> list[dict]:
    """Mean ± std accuracy over drifted instances at each time, with the set deployment would
    select (``compensated``) or none.  Time step k draws its instances from root
    ``derive_seed(seed, k)``, the same with and without compensation (paired comparison).
    ``engine``: backend, workers, progress, journal, cluster of :func:`eval_stats`."""
    rows = []
    times = list(times_s)
    own = engine.get("progress") is None
    if own:
        engine["progress"] = Progress(len(times) * n_instances, show_progress,
                                      "compensated" if compensated else "uncompensated")
    try:
        for k, t in enumerate(times):
            idx = model.select_by_time(t) if compensated else -1
            mu, sd, accs = eval_stats(model, x, y, t, sampler, n_instances, idx,
                                      derive_seed(seed, k), **engine)
            rows.append({"t_s": float(t), "set": idx, "mean": mu, "std": sd,
                         "accuracies": accs.tolist()})
    finally:
        if own:
            engine["progress"].close()
    return rows
