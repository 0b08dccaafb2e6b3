"""Continual learning with metaplastic MTT BNNs (MTT §2.4, Fig. 6-7; Laborieux et al.).

A task sequence is trained one task after the other; after each task the accuracy on every
task is measured, giving the matrix ``acc[i, j]`` = accuracy on task j after training task i.
Catastrophic forgetting shows as acc[-1, 0] << acc[0, 0] without metaplasticity (m = 0);
with it (m > 0) the early tasks keep most of their accuracy.

Task builders work on arrays the caller loaded (`hil.nn.datasets`: scikit-learn digits or
MNIST-family idx files); nothing is downloaded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from hil.errors import ParameterError
from hil.nn.bnn import BNN, ProgrammingNoise
from hil.nn.bnn_train import evaluate, make_optimizer, train_epoch


@dataclass
class Task:
    """One task: float inputs (n, features) and integer labels."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def n_classes(self) -> int:
        """Number of classes (labels are 0..n-1)."""
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def _t(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.as_tensor(np.asarray(x, dtype=np.float32).reshape(len(x), -1)),
            torch.as_tensor(np.asarray(y, dtype=np.int64)))


def standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale to zero mean / unit std per feature using the training statistics (features
    constant in training are only centred)."""
    x_train = np.asarray(x_train, dtype=np.float32).reshape(len(x_train), -1)
    x_test = np.asarray(x_test, dtype=np.float32).reshape(len(x_test), -1)
    mu, sd = x_train.mean(0), x_train.std(0)
    sd = np.where(sd > 1e-3 * max(float(sd.max()), 1e-12), sd, 1.0)  # constant features
    return (x_train - mu) / sd, (x_test - mu) / sd


def permuted_tasks(x_train, y_train, x_test, y_test, n_tasks: int, seed: int = 0
                   ) -> list[Task]:
    """Task 0 is the data set itself; task k > 0 applies one fixed random pixel permutation."""
    if n_tasks < 1:
        raise ParameterError(f"n_tasks={n_tasks!r}: must be >= 1")
    xtr, xte = standardize(x_train, x_test)
    rng = np.random.default_rng(seed)
    tasks = []
    for k in range(n_tasks):
        perm = np.arange(xtr.shape[1]) if k == 0 else rng.permutation(xtr.shape[1])
        a, b = _t(xtr[:, perm], y_train)
        c, d = _t(xte[:, perm], y_test)
        tasks.append(Task(f"perm{k}", a, b, c, d))
    return tasks


def split_tasks(x_train, y_train, x_test, y_test,
                groups: Sequence[Sequence[int]] = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))
                ) -> list[Task]:
    """Domain-incremental split: task k holds the classes of ``groups[k]``, relabelled to
    their index in the group (so every task shares the same output units)."""
    xtr, xte = standardize(x_train, x_test)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    tasks = []
    for g in groups:
        g = list(g)
        if len(g) < 2:
            raise ParameterError(f"split group {g!r}: needs >= 2 classes")
        sel_tr, sel_te = np.isin(y_train, g), np.isin(y_test, g)
        if not sel_tr.any() or not sel_te.any():
            raise ParameterError(f"split group {g!r}: no samples of these classes")
        relabel = {c: i for i, c in enumerate(g)}
        a, b = _t(xtr[sel_tr], [relabel[c] for c in y_train[sel_tr]])
        c, d = _t(xte[sel_te], [relabel[c] for c in y_test[sel_te]])
        tasks.append(Task("split" + "".join(map(str, g)), a, b, c, d))
    return tasks


def dataset_tasks(datasets: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
                  ) -> list[Task]:
    """Tasks from separate data sets of equal image size (e.g. KMNIST, FMNIST, MNIST,
    Kannada-MNIST idx files, MTT Fig. 7a): each (name, x_train, y_train, x_test, y_test)."""
    tasks = []
    width = None
    for name, xtr, ytr, xte, yte in datasets:
        xtr, xte = standardize(xtr, xte)
        if width is not None and xtr.shape[1] != width:
            raise ParameterError(f"task {name!r} has {xtr.shape[1]} features; the first task "
                                 f"has {width} (all tasks must share the input size)")
        width = xtr.shape[1]
        a, b = _t(xtr, ytr)
        c, d = _t(xte, yte)
        tasks.append(Task(name, a, b, c, d))
    return tasks


@dataclass
class ContinualResult:
    """``acc[i, j]``: test accuracy on task j after training task i (0..1)."""

    task_names: list[str]
    acc: np.ndarray
    m: float
    config: dict = field(default_factory=dict)
    model: BNN | None = field(default=None, repr=False)   # the trained network

    @property
    def final(self) -> np.ndarray:
        """Accuracy on every task after the whole sequence."""
        return self.acc[-1]

    @property
    def mean_final(self) -> float:
        """Mean final accuracy over all tasks."""
        return float(self.acc[-1].mean())


def run_continual(tasks: Sequence[Task], hidden: Sequence[int] = (256,), m: float = 12.0,
                  epochs: int = 5, lr: float = 0.005, transfer_fn: str = "ecram",
                  bits: int | None = 3, noise: ProgrammingNoise = ProgrammingNoise(),
                  batch_size: int = 64, seed: int = 0, progress: Any = None) -> ContinualResult:
    """Train ``tasks`` in sequence on one BNN; return the accuracy matrix.

    ``progress``: a bar (tqdm-like ``update(n)``) advanced by one per epoch of each task."""
    if not tasks:
        raise ParameterError("run_continual: no tasks")
    if epochs < 1:
        raise ParameterError(f"epochs={epochs!r}: must be >= 1")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    n_out = max(t.n_classes for t in tasks)
    sizes = [tasks[0].x_train.shape[1], *hidden, n_out]
    model = BNN(sizes, transfer_fn, bits=bits)
    model.program(noise, gen, force=True)
    opt = make_optimizer(model, lr=lr, m=m)
    acc = np.zeros((len(tasks), len(tasks)))
    for i, task in enumerate(tasks):
        for _ in range(epochs):
            train_epoch(model, opt, task.x_train, task.y_train, batch_size, noise, gen)
            if progress is not None:
                progress.update(1)
        acc[i] = [evaluate(model, t.x_test, t.y_test) for t in tasks]
    config = dict(hidden=list(hidden), epochs=epochs, lr=lr, transfer=transfer_fn, bits=bits,
                  noise_level=noise.level, noise_mode=noise.mode,
                  noise_in_situ=noise.in_situ, batch_size=batch_size,
                  seed=seed, sizes=sizes)
    return ContinualResult([t.name for t in tasks], acc, m, config, model)


def noise_sweep(tasks: Sequence[Task], levels: Sequence[float], m: float = 12.0,
                mode: str = "relative", in_situ: bool = False, **kwargs
                ) -> dict[float, ContinualResult]:
    """`run_continual` at each programming-noise level (MTT Fig. 7d)."""
    return {float(lv): run_continual(tasks, m=m, noise=ProgrammingNoise(float(lv), mode,
                                                                          in_situ=in_situ),
                                     **kwargs)
            for lv in levels}
