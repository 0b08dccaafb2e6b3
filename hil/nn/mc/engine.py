"""`evaluate`: the one entry point of the Monte-Carlo engine."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hil.errors import ParameterError
from hil.nn.mc.choices import BACKENDS, DEFAULT_BACKEND
from hil.nn.mc.journal import Journal, job_key
from hil.nn.mc.local import InstanceEvaluator, fastest_scheme
from hil.nn.mc.metrics import MetricSpec, metric_name, resolve_metric
from hil.nn.mc.progress import Progress
from hil.nn.mc.spec import InstanceSpec, Perturb, chunk_ranges

#: instances per chunk on this process (journal and progress granularity)
LOCAL_CHUNK = 50
#: chunks handed to each Ray worker over a job (load balance vs per-task overhead)
RAY_CHUNKS_PER_WORKER = 4


def _check(data: Any, spec: InstanceSpec, backend: str) -> tuple[torch.Tensor, torch.Tensor]:
    if backend not in BACKENDS:
        raise ParameterError(f"Monte-Carlo backend {backend!r} unknown; allowed: {', '.join(BACKENDS)}")
    if not isinstance(spec, InstanceSpec):
        raise ParameterError(f"instances must be an InstanceSpec, got {type(spec).__name__}")
    try:
        x, y = data
    except (TypeError, ValueError):
        raise ParameterError("data must be a pair (inputs, labels) of tensors") from None
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if len(x) != len(y) or len(x) == 0:
        raise ParameterError(f"data: {len(x)} inputs and {len(y)} labels; need the same "
                             "number, at least one")
    return x, y


def evaluate(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], spec: InstanceSpec,
             perturb: Perturb, *, metric: MetricSpec = "accuracy",
             backend: str = DEFAULT_BACKEND, workers: int | None = None,
             progress: bool | Progress = True, journal: str | Path | Journal | None = None,
             chunk: int | None = None, cluster: str | None = None) -> np.ndarray:
    """Metric of every instance of ``spec``: array (n,), float64, in instance order.

    Instance ``i`` is ``model`` with the tensors ``perturb(params, i, gen, spec)`` swapped
    in, ``gen`` seeded from ``spec.seeds()[i]``; its metric is computed on ``data`` = (x, y).
    Backends: ``local`` (the default: the fastest scheme measured for the model kind on one
    machine, :func:`hil.nn.mc.local.fastest_scheme`: vmap for plain MLPs, a per-instance
    loop for everything else, e.g. CNNs), ``vectorized`` (vmap over chunks of instances), ``ray``
    (chunks as tasks on a Ray cluster: ``cluster`` = 'auto', 'ray://HOST:PORT', or
    RAY_ADDRESS, else a local one; ``workers`` actors; each chunk runs the ``local``
    scheme in a worker).  All give the same draws; see
    :mod:`hil.nn.mc.local` for the float tolerance of ``vectorized``.

    ``journal`` (a path or :class:`Journal`): finished chunks are recorded there by this
    process, and a rerun of the same job reads them back instead of recomputing.
    ``progress``: a bar (True), none (False), or a :class:`Progress` shared across calls.
    """
    x, y = _check(data, spec, backend)
    if workers is not None and workers < 1:
        raise ParameterError(f"workers={workers!r} must be >= 1")
    if chunk is not None and chunk < 1:
        raise ParameterError(f"chunk={chunk!r} must be >= 1")
    fn = resolve_metric(metric)
    seeds = spec.seeds()
    values = np.full(spec.n, np.nan)
    todo = np.arange(spec.n)
    jr = Journal(journal) if isinstance(journal, (str, Path)) else journal
    key = None
    if jr is not None:
        key = job_key(model, x, y, perturb, spec, metric_name(metric))
        stored, done = jr.start(key, spec, metric_name(metric))
        values[done] = stored[done]
        todo = np.flatnonzero(~done)
    own = not isinstance(progress, Progress)
    prog = progress if isinstance(progress, Progress) else Progress(enabled=bool(progress))
    prog.begin(spec.n, backend)
    prog.skip(spec.n - len(todo))

    def finished(idx: np.ndarray, vals: np.ndarray) -> None:
        values[idx] = vals
        if jr is not None:
            jr.record(key, idx, vals, backend)
        prog.advance(len(idx))

    try:
        if len(todo) and backend == "ray":
            from hil.nn.mc.ray_backend import run_chunks
            run_chunks(model, x, y, perturb, fn, spec, todo, seeds, finished, workers=workers,
                       chunk=chunk, cluster=cluster)
        elif len(todo):
            ev = InstanceEvaluator(model, x, y, perturb, fn, spec)
            scheme = fastest_scheme(model) if backend == "local" else "vectorized"
            for idx in chunk_ranges(todo, chunk or LOCAL_CHUNK):
                finished(idx, ev.run(scheme, idx, seeds[idx]))
    finally:
        prog.end()
        if own:
            prog.close()
    return values
