"""Uniform-precision baselines and exhaustive enumeration (the ground truth for regret)."""
from __future__ import annotations

from hil.cim.search.objective import Budget, Objective
from hil.cim.search.tracker import SearchResult, Tracker
from hil.errors import ParameterError

#: refuse to enumerate more than this many configurations unless asked
MAX_EXHAUSTIVE = 65536


def uniform(objective: Objective, budget: Budget, bits: int, *, progress: bool = False,
            **_: object) -> SearchResult:
    """Every free layer at ``bits``/``bits`` (first/last stay pinned): INT8, INT4 baselines."""
    tr = Tracker(objective, budget, f"int{bits}", 1, progress)
    ev = tr.evaluate(objective.space.uniform(bits))
    tr.step()
    return tr.result(ev)


def exhaustive(objective: Objective, budget: Budget, *, progress: bool = False,
               max_configs: int = MAX_EXHAUSTIVE, **_: object) -> SearchResult:
    """Score every configuration of the space; the pick is the true optimum under ``budget``.
    ``info['evaluations']`` holds them all (for the Pareto front)."""
    space = objective.space
    if space.size > max_configs:
        raise ParameterError(f"exhaustive search over {space.size} configurations exceeds the "
                             f"limit {max_configs}; use fewer free layers or bit widths")
    tr = Tracker(objective, budget, "exhaustive", space.size, progress)
    objective.reference  # noqa: B018 - INT8 first, so progress shows losses
    evals = []
    for cfg in space.configs():
        evals.append(tr.evaluate(cfg))
        tr.step()
    return tr.result(objective.best(evals, budget), evaluations=evals)
