"""Repair of a pick that a *predicted* loss put in budget but the *measured* loss does not.

A model-based searcher (HAWQ: second-order loss prediction + ILP) chooses configurations
from a prediction; the accuracy budget is checked on the measurement (upper confidence bound
of the per-instance losses, :func:`hil.cim.budget.within_budget`).  When every predicted
solution measures over budget, :func:`raise_until_feasible` raises one width of one free layer
at a time — the single step (weight or input width of one layer to the next larger width of
the space) whose measured loss bound is lowest — until a measured configuration fits.  The
offending layer is thereby found by measurement, not by the prediction that missed it.
"""
from __future__ import annotations

from hil.cim.search.objective import Budget, Evaluation, Objective
from hil.cim.search.space import Config, SearchSpace
from hil.cim.search.tracker import Tracker


def raise_steps(space: SearchSpace, config: Config) -> list[Config]:
    """Every configuration one width step above ``config``: one free layer's weight or input
    width raised to the next width of the space (none for a layer already at the maximum)."""
    out = []
    for i in space.free:
        w, a = config[i]
        for bits, pos in ((space.w_bits, 0), (space.a_bits, 1)):
            higher = [b for b in bits if b > (w, a)[pos]]
            if higher:
                pair = (higher[0], a) if pos == 0 else (w, higher[0])
                out.append(config[:i] + (pair,) + config[i + 1:])
    return out


def raise_until_feasible(objective: Objective, tracker: Tracker, start: Evaluation,
                         budget: Budget) -> tuple[Evaluation, int]:
    """(pick, steps): from the over-budget ``start``, take the lowest-loss-bound one-step
    raise until a measured configuration meets the accuracy ``budget``; the fastest feasible
    configuration of the last step is the pick.  Ends at the space's widest configuration when
    nothing fits (the pick is then over budget and the caller must say so)."""
    current, steps = start, 0
    while not objective.feasible(current, budget):
        candidates = [tracker.evaluate(c) for c in raise_steps(objective.space, current.config)]
        if not candidates:
            break
        steps += 1
        tracker.step()
        fits = [e for e in candidates if objective.feasible(e, budget)]
        if fits:
            return objective.best(fits, budget), steps
        # no single raise fits: move along the one that lowers the measured bound most
        current = min(candidates, key=lambda e: (objective.loss_ucb_pp(e, budget.z),
                                                 e.latency_s, e.config))
    return current, steps
