"""Metrics of one instance: a function of the logits (N, C) and the labels (N,)."""
from __future__ import annotations

from typing import Callable, Union

import torch
import torch.nn.functional as F

from hil.errors import ParameterError

Metric = Callable[[torch.Tensor, torch.Tensor], float]
MetricSpec = Union[str, Metric]


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy as a fraction (0..1): integer count / N, so it is exact."""
    return int((logits.argmax(-1) == y).sum()) / max(len(y), 1)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy (nats)."""
    return float(F.cross_entropy(logits.float(), y))


METRICS: dict[str, Metric] = {"accuracy": accuracy, "cross_entropy": cross_entropy}


def resolve_metric(metric: MetricSpec) -> Metric:
    """A metric function from its name or the function itself."""
    if callable(metric):
        return metric
    try:
        return METRICS[metric]
    except KeyError:
        raise ParameterError(f"metric {metric!r} unknown; allowed: {', '.join(METRICS)} "
                             "or a function (logits, labels) -> float") from None


def metric_name(metric: MetricSpec) -> str:
    """A stable name for journals and reports."""
    if isinstance(metric, str):
        return metric
    return f"{getattr(metric, '__module__', '?')}.{getattr(metric, '__qualname__', repr(metric))}"
