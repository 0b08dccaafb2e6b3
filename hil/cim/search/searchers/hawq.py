"""HAWQ-style search (Dong et al., HAWQ-V2 NeurIPS 2020; HAWQ-V3 ICML 2021), device-aware.

1. Hessian traces by Hutchinson's estimator, tr(H) ≈ mean over Rademacher probes v of vᵀHv
   (Hessian-vector products by double back-propagation of the training loss), for every
   layer's weights and for every layer's *input activations* (a zero tensor added to the
   input carries the derivative).  Each block gets its own probe (one Hessian-vector product
   per block and probe), so no cross-block term adds noise: the diagonal blocks of a
   piecewise-linear (ReLU) network under cross-entropy are positive semi-definite, so every
   probe's vᵀHv is >= 0 and a small trace stays small instead of turning negative.
2. Second-order loss perturbation of layer ℓ at (w, a) bits (HAWQ-V2's trace/n form):
   Ω = ½·[tr(H_W)/n_W · E‖W̃ − W‖² + tr(H_X)/n_X · ‖Q_a(X) − X‖²], where W̃ is the quantized
   weight *with the device error model applied* (mean over a few seeded draws) and X the
   layer inputs of the probe batch.
3. Integer linear program (``scipy.optimize.milp``): one choice per free layer minimising
   ΣΩ under a latency limit.  A latency budget is one ILP; an accuracy budget sweeps the
   limit over a grid, scores each distinct ILP solution with the real objective and keeps
   the fastest one within the budget (checked on the measured losses' upper bound).
4. When Ω put every solution in budget but none measures so, the pick is repaired by
   measurement (:func:`hil.cim.search.searchers.repair.raise_until_feasible`: one width raise
   at a time); a pick still over budget is flagged (``feasible`` False, ``info['infeasible']``).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import Bounds, LinearConstraint, milp

from hil.cim.search.objective import Budget, Objective
from hil.cim.search.searchers.repair import raise_until_feasible
from hil.cim.search.tracker import SearchResult, Tracker
from hil.errors import ParameterError
from hil.nn.quant import ActQuant


def hutchinson_traces(model: torch.nn.Module, names: list[str], x: torch.Tensor,
                      y: torch.Tensor, probes: int = 32, seed: int = 0
                      ) -> tuple[np.ndarray, np.ndarray, dict[str, torch.Tensor]]:
    """(weight traces, input-activation traces, layer inputs) of the layers ``names``.

    The loss is the mean cross-entropy over ``(x, y)``; ``model`` is used in eval mode and
    left unchanged."""
    if probes < 1:
        raise ParameterError(f"Hutchinson probes={probes} must be >= 1")
    modules = dict(model.named_modules())
    eps: dict[str, torch.Tensor] = {}
    inputs: dict[str, torch.Tensor] = {}

    def pre_hook(name: str):
        def fn(_m, inp):
            e = torch.zeros_like(inp[0], requires_grad=True)
            eps[name], inputs[name] = e, inp[0].detach()
            return (inp[0] + e,) + tuple(inp[1:])
        return fn

    was = model.training
    flags = {p: p.requires_grad for p in model.parameters()}
    handles = [modules[n].register_forward_pre_hook(pre_hook(n)) for n in names]
    try:
        model.eval()
        weights = [modules[n].weight for n in names]
        for w in weights:
            w.requires_grad_(True)
        loss = F.cross_entropy(model(x), y)
        tensors = weights + [eps[n] for n in names]
        grads = torch.autograd.grad(loss, tensors, create_graph=True)
        gen = torch.Generator().manual_seed(int(seed))
        acc = np.zeros(len(tensors))
        for _ in range(probes):
            # one probe per block, zero elsewhere: vᵀH_bb v has no cross-block terms.  A probe
            # shared by all blocks adds Σ v_bᵀH_bc v_c, zero only in expectation and large
            # next to a small trace (a layer's weight-input block carries the loss gradient);
            # with 32 probes it drove the trace of the last free layer's input of digits-mlp5
            # below 0, the clip made its 2-bit inputs free and HAWQ picked +2.1 pp over budget
            for b, t in enumerate(tensors):
                v = torch.randint(0, 2, t.shape, generator=gen).to(t.dtype) * 2 - 1
                hv, = torch.autograd.grad(grads[b], t, grad_outputs=v, retain_graph=True)
                acc[b] += float((hv * v).sum())
    finally:
        for h in handles:
            h.remove()
        for p, f in flags.items():
            p.requires_grad_(f)
        model.train(was)
    acc /= probes
    n = len(names)
    return acc[:n], acc[n:], inputs


def perturbation_table(objective: Objective, probe: tuple[torch.Tensor, torch.Tensor],
                       probes: int = 32, draws: int = 4, seed: int = 0) -> np.ndarray:
    """Ω of every (free layer, choice): array (free layers, choices)."""
    space, net = objective.space, objective.net
    tw, ta, inputs = hutchinson_traces(net.float_model, net.names, probe[0], probe[1],
                                       probes, seed)
    tw, ta = np.clip(tw, 0.0, None), np.clip(ta, 0.0, None)  # estimator noise can go < 0
    em = objective.error_model
    omega = np.zeros((len(space.free), len(space.choices)))
    for r, i in enumerate(space.free):
        name = net.names[i]
        w = net.float_weight(name)
        x = inputs[name]
        amax, signed = net.ranges[name]
        dw: dict[int, float] = {}
        da: dict[int, float] = {}
        for c, (wb, ab) in enumerate(space.choices):
            if wb not in dw:
                q = net.quantized_weight(name, wb)
                if em is None:
                    dw[wb] = float(((q - w) ** 2).sum())
                else:
                    gen = torch.Generator().manual_seed(int(seed) + 1)
                    dw[wb] = float(np.mean([float(((em.perturb_weight(q, gen) - w) ** 2).sum())
                                            for _ in range(draws)]))
            if ab not in da:
                aq = ActQuant(ab).eval()
                aq.amax.fill_(amax)
                aq.signed.fill_(signed)
                aq.calibrated.fill_(True)
                with torch.no_grad():
                    da[ab] = float(((aq(x) - x) ** 2).sum())
            omega[r, c] = 0.5 * (tw[i] / w.numel() * dw[wb] + ta[i] / x.numel() * da[ab])
    return omega


def solve_ilp(omega: np.ndarray, latency: np.ndarray, max_latency_s: float
              ) -> np.ndarray | None:
    """Choice index per free layer minimising ΣΩ with Σ latency ≤ ``max_latency_s``
    (``scipy.optimize.milp``, HiGHS); None when no assignment fits."""
    n_l, n_c = omega.shape
    c = omega.ravel()
    # tiny latency tie-break: among equal-Ω solutions prefer the faster one
    c = c + 1e-9 * (np.abs(c).max() + 1e-30) * latency.ravel() / (latency.max() + 1e-30)
    onehot = np.zeros((n_l, n_l * n_c))
    for i in range(n_l):
        onehot[i, i * n_c:(i + 1) * n_c] = 1.0
    cons = [LinearConstraint(onehot, 1.0, 1.0),
            LinearConstraint(latency.ravel()[None, :], -np.inf, max_latency_s)]
    res = milp(c, constraints=cons, integrality=np.ones(n_l * n_c), bounds=Bounds(0, 1))
    if res.x is None:
        return None
    return np.round(res.x).reshape(n_l, n_c).argmax(axis=1)


def search(objective: Objective, budget: Budget, *, probe: tuple[torch.Tensor, torch.Tensor],
           seed: int = 0, points: int = 24, probes: int = 32, progress: bool = False,
           **_: object) -> SearchResult:
    """HAWQ pick under ``budget``; ``probe`` = training batch for the Hessian traces."""
    space, cost = objective.space, objective.cost
    omega = perturbation_table(objective, probe, probes=probes, seed=seed)
    lat = cost.choice_table_s()
    fixed = cost.pinned_latency_s()
    if budget.kind == "latency":
        limits = [budget.max_latency_ratio * objective.latency_int8_s - fixed]
    else:
        lo, hi = lat.min(axis=1).sum(), lat.max(axis=1).sum()
        limits = list(np.geomspace(max(lo, 1e-30), hi, max(points, 2)))
    tr = Tracker(objective, budget, "hawq", len(limits), progress, unit="ILP")
    solutions = []
    for lim in limits:
        idx = solve_ilp(omega, lat, float(lim))
        if idx is not None:
            cfg = space.assemble([space.choices[j] for j in idx])
            solutions.append(tr.evaluate(cfg))
        tr.step()
    if not solutions:  # latency budget below the fastest configuration: take the fastest
        idx = lat.argmin(axis=1)
        solutions.append(tr.evaluate(space.assemble([space.choices[j] for j in idx])))
    pick = objective.best(solutions, budget)
    info: dict = {"ilp_points": len(limits), "repair_steps": 0}
    if budget.kind == "accuracy" and not objective.feasible(pick, budget):
        # Ω predicted these in budget, the measurement says no: raise widths by measurement
        pick, info["repair_steps"] = raise_until_feasible(objective, tr, pick, budget)
        if not objective.feasible(pick, budget):
            info["infeasible"] = ("no ILP solution nor any width raise of it meets the "
                                  f"{budget.max_loss_pp} pp budget (z={budget.z}); the pick "
                                  "is the widest configuration reached and is over budget")
    return tr.result(pick, **info)
