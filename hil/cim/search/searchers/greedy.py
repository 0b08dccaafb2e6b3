"""Greedy sensitivity-ranked baseline (LionHeart-style): measure each layer's accuracy loss
alone at every choice, then lower the least sensitive layers first while the budget holds.

Search cost: ``|free layers| × |choices|`` single-layer evaluations, plus at most one joint
evaluation per (layer, choice) tried in the greedy pass.
"""
from __future__ import annotations

from hil.cim.search.objective import Budget, Objective
from hil.cim.search.tracker import SearchResult, Tracker


def sensitivity_table(objective: Objective, tracker: Tracker) -> dict[tuple[int, tuple], float]:
    """Loss (pp vs INT8) of every free layer at every choice, all other layers at 8/8."""
    space = objective.space
    base = list(space.uniform(8))
    table = {}
    for i in space.free:
        for pair in space.choices:
            cfg = list(base)
            cfg[i] = pair
            table[(i, pair)] = objective.loss_pp(tracker.evaluate(tuple(cfg)))
        tracker.step()
    return table


def search(objective: Objective, budget: Budget, *, progress: bool = False,
           **_: object) -> SearchResult:
    """Greedy pick under ``budget`` (see the module docstring)."""
    space, cost = objective.space, objective.cost
    tr = Tracker(objective, budget, "greedy", 2 * len(space.free), progress, unit="layer")
    sens = sensitivity_table(objective, tr)
    current = list(space.uniform(8))
    if budget.kind == "accuracy":
        def rank(i: int) -> tuple:
            cheapest = min(space.choices, key=lambda p: cost.layer_latency_s(i, p))
            saving = cost.layer_latency_s(i, (8, 8)) - cost.layer_latency_s(i, cheapest)
            return (sens[(i, cheapest)], -saving, i)

        for i in sorted(space.free, key=rank):
            cands = sorted((p for p in space.choices if sens[(i, p)] <= budget.max_loss_pp
                            and cost.layer_latency_s(i, p) < cost.layer_latency_s(i, current[i])),
                           key=lambda p: (cost.layer_latency_s(i, p), sens[(i, p)], p))
            for p in cands:
                trial = list(current)
                trial[i] = p
                if objective.feasible(tr.evaluate(tuple(trial)), budget):
                    current = trial
                    break
            tr.step()
        return tr.result(tr.evaluate(tuple(current)), sensitivity=len(sens))
    # latency budget: apply the cheapest-loss-per-second move until the latency fits
    target = budget.max_latency_ratio * objective.latency_int8_s
    while cost.latency_s(tuple(current)) > target:
        moves = []
        for i in space.free:
            now_lat, now_s = cost.layer_latency_s(i, current[i]), sens.get((i, current[i]), 0.0)
            for p in space.choices:
                saved = now_lat - cost.layer_latency_s(i, p)
                if saved > 0:
                    moves.append(((sens[(i, p)] - now_s) / saved, -saved, i, p))
        if not moves:
            break
        _, _, i, p = min(moves)
        current[i] = p
    for _ in space.free:
        tr.step()
    return tr.result(tr.evaluate(tuple(current)), sensitivity=len(sens))
