"""What every searcher reports: its pick, how many configurations it evaluated, its wall time
and its best-so-far trace; the :class:`Tracker` counts and shows progress."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from hil.cim.search.objective import Budget, Evaluation, Objective
from hil.cim.search.space import Config, config_label


@dataclass
class SearchResult:
    """Outcome of one searcher at one budget."""

    searcher: str
    pick: Evaluation
    feasible: bool
    evaluated: int  # distinct configurations this searcher had scored
    wall_s: float
    trace: list[tuple[int, float, float]] = field(default_factory=list)  # (evals, latency, loss)
    info: dict = field(default_factory=dict)


class Tracker:
    """Wraps an :class:`Objective` for one searcher: counts the distinct configurations it asks
    for, keeps the best so far under ``budget`` and drives a progress bar (steps = episodes,
    ILP points, enumerated configurations ...)."""

    def __init__(self, objective: Objective, budget: Budget, name: str, total: int | None = None,
                 progress: bool = False, unit: str = "config") -> None:
        self.objective, self.budget, self.name = objective, budget, name
        self.seen: set[Config] = set()
        self.best: Evaluation | None = None
        self.trace: list[tuple[int, float, float]] = []
        self.t0 = time.perf_counter()
        self._bar = None
        if progress:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=total, desc=f"search {name}", unit=unit, leave=False,
                             dynamic_ncols=True)

    def evaluate(self, config: Config) -> Evaluation:
        ev = self.objective.evaluate(config)
        self.seen.add(ev.config)
        if self.best is None or self.objective.key(ev, self.budget) < \
                self.objective.key(self.best, self.budget):
            self.best = ev
            self.trace.append((len(self.seen), ev.latency_s, self.objective.loss_pp(ev)))
        return ev

    def step(self, n: int = 1) -> None:
        """One unit of progress (an episode, an ILP point ...); shows the best so far."""
        if self._bar is None:
            return
        self._bar.update(n)
        if self.best is not None:
            ratio = self.objective.latency_int8_s / max(self.best.latency_s, 1e-30)
            self._bar.set_postfix_str(f"evals={len(self.seen)} best {ratio:.2f}x "
                                      f"loss={self.objective.loss_pp(self.best):+.2f}pp",
                                      refresh=False)

    def result(self, pick: Evaluation | None = None, **info) -> SearchResult:
        if self._bar is not None:
            self._bar.close()
        pick = pick if pick is not None else self.best
        info.setdefault("config", config_label(pick.config))
        return SearchResult(self.name, pick, self.objective.feasible(pick, self.budget),
                            len(self.seen), time.perf_counter() - self.t0, list(self.trace), info)
