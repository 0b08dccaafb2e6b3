"""Pareto front of (latency, accuracy): configurations no other one beats on both."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def pareto_front(latency: Sequence[float], accuracy: Sequence[float]) -> np.ndarray:
    """Indices of the non-dominated points (lower latency and higher accuracy are better),
    sorted by increasing latency.  A point is dominated when another is no worse on both and
    strictly better on one; of exact duplicates the first index is kept."""
    lat = np.asarray(latency, dtype=np.float64)
    acc = np.asarray(accuracy, dtype=np.float64)
    if lat.shape != acc.shape or lat.ndim != 1:
        raise ValueError(f"latency {lat.shape} and accuracy {acc.shape} must be equal 1-d shapes")
    # sort by latency ascending, then accuracy descending, then index (stable)
    order = np.lexsort((np.arange(len(lat)), -acc, lat))
    front, best_acc = [], -np.inf
    for i in order:
        if acc[i] > best_acc:
            front.append(int(i))
            best_acc = acc[i]
    return np.array(front, dtype=np.int64)
