"""The one rule by which a measured accuracy loss meets a budget (partition and bit-width search).

Monte-Carlo losses are noisy: a configuration whose mean loss fits only by luck of the drawn
instances must not pass.  The budget is therefore checked on the upper confidence bound of the
mean, mean + z·σ/√n (σ with ddof = 1), default z = the one-sided 95 % normal quantile; with
one instance (no device noise: a deterministic evaluation) it is the value itself; ``z = 0``
checks the mean alone.  :mod:`hil.cim.partition` applies it to the drops of the partitioned
network vs the clean one, :mod:`hil.cim.search.objective` to the paired per-instance losses
vs uniform INT8.
"""
from __future__ import annotations

from numbers import Real

import numpy as np

from hil.errors import ParameterError

#: one-sided 95 % normal quantile: the default z of the budget's upper confidence bound
Z_ONE_SIDED_95 = 1.6449
#: absolute slack of the comparison (float round-off of sums of per-instance losses)
TOLERANCE = 1e-9


def check_z(z: float) -> float:
    """``z`` as a float, or a ParameterError unless it is a finite number >= 0."""
    if not (isinstance(z, Real) and np.isfinite(z) and z >= 0):
        raise ParameterError(f"z={z!r} must be a finite number >= 0 (0 = the mean alone)")
    return float(z)


def upper_bound(loss, z: float = Z_ONE_SIDED_95) -> float:
    """mean + z·σ/√n of Monte-Carlo losses (σ with ddof=1; the mean alone when n = 1)."""
    d = np.asarray(loss, dtype=float).ravel()
    if d.size == 0:
        raise ParameterError("upper_bound needs at least one Monte-Carlo loss")
    if d.size < 2:
        return float(d.mean())
    return float(d.mean() + check_z(z) * d.std(ddof=1) / np.sqrt(d.size))


def within_budget(loss, budget: float, z: float = Z_ONE_SIDED_95) -> bool:
    """True when :func:`upper_bound` of ``loss`` is at most ``budget`` (same units)."""
    return upper_bound(loss, z) <= budget + TOLERANCE
