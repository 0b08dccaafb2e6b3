"""Algorithm 1 decisions on a synthetic accuracy curve; time grid; batched EVALSTATS."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hil.errors import ParameterError
from hil.nn.drift import ReferenceDrift
from hil.nn.schedule import (YEAR_S, algorithm1, drifted_instances, eval_stats,
                             instance_accuracies, time_grid)
from hil.nn.train import accuracy
from hil.nn.vera import VeraPlusModel
from hil.nn.models import small_cnn
from hil.nn.quant import quantize_model

torch.set_num_threads(2)


def _quantized_cnn(width: int = 4) -> torch.nn.Module:
    torch.manual_seed(0)
    q = quantize_model(small_cnn(width=width))
    q.train()
    with torch.no_grad():
        for m in q.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None
        for _ in range(5):
            q(torch.rand(16, 1, 8, 8))
    return q.eval()


def test_time_grid_is_geometric_and_ends_at_horizon():
    ts = time_grid(1.0, 10 * YEAR_S, 1.5)
    assert ts[0] == 1.0 and ts[-1] == 10 * YEAR_S
    assert all(b / a == pytest.approx(1.5) for a, b in zip(ts[:-2], ts[1:-1]))
    assert ts[-2] <= 10 * YEAR_S and len(ts) == 50
    with pytest.raises(ParameterError, match="factor=1"):
        time_grid(1.0, 10.0, 1.0)


class Synthetic:
    """Accuracy 95 % right after a set is trained at t_set (or at 1 s with no set), falling
    2 points per decade of t/t_set; σ = 0.5.  A new set restores 95 %."""

    def __init__(self):
        self.trained_at: list[float] = []
        self.calls: list[tuple[float, int]] = []

    def evalstats(self, t: float, idx: int) -> tuple[float, float]:
        self.calls.append((t, idx))
        t_ref = 1.0 if idx < 0 else self.trained_at[idx]
        return 95.0 - 2.0 * math.log10(t / t_ref), 0.5

    def train(self, t: float, prev: int) -> int:
        self.trained_at.append(t)
        return len(self.trained_at) - 1


def test_algorithm1_trains_when_lower_bound_crosses_threshold():
    syn = Synthetic()
    sched = algorithm1(syn.evalstats, syn.train, threshold=90.0, horizon_s=1e6, factor=1.5)
    # µ − 3σ = 93.5 − 2·log10(t/t_set) < 90  <=>  t/t_set > 10^1.75 = 56.2
    grid = time_grid(1.0, 1e6, 1.5)
    expect, t_set = [], 1.0
    for t in grid:
        if 93.5 - 2 * math.log10(t / t_set) < 90.0:
            expect.append(t)
            t_set = t
    assert sched.set_t_s == expect and len(expect) == 3
    assert [s.trained for s in sched.steps].count(True) == 3
    first = next(s for s in sched.steps if s.trained)
    assert first.t_s == pytest.approx(1.5 ** 10) and first.set_before == -1
    assert first.mean_after == pytest.approx(95.0)  # re-evaluated with the new set
    # deployment picks the latest set that has started
    assert sched.select(0.5) == -1 and sched.select(expect[1]) == 1 and sched.select(1e9) == 2


def test_algorithm1_never_trains_above_threshold_and_always_below():
    flat = algorithm1(lambda t, i: (99.0, 0.1), lambda t, i: i + 1, 90.0, horizon_s=100.0)
    assert flat.set_t_s == []
    low = algorithm1(lambda t, i: (50.0, 0.1), lambda t, i: i + 1, 90.0, horizon_s=100.0)
    assert low.set_t_s == time_grid(1.0, 100.0)  # a new set at every step


def test_batched_eval_matches_one_at_a_time():
    v = VeraPlusModel(_quantized_cnn())
    x, y = torch.rand(40, 1, 8, 8), torch.randint(0, 10, (40,))
    w = drifted_instances(v, 1e7, ReferenceDrift.from_card(), 3, torch.Generator().manual_seed(0))
    batched = instance_accuracies(v, x, y, w, chunk=2)
    single = []
    for i in range(3):
        for name, p in v.named_parameters():
            if name in w:
                p.data.copy_(w[name][i])
        single.append(accuracy(v, x, y))
    np.testing.assert_allclose(batched, single)
    mu, sd, accs = eval_stats(v, x, y, 1e7, ReferenceDrift.from_card(), 5, seed=3)
    assert len(accs) == 5 and mu == pytest.approx(accs.mean()) and sd == pytest.approx(accs.std())
    with pytest.raises(ParameterError, match="n_instances=0"):
        eval_stats(v, x, y, 1.0, ReferenceDrift.from_card(), 0)
