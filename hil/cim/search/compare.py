"""Run several searchers on one problem and tabulate them against uniform INT8 and the
exhaustive optimum: speed-up, accuracy loss (mean ± σ over device-noise instances), regret,
configurations evaluated, wall time."""
from __future__ import annotations

import math
from functools import partial
from typing import Callable

import numpy as np

from hil.cim.search.objective import Budget, Objective
from hil.cim.search.problem import Problem
from hil.cim.search.searchers import baselines, greedy, hawq, rl
from hil.cim.search.space import config_label
from hil.cim.search.tracker import SearchResult
from hil.errors import ParameterError

SEARCHERS: dict[str, Callable[..., SearchResult]] = {
    "int8": partial(baselines.uniform, bits=8),
    "int4": partial(baselines.uniform, bits=4),
    "greedy": greedy.search,
    "hawq": hawq.search,
    "rl": rl.search,
    "exhaustive": baselines.exhaustive,
}
#: order of the table (baselines first, ground truth last)
ORDER = ("int8", "int4", "greedy", "hawq", "rl", "exhaustive")


def parse_searchers(text: str) -> list[str]:
    """'rl,hawq' or 'all' -> names in table order."""
    names = list(ORDER) if text.strip() == "all" else [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in SEARCHERS]
    if bad or not names:
        raise ParameterError(f"searcher {', '.join(bad) or text!r} unknown; allowed: "
                             f"{', '.join(ORDER)} or all")
    return sorted(set(names), key=ORDER.index)


def run_searchers(problem: Problem, budget: Budget, names: list[str], *, seed: int = 0,
                  progress: bool = False, shared_cache: bool = False, **options
                  ) -> tuple[dict[str, SearchResult], dict[str, Objective]]:
    """Each searcher on its own fresh :class:`Objective` (so its evaluation count and wall time
    are its own) unless ``shared_cache``; ``options`` go to the searchers (``episodes``,
    ``points``, ``probes`` ...)."""
    results, objectives = {}, {}
    shared = problem.objective() if shared_cache else None
    for name in names:
        ob = shared if shared is not None else problem.objective()
        results[name] = SEARCHERS[name](ob, budget, seed=seed, progress=progress,
                                        probe=problem.probe, **options)
        objectives[name] = ob
    return results, objectives


def regret(pick, optimum, objective: Objective, budget: Budget) -> float:
    """How far ``pick`` is from the exhaustive ``optimum`` on the budget's objective:
    relative extra latency (accuracy budget) or accuracy shortfall in pp (latency budget).
    Infinite for a pick outside the budget; NaN without an optimum."""
    if optimum is None:
        return math.nan
    if not objective.feasible(pick, budget):
        return math.inf
    if budget.kind == "accuracy":
        return pick.latency_s / optimum.latency_s - 1.0
    return 100.0 * (optimum.acc_mean - pick.acc_mean)


def table_rows(problem: Problem, budget: Budget, results: dict[str, SearchResult],
               objectives: dict[str, Objective]) -> list[dict]:
    """One dict per searcher (see :func:`format_table` for the columns)."""
    opt = results["exhaustive"].pick if "exhaustive" in results else None
    rows = []
    for name, res in results.items():
        ob = objectives[name]
        ev = res.pick
        loss = ob.loss_pp_per_instance(ev)
        rows.append({
            "searcher": name, "config": config_label(ev.config), "latency_s": ev.latency_s,
            "energy_J": problem.cost.energy_J(ev.config),
            "speedup": ob.latency_int8_s / ev.latency_s, "acc_mean": ev.acc_mean,
            "acc_std": ev.acc_std, "loss_mean_pp": float(np.mean(loss)),
            "loss_std_pp": float(np.std(loss, ddof=1)) if len(loss) > 1 else 0.0,
            "feasible": res.feasible, "regret": regret(ev, opt, ob, budget),
            "evaluated": res.evaluated, "wall_s": res.wall_s,
        })
    return rows


def _regret_text(r: float, kind: str) -> str:
    if math.isnan(r):
        return "—"
    if math.isinf(r):
        return "over budget"
    return f"{100 * r:.1f} %" if kind == "accuracy" else f"{r:.2f} pp"


def format_table(rows: list[dict], budget: Budget) -> str:
    """Markdown table: searcher, speed-up vs INT8, accuracy loss mean ± σ, regret, configs
    evaluated, wall time, and the picked configuration (w/a per layer)."""
    head = ("| searcher | speed-up vs INT8 | latency (µs) | accuracy (%) | loss vs INT8 (pp, "
            "mean ± σ) | regret vs exhaustive | configs evaluated | wall (s) | w/a per layer |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    lines = [f"| {r['searcher']} | {r['speedup']:.2f}× | {r['latency_s'] * 1e6:.2f} | "
             f"{100 * r['acc_mean']:.2f} | {r['loss_mean_pp']:+.2f} ± {r['loss_std_pp']:.2f}"
             f"{'' if r['feasible'] else ' (over budget)'} | {_regret_text(r['regret'], budget.kind)} | "
             f"{r['evaluated']} | {r['wall_s']:.1f} | {r['config']} |" for r in rows]
    return head + "\n".join(lines) + "\n"
