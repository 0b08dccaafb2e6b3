"""HAWQ's Hessian traces against the exact Hessian, and its pick under a budget when the
second-order prediction is wrong (a zero input-activation trace makes 2-bit inputs look
free): the pick must be repaired into the measured budget, or flagged as over it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hil.cim.error_model import ErrorModel
from hil.cim.search.objective import Budget
from hil.cim.search.problem import build_problem, train_search_model, with_crossbar
from hil.cim.search.searchers import hawq
from hil.cim.search.searchers.repair import raise_steps
from hil.cim.search.space import SearchSpace
from hil.cim.units import load_unit

torch.set_num_threads(1)


def _exact_block_hessians(model, names, x, y):
    """Exact diagonal Hessian blocks of the cross-entropy w.r.t. each layer's weight and input
    (torch.autograd.functional.hessian, one block at a time)."""
    modules = dict(model.named_modules())
    out_w, out_x = [], []
    for n in names:
        w0 = modules[n].weight.detach().clone()

        def loss_of_w(w, n=n):
            return F.cross_entropy(torch.func.functional_call(model, {f"{n}.weight": w}, (x,)), y)

        out_w.append(torch.autograd.functional.hessian(loss_of_w, w0).reshape(w0.numel(), -1))
        seen: dict[str, torch.Tensor] = {}

        def keep_input(_m, i, _o):  # returns None: the output stays as it is
            seen["x"] = i[0].detach()

        h = modules[n].register_forward_hook(keep_input)
        with torch.no_grad():
            model(x)
        h.remove()

        def loss_of_x(e, n=n):
            hh = modules[n].register_forward_pre_hook(lambda _m, i: (i[0] + e,))
            try:
                return F.cross_entropy(model(x), y)
            finally:
                hh.remove()

        e0 = torch.zeros_like(seen["x"])
        out_x.append(torch.autograd.functional.hessian(loss_of_x, e0).reshape(e0.numel(), -1))
    return out_w, out_x


def test_hutchinson_traces_match_the_exact_hessian_blocks():
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4),
                                torch.nn.ReLU(), torch.nn.Linear(4, 3)).eval()
    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
    names = ["0", "2", "4"]
    probes = 400
    tw, ta, _ = hawq.hutchinson_traces(model, names, x, y, probes=probes, seed=0)
    hw, hx = _exact_block_hessians(model, names, x, y)
    for est, blocks in ((tw, hw), (ta, hx)):
        for t, h in zip(est, blocks):
            exact = float(torch.trace(h))
            # Rademacher variance of one probe: 2·Σ_{i≠j} H_ij² (no cross-block terms, since
            # each block has its own probe); 5 standard errors
            off = float((h ** 2).sum() - (torch.diagonal(h) ** 2).sum())
            tol = 5 * np.sqrt(2 * off / probes) + 1e-6 * abs(exact)
            assert t >= 0.0  # PSD diagonal blocks of a ReLU network: never negative
            assert abs(t - exact) <= tol, (t, exact, tol)


def test_raise_steps_raise_one_width_of_one_free_layer():
    space = SearchSpace(layers=("a", "b", "c"), w_bits=(2, 4), a_bits=(2, 8), pinned=(0,))
    steps = raise_steps(space, ((8, 8), (2, 8), (4, 2)))
    assert sorted(steps) == sorted([((8, 8), (4, 8), (4, 2)), ((8, 8), (2, 8), (4, 8))])


@pytest.fixture(scope="module")
def problem():
    model, split = train_search_model("digits-mlp5", seed=0, epochs=8)
    unit = with_crossbar(load_unit("rram_imc_22nm"), 32, 32)
    return build_problem((model, split), unit, w_bits=(2, 4, 8), a_bits=(2, 4, 8),
                         error_model=ErrorModel.parametric(0.02), n_instances=3, seed=0,
                         eval_size=180, latency="compute")


@pytest.fixture
def zero_last_input_trace(monkeypatch, problem):
    """HAWQ sees a zero input-activation trace for the last free layer (the case that made
    it pick 2-bit inputs there for free and return an over-budget pick)."""
    real = hawq.hutchinson_traces
    last = problem.space.free[-1]

    def fake(*args, **kw):
        tw, ta, inputs = real(*args, **kw)
        ta = ta.copy()
        ta[last] = 0.0
        return tw, ta, inputs

    monkeypatch.setattr(hawq, "hutchinson_traces", fake)
    return last


@pytest.mark.parametrize("z", [0.0, 1.6449])
def test_hawq_repairs_a_pick_whose_prediction_missed(problem, zero_last_input_trace, z):
    budget = Budget(max_loss_pp=1.0, z=z)
    ob = problem.objective()
    res = hawq.search(ob, budget, probe=problem.probe, seed=0, points=8, probes=8)
    # the case is reproduced: at the widest limit the ILP takes 2-bit inputs at the last free
    # layer (zero trace = no predicted cost), and that configuration is over the budget
    wide = problem.space.assemble([(8, 8)] * (len(problem.space.free) - 1) + [(8, 2)])
    assert not ob.feasible(ob.evaluate(wide), budget)
    assert res.info["repair_steps"] >= 1
    assert res.feasible and ob.feasible(res.pick, budget)
    assert ob.loss_ucb_pp(res.pick, z) <= 1.0 + 1e-9
    assert "infeasible" not in res.info


def test_hawq_flags_a_budget_nothing_in_the_space_meets(problem, zero_last_input_trace):
    # inputs only at 2 bits: no configuration of the space reaches 0 pp vs INT8
    p = build_problem((problem.model, problem.split), problem.cost.unit, w_bits=(2, 4),
                      a_bits=(2,), error_model=problem.error_model, n_instances=3, seed=0,
                      eval_size=180, latency="compute")
    budget = Budget(max_loss_pp=0.0, z=0.0)
    ob = p.objective()
    res = hawq.search(ob, budget, probe=p.probe, seed=0, points=4, probes=4)
    assert not res.feasible and not ob.feasible(res.pick, budget)
    assert "over budget" in res.info["infeasible"]
    assert all(w == 4 for w, _ in p.space.free_pairs(res.pick.config))  # widest reached
