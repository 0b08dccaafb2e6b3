"""Scoring a configuration: accuracy over device-noise instances (Monte-Carlo engine) and
latency from the crossbar cost model; budgets and the rule that ranks evaluations.

Accuracy loss is measured against uniform INT8 (every layer 8/8 bits) under the *same*
device-noise instances (common random numbers: instance ``i`` of every configuration uses
seed ``i`` of one ``SeedSequence``), in percentage points of the mean accuracy.  An accuracy
budget is met when the upper confidence bound of the paired per-instance losses, mean +
z·σ/√n (:func:`hil.cim.budget.within_budget`, the rule :mod:`hil.cim.partition` applies to its
measured drops; default z one-sided 95 %), is within it — not the mean alone.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch

from hil.cim.budget import Z_ONE_SIDED_95, check_z, upper_bound, within_budget
from hil.cim.search.cost import CostModel
from hil.cim.search.quantize import QuantizedNet, qat_weights
from hil.cim.search.space import Config, SearchSpace
from hil.errors import ParameterError

MODES = ("ptq", "qat")


@dataclass(frozen=True)
class Evaluation:
    """One configuration's scores: per-instance accuracies (fraction) and its latency."""

    config: Config
    latency_s: float
    acc: np.ndarray = field(repr=False)

    @property
    def acc_mean(self) -> float:
        return float(np.mean(self.acc))

    @property
    def acc_std(self) -> float:
        """Standard deviation over device-noise instances (ddof=1; 0 for one instance)."""
        return float(np.std(self.acc, ddof=1)) if len(self.acc) > 1 else 0.0


@dataclass(frozen=True)
class Budget:
    """Exactly one of: accuracy-loss budget (percentage points vs INT8) or latency budget
    (fraction of the INT8 latency).  ``z``: the accuracy budget is checked on mean + z·σ/√n of
    the per-instance losses (:func:`hil.cim.budget.within_budget`; 0 = the mean)."""

    max_loss_pp: float | None = None
    max_latency_ratio: float | None = None
    z: float = Z_ONE_SIDED_95

    def __post_init__(self) -> None:
        if (self.max_loss_pp is None) == (self.max_latency_ratio is None):
            raise ParameterError("budget: give exactly one of an accuracy-loss budget "
                                 "(--budget PP) or a latency budget (--latency-budget RATIO)")
        if self.max_loss_pp is not None and not self.max_loss_pp >= 0:
            raise ParameterError(f"accuracy-loss budget {self.max_loss_pp} pp must be >= 0")
        if self.max_latency_ratio is not None and not self.max_latency_ratio > 0:
            raise ParameterError(f"latency budget {self.max_latency_ratio} must be > 0 "
                                 "(a fraction of the INT8 latency)")
        check_z(self.z)

    @property
    def kind(self) -> str:
        return "accuracy" if self.max_loss_pp is not None else "latency"

    def describe(self) -> dict:
        return {"kind": self.kind, "max_loss_pp": self.max_loss_pp,
                "max_latency_ratio": self.max_latency_ratio, "z": self.z}


class ProgrammedPerturb:
    """Monte-Carlo perturbation: the device error model applied to every programmed weight.

    Each layer draws from its own generator, seeded by one draw from the instance's
    generator, so layer ℓ of instance i gets the same errors in every configuration (common
    random numbers) and, for PTQ weights (fixed per (layer, bits)), the perturbed tensor can be
    cached: enumerating thousands of configurations costs only their forward passes.  The
    cache is exact (same numbers as recomputing) and is not pickled (Ray workers rebuild it).
    """

    def __init__(self, names: Sequence[str], error_model: Any) -> None:
        self.names, self.error_model = tuple(names), error_model
        self._cache: dict[tuple, torch.Tensor] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_cache": {}}

    def __call__(self, params: dict[str, torch.Tensor], index: int, gen: torch.Generator,
                 spec: Any) -> dict[str, torch.Tensor]:
        out = dict(params)
        if self.error_model is None:
            return out
        seeds = torch.randint(0, 2 ** 62, (len(self.names),), generator=gen,
                              device=gen.device).tolist()
        cfg = spec.config if isinstance(spec.config, dict) else {}
        w_bits = cfg.get("w_bits") if cfg.get("ptq") else None
        for j, n in enumerate(self.names):
            key = (seeds[j], n, w_bits[j]) if w_bits is not None else None
            hit = self._cache.get(key) if key is not None else None
            if hit is None:
                g = torch.Generator(device=params[n].device).manual_seed(int(seeds[j]))
                hit = self.error_model.perturb_weight(params[n], g)
                if key is not None:
                    self._cache[key] = hit
            out[n] = hit
        return out


class Objective:
    """Evaluates configurations of ``space`` on ``net``: cached, counted, timed.

    ``mode='ptq'``: quantize the trained network directly; ``'qat'``: fine-tune it
    ``qat_epochs`` at each configuration first (seeded per configuration).  Accuracy is the
    Monte-Carlo engine's (:func:`hil.nn.mc.evaluate`) over ``n_instances`` device-noise
    instances of ``error_model`` (None: noise-free, one instance).
    """

    def __init__(self, space: SearchSpace, net: QuantizedNet, data: tuple[torch.Tensor, torch.Tensor],
                 cost: CostModel, error_model: Any = None, n_instances: int = 8,
                 root_seed: int = 0, mode: str = "ptq",
                 train: tuple[torch.Tensor, torch.Tensor] | None = None, qat_epochs: int = 2,
                 qat_lr: float = 1e-3, backend: str = "local", workers: int | None = None) -> None:
        if mode not in MODES:
            raise ParameterError(f"evaluation mode {mode!r} unknown; allowed: {', '.join(MODES)}")
        if mode == "qat" and train is None:
            raise ParameterError("QAT evaluation needs training data")
        if n_instances < 1:
            raise ParameterError(f"device-noise instances={n_instances} must be >= 1")
        if len(net.names) != len(space.layers):
            raise ParameterError(f"network has {len(net.names)} quantizable layers, the space "
                                 f"{len(space.layers)}")
        self.space, self.net, self.data, self.cost = space, net, data, cost
        self.error_model = error_model
        self.n_instances = n_instances if error_model is not None else 1
        self.root_seed, self.mode, self.train = int(root_seed), mode, train
        self.qat_epochs, self.qat_lr = int(qat_epochs), float(qat_lr)
        self.backend, self.workers = backend, workers
        self.cache: dict[Config, Evaluation] = {}
        self.eval_s = 0.0
        self._perturb = ProgrammedPerturb(net.weight_names, error_model)
        self._reference: Evaluation | None = None

    # -- scoring -------------------------------------------------------------------------
    def _qat_seed(self, config: Config) -> int:
        # a per-configuration seed that does not depend on evaluation order
        return int(np.random.SeedSequence([self.root_seed] + [b for p in config for b in p])
                   .generate_state(1)[0])

    def _accuracies(self, config: Config) -> np.ndarray:
        from hil.nn.mc import InstanceSpec, evaluate

        if self.mode == "qat":
            w, r = qat_weights(self.net.float_model, self.net.names, config, self.train,
                               self.qat_epochs, self.qat_lr, self._qat_seed(config))
            model = self.net.load(config, w, r)
        else:
            model = self.net.load(config)
        spec = InstanceSpec(self.n_instances, self.root_seed,
                            config={"config": config, "ptq": self.mode == "ptq",
                                    "w_bits": tuple(w for w, _ in config)})
        with warnings.catch_warnings():
            # vmap has no batching rule for the in-place clamp of the fake quantizer: slower,
            # same numbers; the 'local' backend (default) does not warn
            warnings.filterwarnings("ignore", message="There is a performance drop")
            return evaluate(model, self.data, spec, self._perturb, metric="accuracy",
                            backend=self.backend, workers=self.workers, progress=False)

    def evaluate(self, config: Config) -> Evaluation:
        """Scores of ``config`` (computed once, then cached)."""
        config = self.space.validate(config)
        hit = self.cache.get(config)
        if hit is not None:
            return hit
        t0 = time.perf_counter()
        acc = self._accuracies(config)
        self.eval_s += time.perf_counter() - t0
        ev = Evaluation(config, self.cost.latency_s(config), np.asarray(acc, dtype=np.float64))
        self.cache[config] = ev
        return ev

    def evaluate_many(self, configs: Iterable[Config],
                      progress: Callable[[Evaluation], None] | None = None) -> list[Evaluation]:
        out = []
        for c in configs:
            out.append(self.evaluate(c))
            if progress is not None:
                progress(out[-1])
        return out

    # -- references ----------------------------------------------------------------------
    @property
    def reference(self) -> Evaluation:
        """Uniform INT8 (the baseline every loss and speed-up refers to)."""
        if self._reference is None:
            self._reference = self.evaluate(self.space.uniform(8))
        return self._reference

    @property
    def latency_int8_s(self) -> float:
        return self.cost.latency_s(self.space.uniform(8))

    def loss_pp(self, ev: Evaluation) -> float:
        """Mean accuracy loss vs uniform INT8 in percentage points (positive = worse)."""
        return 100.0 * (self.reference.acc_mean - ev.acc_mean)

    def loss_pp_per_instance(self, ev: Evaluation) -> np.ndarray:
        """Per-instance loss vs INT8 on the same instance (paired), percentage points."""
        return 100.0 * (self.reference.acc - ev.acc)

    def loss_ucb_pp(self, ev: Evaluation, z: float = Z_ONE_SIDED_95) -> float:
        """Upper confidence bound mean + z·σ/√n of the paired per-instance losses (pp): what
        an accuracy budget is checked on (:func:`hil.cim.budget.upper_bound`)."""
        return upper_bound(self.loss_pp_per_instance(ev), z)

    def feasible(self, ev: Evaluation, budget: Budget) -> bool:
        if budget.kind == "accuracy":
            return within_budget(self.loss_pp_per_instance(ev), budget.max_loss_pp, budget.z)
        return ev.latency_s <= budget.max_latency_ratio * self.latency_int8_s * (1 + 1e-12)

    def key(self, ev: Evaluation, budget: Budget) -> tuple:
        """Sort key, smaller is better: feasible first; then the budget's objective
        (latency for an accuracy budget, accuracy for a latency budget), ties broken by the
        other and finally by the configuration (so picks are deterministic)."""
        if budget.kind == "accuracy":
            if self.feasible(ev, budget):
                return (0, ev.latency_s, -ev.acc_mean, ev.config)
            return (1, self.loss_pp(ev), ev.latency_s, ev.config)
        if self.feasible(ev, budget):
            return (0, -ev.acc_mean, ev.latency_s, ev.config)
        return (1, ev.latency_s, -ev.acc_mean, ev.config)

    def best(self, evals: Iterable[Evaluation], budget: Budget) -> Evaluation | None:
        evals = list(evals)
        return min(evals, key=lambda e: self.key(e, budget)) if evals else None
