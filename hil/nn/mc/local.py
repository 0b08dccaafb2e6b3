"""Evaluating instances on this process: the per-instance loop and the vmap scheme.

Both schemes draw instance ``i`` with its own generator seeded from its seed, through the
same ``perturb`` call, so the drawn weights are bit-identical.  They differ only in how the
forward pass is run:

- ``loop``: one ordinary forward per instance with the perturbed tensors swapped into the
  module (``torch.func.functional_call``).  Image batches and 4-D kernels go in as
  ``channels_last`` on the CPU: oneDNN then skips its layout reorders (2-3x faster conv and
  max-pool on the digits CNN), with the same results as a plain model call on the models
  tested here (bit for bit on the digits CNN; `tests/test_mc_engine.py`);
- ``vectorized``: the perturbed tensors of a chunk stacked on a new leading axis and one
  ``torch.func.vmap`` forward per chunk (batched matmul / grouped convolution), chunked to a
  memory budget.  The batched kernels may sum in another order than the plain ones, so
  logits can differ in the last bits (relative ~1e-6 in float32); an argmax, hence an
  accuracy, changes only if two logits of one sample tie within that.

On the CPU the evaluator also makes glibc keep freed memory in the process
(`sim_backends.arrays.base.keep_freed_memory`): each forward allocates and frees MB-sized
activations, which by default are fresh mmaps faulted in again per instance.

Which one is faster depends on the model (`benchmarks/bench_mc.py`, same run, same seeds):
on the digits CNN and the VeRA+ CNN the loop wins (vmap turns each convolution into a
grouped one, which oneDNN runs 1.5-2x slower than a plain channels-last convolution per
instance); on the digits MLP the batched matmuls of vmap win (1.6-1.7x: there is too little
arithmetic per instance to amortise a Python-level forward).  The engine's ``local`` backend
therefore takes :func:`fastest_scheme` for the model (vmap for plain MLPs, the loop for
everything else), and so do the Ray workers.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from hil.nn.mc.metrics import Metric
from hil.nn.mc.spec import InstanceSpec, Perturb, instance_generator

#: default memory budget of one vectorized chunk (activations of all its instances)
VECTOR_BUDGET_BYTES = 256 * 2 ** 20
#: samples per forward call (larger test sets are split, logits concatenated)
DATA_BATCH = 8192


#: modules of a plain MLP, the networks vmap runs faster than the loop (and runs at all:
#: custom autograd functions, e.g. a BNN's sign, have no vmap rule)
_MLP_MODULES = (nn.Sequential, nn.ModuleList, nn.Linear, nn.Flatten, nn.Identity, nn.ReLU,
                nn.Tanh, nn.Sigmoid, nn.GELU, nn.Dropout, nn.BatchNorm1d)


def fastest_scheme(model: nn.Module) -> str:
    """'vectorized' for plain MLPs (only `_MLP_MODULES`), 'loop' for the rest (see above)."""
    plain = all(type(m) in _MLP_MODULES for m in model.modules())
    return "vectorized" if plain else "loop"


class InstanceEvaluator:
    """Model, data, perturbation and metric of one job; evaluates chunks of instances.

    The model is used in eval mode and never modified: perturbed tensors go in through
    ``functional_call``.  ``perturb`` must not modify the ``params`` it is given in place.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, perturb: Perturb,
                 metric: Metric, spec: InstanceSpec, *, data_batch: int = DATA_BATCH) -> None:
        self.model = model.eval()
        first = next(iter(model.parameters()), None)
        self.device = first.device if first is not None else torch.device("cpu")
        self.x, self.y = x.to(self.device), y.to(self.device)
        if self.device.type == "cpu":
            # every forward allocates and frees MB-sized activations: with glibc's default
            # mmap threshold each is a fresh mmap whose pages fault in again (2/3 of the
            # time of a VeRA+ instance was system time); keep freed memory for reuse
            from sim_backends.arrays.base import keep_freed_memory
            keep_freed_memory()
        # oneDNN's native layout for convolutions on the CPU (see module docstring); any
        # 4-D parameter counts (a VeRA+ layer holds its kernel without being an nn.Conv2d)
        self.channels_last = (self.x.dim() == 4 and self.device.type == "cpu"
                              and any(p.dim() == 4 for p in model.parameters()))
        self.x_loop = (self.x.contiguous(memory_format=torch.channels_last)
                       if self.channels_last else self.x)
        self.params = {k: v.detach() for k, v in model.named_parameters()}
        self.perturb, self.metric, self.spec = perturb, metric, spec
        self.data_batch = data_batch
        self._act_bytes: int | None = None

    # -- draws -----------------------------------------------------------------------
    def draw(self, index: int, seed: int) -> dict[str, torch.Tensor]:
        """Perturbed tensors of instance ``index`` (its generator seeded from ``seed``)."""
        gen = instance_generator(seed, self.device)
        return self.perturb(self.params, int(index), gen, self.spec)

    # -- loop ------------------------------------------------------------------------
    def _logits(self, p: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.channels_last:
            p = {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v
                 for k, v in p.items()}
        xs = [self.x_loop[i:i + self.data_batch] for i in range(0, len(self.x), self.data_batch)]
        out = [functional_call(self.model, p, (xb,)) for xb in xs]
        return out[0] if len(out) == 1 else torch.cat(out)

    @torch.no_grad()
    def loop(self, indices: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """Metric of each instance, one forward per instance."""
        return np.array([self.metric(self._logits(self.draw(i, s)), self.y)
                         for i, s in zip(indices, seeds)], dtype=np.float64)

    # -- vectorized ------------------------------------------------------------------
    def activation_bytes(self) -> int:
        """Bytes of all module outputs of one instance on one data batch (a probe forward)."""
        if self._act_bytes is None:
            total = [0]

            def hook(_m: nn.Module, _i: Any, out: Any) -> None:
                if isinstance(out, torch.Tensor):
                    total[0] += out.numel() * out.element_size()

            handles = [m.register_forward_hook(hook) for m in self.model.modules()]
            try:
                with torch.no_grad():
                    self.model(self.x[: self.data_batch])
            finally:
                for h in handles:
                    h.remove()
            self._act_bytes = max(total[0], 1)  # per data batch: vmap runs batch by batch
        return self._act_bytes

    def chunk_for_budget(self, budget_bytes: int = VECTOR_BUDGET_BYTES) -> int:
        """Instances per vmap chunk that keep the activations within ``budget_bytes``."""
        return max(1, budget_bytes // self.activation_bytes())

    @torch.no_grad()
    def vectorized(self, indices: np.ndarray, seeds: np.ndarray,
                   budget_bytes: int = VECTOR_BUDGET_BYTES) -> np.ndarray:
        """Metric of each instance, instances batched with ``torch.func.vmap`` per chunk."""
        from torch.func import vmap

        chunk = self.chunk_for_budget(budget_bytes)
        out = []
        for a in range(0, len(indices), chunk):
            draws = [self.draw(i, s) for i, s in zip(indices[a:a + chunk], seeds[a:a + chunk])]
            stacked = {k: torch.stack([d[k] for d in draws]) for k in draws[0]}
            parts = [vmap(lambda p, xb=xb: functional_call(self.model, p, (xb,)))(stacked)
                     for xb in (self.x[i:i + self.data_batch]
                                for i in range(0, len(self.x), self.data_batch))]
            logits = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
            out.extend(self.metric(lg, self.y) for lg in logits)
        return np.array(out, dtype=np.float64)

    def run(self, scheme: str, indices: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """Evaluate ``indices`` with ``scheme`` ('loop' or 'vectorized')."""
        return self.loop(indices, seeds) if scheme == "loop" else self.vectorized(indices, seeds)
