"""Ray backend: chunks of instances as tasks on actors that hold the model and data.

`pip install "hil-aimc[ray]"`.  The driver (the process calling :func:`hil.nn.mc.evaluate`)
connects to ``cluster`` ('auto', 'ray://HOST:PORT', any address ``ray.init`` takes), else to
``RAY_ADDRESS``, else starts a local Ray instance; a session already initialised by the caller
is used as is.  A pool of ``workers`` actors is kept for the life of the driver, each with
``torch.set_num_threads`` set to its CPU share (no oversubscription).  Per job the model and
the perturbation go to the object store once (``ray.put``) and each actor loads them once;
the data set is loaded once per actor for all jobs that use it.  A task then carries only
(job key, instance indices, seeds) and returns the chunk's metrics; the driver alone writes
the journal / result file.  Inside a worker a chunk runs the ``local`` backend's scheme, so
the numbers are those of the ``local`` backend, bit for bit.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from hil.errors import ParameterError

#: tasks in flight per actor (one running, one queued: hides the round trip)
IN_FLIGHT = 2
#: evaluators an actor keeps (jobs it can serve without reloading)
ACTOR_JOBS = 4


def _ray():
    try:
        import ray
    except ImportError:
        raise ParameterError('the Ray backend needs Ray: pip install "hil-aimc[ray]"') from None
    return ray


def connect(cluster: str | None = None) -> None:
    """Join ``cluster`` / RAY_ADDRESS, or start a local Ray instance (once per process)."""
    ray = _ray()
    if ray.is_initialized():
        return
    address = cluster or os.environ.get("RAY_ADDRESS") or None
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ParameterError(f"cannot connect to Ray cluster {address!r}: {exc}") from None


class _Worker:
    """Actor body: holds data sets and job evaluators, evaluates chunks."""

    def __init__(self, threads: int) -> None:
        torch.set_num_threads(threads)
        self.threads = threads
        self.data: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.jobs: dict[str, Any] = {}

    def load_data(self, data_key: str, xy: tuple[torch.Tensor, torch.Tensor]) -> None:
        self.data = {data_key: xy}  # one data set at a time is plenty
        self.jobs = {}

    def load_job(self, job_key: str, data_key: str, payload: bytes) -> None:
        from hil.nn.mc.local import InstanceEvaluator

        model, perturb, metric, spec = pickle.loads(payload)
        x, y = self.data[data_key]
        if len(self.jobs) >= ACTOR_JOBS:
            self.jobs.pop(next(iter(self.jobs)))
        self.jobs[job_key] = InstanceEvaluator(model, x, y, perturb, metric, spec)

    def run(self, job_key: str, indices: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from hil.nn.mc.local import fastest_scheme

        ev = self.jobs[job_key]
        return indices, ev.run(fastest_scheme(ev.model), indices, seeds)

    def threads_used(self) -> int:
        return torch.get_num_threads()


@dataclass
class RayStats:
    """What the last :func:`run_chunks` shipped (for the benchmark's scaling argument)."""

    workers: int = 0
    tasks: int = 0
    task_arg_bytes: list[int] = field(default_factory=list)
    job_bytes: int = 0
    data_bytes: int = 0


_POOL: dict[tuple, list] = {}
_LOADED: dict[int, dict] = {}   # id(actor) -> {"data": key, "jobs": [keys]} (driver side)
LAST = RayStats()


def _pool(workers: int | None) -> list:
    ray = _ray()
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    n = workers or max(1, int(cpus))
    share = cpus / n
    threads = max(1, int(share))
    key = (ray.get_runtime_context().get_job_id(), n)
    if key not in _POOL:
        cls = ray.remote(_Worker)
        _POOL[key] = [cls.options(num_cpus=min(float(threads), share)).remote(threads)
                      for _ in range(n)]
    return _POOL[key]


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.hexdigest()[:32]


def shutdown_pool() -> None:
    """Drop the actors of this driver (they die with the driver anyway)."""
    ray = _ray()
    for actors in _POOL.values():
        for a in actors:
            ray.kill(a)
    _POOL.clear()
    _LOADED.clear()


def run_chunks(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, perturb: Any,
               metric: Callable, spec: Any, todo: np.ndarray, seeds: np.ndarray,
               finished: Callable[[np.ndarray, np.ndarray], None], *, workers: int | None = None,
               chunk: int | None = None, cluster: str | None = None) -> None:
    """Evaluate instances ``todo`` on the Ray pool, calling ``finished(idx, values)`` in the
    driver for every chunk as it completes (any order)."""
    from hil.nn.mc.engine import RAY_CHUNKS_PER_WORKER

    ray = _ray()
    connect(cluster)
    actors = _pool(workers)
    try:
        # cloudpickle: functions of a script's __main__ travel by value
        payload = ray.cloudpickle.dumps((model, perturb, metric, spec), protocol=4)
    except Exception as exc:  # noqa: BLE001 - lambdas, open files, ...
        raise ParameterError("the Ray backend ships the model, perturbation and metric to "
                             f"its workers, and one of them cannot be pickled ({exc}); use "
                             "module-level functions or functools.partial") from None
    xb = x.detach().cpu().contiguous()
    yb = y.detach().cpu().contiguous()
    data_key = _digest(xb.view(torch.uint8).numpy().tobytes(), yb.view(torch.uint8).numpy().tobytes(),
                       str((tuple(xb.shape), xb.dtype, tuple(yb.shape), yb.dtype)).encode())
    job_key = _digest(payload, data_key.encode())
    global LAST
    LAST = RayStats(workers=len(actors), job_bytes=len(payload),
                    data_bytes=xb.numel() * xb.element_size() + yb.numel() * yb.element_size())
    # everything an actor needs, once: data (per data set) and job (per model/perturbation);
    # the driver mirrors each actor's holdings (same eviction rule as _Worker.load_job)
    job_ref = data_ref = None
    loads = []
    for a in actors:
        have = _LOADED.setdefault(id(a), {"data": None, "jobs": []})
        if have["data"] != data_key:
            if data_ref is None:
                data_ref = ray.put((xb, yb))
            loads.append(a.load_data.remote(data_key, data_ref))
            have["data"], have["jobs"] = data_key, []
        if job_key not in have["jobs"]:
            if job_ref is None:
                job_ref = ray.put(payload)
            loads.append(a.load_job.remote(job_key, data_key, job_ref))
            if len(have["jobs"]) >= ACTOR_JOBS:
                have["jobs"].pop(0)
            have["jobs"].append(job_key)
    ray.get(loads)
    size = chunk or max(1, -(-len(todo) // (len(actors) * RAY_CHUNKS_PER_WORKER)))
    pieces = [todo[i:i + size] for i in range(0, len(todo), size)]
    queue = list(range(len(pieces)))[::-1]
    running: dict[Any, Any] = {}

    def submit(actor) -> None:
        k = queue.pop()
        idx = pieces[k]
        args = (job_key, idx, seeds[idx])
        LAST.task_arg_bytes.append(len(pickle.dumps(args, protocol=4)))
        LAST.tasks += 1
        running[actor.run.remote(*args)] = actor

    for a in actors:
        for _ in range(IN_FLIGHT):
            if queue:
                submit(a)
    while running:
        done, _ = ray.wait(list(running), num_returns=1)
        actor = running.pop(done[0])
        idx, vals = ray.get(done[0])
        finished(np.asarray(idx), np.asarray(vals))
        if queue:
            submit(actor)
