"""The `hil cim partition` pipeline: measure the problem, solve (exact and greedy), measure
the chosen partition and the single-unit baselines on the MC engine, report, plot, save."""
from __future__ import annotations

import argparse

import numpy as np

from hil.cim.activations import ACT_SCHEME
from hil.cim.budget import Z_ONE_SIDED_95
from hil.cim.partition import (Problem, build_problem, measure, partition, restrict, solve_exact,
                               solve_greedy)
from hil.errors import ParameterError


def greedy_gap(p: Problem, budget: float) -> dict[str, float]:
    """Cost of the greedy and the exact solution at ``budget`` (predicted drops) and the gap."""
    ex, gr = solve_exact(p, budget), solve_greedy(p, budget)
    if ex is None or gr is None:
        return {"exact": float("nan"), "greedy": float("nan"), "gap": float("nan")}
    ce, cg = p.totals(ex)["cost"], p.totals(gr)["cost"]
    return {"exact": ce, "greedy": cg, "gap": cg / ce - 1 if ce > 0 else 0.0}


def pareto_front(model, data, p: Problem, error_model, budgets, *, n: int):
    """(energy, predicted drop, measured drop) of the exact solution at each budget."""
    front, seen = [], set()
    for b in budgets:
        ch = solve_exact(p, b)
        if ch is None or tuple(ch) in seen:
            continue
        seen.add(tuple(ch))
        t = p.totals(ch)
        front.append((t["energy_J"], t["predicted_drop"],
                      float(measure(model, data, p, ch, error_model, n=n).mean())))
    return front


def describe(p: Problem, choice: np.ndarray) -> list[str]:
    return [f"{it.name}: {p.options[c][0]} {p.options[c][1]}" for it, c in zip(p.items, choice)]


def run_partition(args: argparse.Namespace) -> int:
    from hil.cim.plots import plot_pareto
    from hil.cim.report import write_analysis
    from hil.commands.cim import _error_model, _load, _paths, _shapes, _units, parse_budget, parse_capacity

    budget = parse_budget(args.budget)
    if args.n < 2:
        raise ParameterError(f"--n {args.n}: need at least 2 Monte-Carlo instances")
    units = _units(args.units)
    model, data, desc, calib_x = _load(args.model, args.seed)
    em = _error_model(args)
    shapes = _shapes(args.model, model)
    p = build_problem(model, data, shapes, units, em, groups=args.groups, n=args.n,
                      objective=args.objective, inferences_per_load=args.inferences_per_load,
                      capacity_bits=parse_capacity(args.capacity), progress=not args.no_progress,
                      calib_x=calib_x, quantize_inputs=not getattr(args, "weights_only", False))
    gap = greedy_gap(p, budget)
    z = getattr(args, "z", None)
    z = Z_ONE_SIDED_95 if z is None else z
    best = partition(model, data, p, budget, em, solver=args.solver, n=args.n, z=z)
    base = {}
    for kind in ("sram-cim", "digital"):
        if any(o[0] == kind for o in p.options):
            q = restrict(p, kind)
            try:
                r = partition(model, data, q, budget, em, n=args.n, z=z)
                base[f"all-{kind}"] = (r.totals["energy_J"], r.measured_mean)
            except ParameterError:
                base[f"all-{kind}"] = (float("nan"), float("nan"))
    budgets = sorted({0.0, budget / 4, budget / 2, budget, 2 * budget, 4 * budget})
    front = pareto_front(model, data, p, em, budgets, n=args.n)
    t = best.totals
    print(f"clean accuracy {100 * p.baseline:.2f} %; budget {100 * budget:.3f} pp; "
          f"error model: {em.source}")
    print("number formats: " + ("weights only" if p.act_ranges is None else
                                "weights and layer inputs (" + ACT_SCHEME + ")"))
    print(f"partition ({best.solver}, predicted budget {100 * best.predicted_budget:.3f} pp, "
          f"{best.rounds} round(s)):")
    for line in describe(p, best.choice):
        print(f"  {line}")
    print(f"energy {t['energy_J'] * 1e9:.4f} nJ, latency {t['latency_s'] * 1e6:.3f} µs, "
          f"area {t['area_mm2']:.5f} mm²; predicted drop {100 * t['predicted_drop']:.3f} pp; "
          f"measured drop {100 * best.measured_mean:.3f} ± {100 * best.measured_drop.std(ddof=1):.3f} pp "
          f"(MC n={args.n}; upper bound z={best.z:g}: {100 * best.measured_ucb:.3f} pp, checked "
          f"against the budget)")
    for name, (e, d) in base.items():
        saved = 1 - t["energy_J"] / e if e == e and e > 0 else float("nan")
        print(f"vs {name} at the budget: {e * 1e9:.4f} nJ (measured drop {100 * d:.3f} pp): "
              f"energy saved {100 * saved:.1f} %")
    print(f"greedy vs exact ({args.objective}, predicted): {gap['greedy']:.4g} vs "
          f"{gap['exact']:.4g}, gap {100 * gap['gap']:.2f} %")
    out, png = _paths(args, "partition")
    results = {
        "item": ([it.name for it in p.items], ""),
        "option": ([f"{k}:{f}" for k, f in p.options], ""),
        "choice": (best.choice, "option index"),
        "energy_table_J": (p.energy_J, "J"), "latency_table_s": (p.latency_s, "s"),
        "drop_table": (p.drop, "fraction"),
        "measured_drop": (best.measured_drop, "fraction"),
        "measured_drop_mean": (best.measured_mean, "fraction"),
        "measured_drop_ucb": (best.measured_ucb, "fraction", {"z": best.z}),
        "totals_energy_J": (t["energy_J"], "J"), "totals_latency_s": (t["latency_s"], "s"),
        "totals_area_mm2": (t["area_mm2"], "mm2"),
        "greedy_gap": (gap["gap"], "fraction", {k: v for k, v in gap.items()}),
        "pareto": (np.array(front) if front else np.zeros((0, 3)), "J,fraction,fraction"),
        "clean_accuracy": (p.baseline, "fraction"),
    }
    for name, (e, d) in base.items():
        results[f"baseline/{name}_energy_J"] = (e, "J", {"measured_drop": d})
    write_analysis(out, "partition", {"model": args.model, "budget": budget, "n": args.n,
                                      "groups": args.groups, "objective": args.objective,
                                      "solver": args.solver, "error_model": em.describe(),
                                      "activations": ("weights only" if getattr(args, "weights_only", False)
                                                      else ACT_SCHEME),
                                      "inferences_per_load": args.inferences_per_load, **desc},
                   results, inputs=[args.from_run] + ([args.fit] if args.fit else []),
                   units=list(units.values()), overwrite=args.overwrite)
    plot_pareto(front, (t["energy_J"], best.measured_mean), base, budget, png)
    print(f"result file: {out}\nplot: {png}")
    return 0
