"""Partition solvers on hand-built problems: ILP == exhaustive, greedy's gap, capacities."""
import numpy as np
import pytest

from hil.cim.partition import Problem, solve_exact, solve_exhaustive, solve_greedy
from hil.cim.sensitivity import Item


def problem(cost, drop, options, bits=None, capacity=None):
    cost, drop = np.array(cost, float), np.array(drop, float)
    items = [Item(f"l{i}", f"l{i}.weight", 0, 1, 1.0) for i in range(len(cost))]
    z = np.zeros_like(cost)
    return Problem(items, options, cost, cost, z, z, np.array(bits, float) if bits else z + 1,
                   drop, z, capacity or {}, 1.0)


def test_greedy_gap_is_measured_against_the_exact_optimum():
    # greedy takes B's cheap option first (saving 9 for 0.1 drop), then A's no longer fits:
    # 11 vs the optimum 10 (A cheap, B exact) -> 10 % gap
    p = problem([[10, 0], [10, 1]], [[0, 1.0], [0, 0.1]], [("digital", "fp32"), ("memristor-cim", "int4")])
    ex, gr, en = solve_exact(p, 1.0), solve_greedy(p, 1.0), solve_exhaustive(p, 1.0)
    assert list(ex) == [1, 0] and list(en) == [1, 0] and list(gr) == [0, 1]
    assert p.totals(gr)["cost"] / p.totals(ex)["cost"] - 1 == pytest.approx(0.10)
    assert solve_exact(p, -1.0) is None and solve_greedy(p, -1.0) is None


def test_capacity_constrains_every_solver():
    opts = [("sram-cim", "int4"), ("digital", "int8")]
    # SRAM is cheaper for both items, but holds 100 bits: only one item (80 bits) fits
    p = problem([[1, 5], [2, 6]], [[0, 0], [0, 0]], opts, bits=[[80, 80], [80, 80]],
                capacity={"sram-cim": 100})
    for solve in (solve_exact, solve_exhaustive, solve_greedy):
        ch = solve(p, 0.0)
        assert sum(opts[c][0] == "sram-cim" for c in ch) == 1
    assert p.totals(solve_exact(p, 0.0))["cost"] == 2 + 5   # item 1 on SRAM saves more


def test_budget_upper_bound_is_mean_plus_z_standard_errors():
    from hil.cim.partition import Z_ONE_SIDED_95, upper_bound
    d = np.array([0.0, 0.01, 0.02, 0.03])
    se = d.std(ddof=1) / 2
    assert upper_bound(d) == pytest.approx(d.mean() + Z_ONE_SIDED_95 * se)
    assert upper_bound(d, 0.0) == pytest.approx(d.mean())
    # a mean inside the budget whose bound is not: rejected by the default z
    assert d.mean() <= 0.016 < upper_bound(d)
