"""`hil cim search MODEL`: per-layer bit-width search under the crossbar cost model.

``register(cim_subparsers)`` is called by ``hil/commands/cim.py`` (the ``hil cim`` group).
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from hil.errors import ParameterError

DEFAULT_UNIT = "rram_imc_22nm"


def _shape(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    try:
        r, c = (int(p) for p in parts)
    except ValueError:
        raise ParameterError(f"--crossbar {text!r}: expected ROWSxCOLS, e.g. 32x32") from None
    if r < 1 or c < 1:
        raise ParameterError(f"--crossbar {text!r}: rows and cols must be >= 1")
    return r, c


def register(cim_subparsers: argparse._SubParsersAction) -> None:
    """Add ``search`` to the ``hil cim`` sub-commands."""
    p = cim_subparsers.add_parser(
        "search", help="per-layer weight/input bit-width search (RL, HAWQ, greedy, exhaustive)",
        description="Search per-layer weight and input bit widths of MODEL for the crossbar "
                    "cost model (RLMP latency, first/last layer pinned to 8 bits) under an "
                    "accuracy-loss or latency budget; accuracy is measured over device-noise "
                    "instances (device error model) after PTQ or a short QAT fine-tune, and an "
                    "accuracy budget is checked on the losses' upper confidence bound (--z). "
                    "Writes an HDF5 result, a Pareto-front plot and prints the comparison table.")
    p.add_argument("model", help="digits-mlp5 (default search network), digits-mlp, digits-cnn, "
                   "a hil model checkpoint (.pt), or with --cost-only: resnet20, mobilenet_v2")
    p.add_argument("--searcher", default="all",
                   help="comma-separated: rl, hawq, greedy, exhaustive, int8, int4, or all "
                   "(default all; int8 always runs as the reference)")
    p.add_argument("--budget", type=float, metavar="PP",
                   help="accuracy-loss budget vs uniform INT8 in percentage points (default 1.0)")
    p.add_argument("--z", type=float, default=None,
                   help="accuracy budget checked on mean + z·σ/√n of the per-instance losses "
                        "(default: one-sided 95 %%, hil.cim.budget.Z_ONE_SIDED_95; 0 = the mean)")
    p.add_argument("--latency-budget", type=float, metavar="RATIO",
                   help="latency budget as a fraction of the INT8 latency (instead of --budget)")
    p.add_argument("--w-bits", default="2,4,6,8", help="weight widths of free layers (default 2,4,6,8)")
    p.add_argument("--a-bits", default="2,4,6,8", help="input widths of free layers (default 2,4,6,8)")
    p.add_argument("--no-pin", action="store_true", help="do not pin the first and last layer to 8 bits")
    p.add_argument("--unit", default=DEFAULT_UNIT, help=f"CIM unit card name or TOML path (default {DEFAULT_UNIT})")
    p.add_argument("--crossbar", metavar="RxC", help="override the card's crossbar size (small networks)")
    p.add_argument("--latency", default="rlmp", choices=("rlmp", "compute"),
                   help="rlmp: writes·t_w + executes·t_x (default); compute: executes·t_x only "
                   "(weights resident)")
    p.add_argument("--mode", default="ptq", choices=("ptq", "qat"), help="PTQ (default) or short QAT per configuration")
    p.add_argument("--qat-epochs", type=int, default=2, help="QAT epochs per configuration (default 2)")
    p.add_argument("--instances", type=int, default=8, help="device-noise instances per configuration (default 8)")
    p.add_argument("--error-from", metavar="RUN", help="write_verify run file: measured programming errors")
    p.add_argument("--prog-sigma", type=float, default=0.02,
                   help="parametric relative programming error when no --error-from (default 0.02; 0 = none)")
    p.add_argument("--read-sigma", type=float, default=None, help="relative read noise")
    p.add_argument("--drift-fit", metavar="RUN", help="retention run with `hil fit` drift statistics")
    p.add_argument("--drift-time", default=None, help="drift time after programming, e.g. 1d (needs --drift-fit)")
    p.add_argument("--eval-size", type=int, help="test samples used (default all 360 digits test images)")
    p.add_argument("--episodes", type=int, default=300, help="RL episodes (default 300)")
    p.add_argument("--ilp-points", type=int, default=24, help="HAWQ latency limits swept (default 24)")
    p.add_argument("--seed", type=int, default=0, help="seed of training, noise instances and agents (default 0)")
    p.add_argument("--backend", default="local", choices=("local", "vectorized", "ray"),
                   help="Monte-Carlo engine backend (default local, the fastest measured here)")
    p.add_argument("--workers", type=int, help="Ray workers")
    p.add_argument("--cost-only", action="store_true", help="print per-layer latency at each width (no data needed)")
    p.add_argument("--out", "-o", metavar="F", help="result file (default search-MODEL.h5)")
    p.add_argument("--plot", metavar="PNG", help="Pareto-front plot (default beside --out)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=main)


def _error_model(args: argparse.Namespace):
    from hil.cim.error_model import ErrorModel

    kw = {} if args.read_sigma is None else {"read_sigma_rel": args.read_sigma}
    if args.error_from:
        em = ErrorModel.from_write_verify(args.error_from, **kw)
    elif args.prog_sigma > 0 or kw:
        if args.prog_sigma < 0:
            raise ParameterError(f"--prog-sigma {args.prog_sigma}: must be >= 0")
        em = ErrorModel.parametric(args.prog_sigma, **kw)
    else:
        em = None
    if args.drift_fit:
        if em is None:
            raise ParameterError("--drift-fit needs a programming error model (--error-from or --prog-sigma > 0)")
        if not args.drift_time:
            raise ParameterError("--drift-fit needs --drift-time (e.g. 1d)")
        from hil.commands.vera import parse_time
        em = em.with_drift(args.drift_fit, parse_time(args.drift_time))
    elif args.drift_time:
        raise ParameterError("--drift-time needs --drift-fit (a retention run with drift fits)")
    return em


def _cost_only(args, unit) -> int:
    from hil.cim.search.cost import CostModel
    from hil.cim.search.problem import cost_only_layers
    from hil.cim.search.space import SearchSpace, parse_bits

    layers = cost_only_layers(args.model)
    space = SearchSpace.build(layers, parse_bits(args.w_bits, "--w-bits"),
                              parse_bits(args.a_bits, "--a-bits"), not args.no_pin)
    cost = CostModel(space, unit, latency=args.latency)
    lat8 = cost.latency_s(space.uniform(8))
    lo = space.assemble([(space.w_bits[0], space.a_bits[0])] * len(space.free))
    print(f"{args.model}: {len(layers)} layers, {len(space.free)} free, unit {unit.name} "
          f"({unit.rows}x{unit.cols}, {unit.cell_bits} bit/cell), latency model {args.latency}")
    print(f"uniform INT8 {lat8 * 1e3:.3f} ms; INT4 {cost.latency_s(space.uniform(4)) * 1e3:.3f} ms "
          f"({lat8 / cost.latency_s(space.uniform(4)):.2f}x); all free layers at "
          f"{space.w_bits[0]}/{space.a_bits[0]}: {cost.latency_s(lo) * 1e3:.3f} ms "
          f"({lat8 / cost.latency_s(lo):.2f}x, the upper bound of any search)")
    print("accuracy needs the data set (CIFAR/ImageNet), which this offline framework does not "
          "have: no accuracy search on this network.")
    return 0


def main(args: argparse.Namespace) -> int:
    import torch

    from hil.cim.search.compare import format_table, parse_searchers, run_searchers, table_rows
    from hil.cim.search.objective import Budget
    from hil.cim.search.problem import build_problem, with_crossbar
    from hil.cim.search.report import plot_front, write_result
    from hil.cim.search.space import parse_bits
    from hil.cim.units import load_unit

    unit = load_unit(args.unit)
    if args.crossbar:
        unit = with_crossbar(unit, *_shape(args.crossbar))
    if args.cost_only:
        return _cost_only(args, unit)
    if args.budget is not None and args.latency_budget is not None:
        raise ParameterError("give --budget or --latency-budget, not both")
    budget = (Budget(max_latency_ratio=args.latency_budget) if args.latency_budget is not None
              else Budget(max_loss_pp=1.0 if args.budget is None else args.budget,
                          **({} if getattr(args, "z", None) is None else {"z": args.z})))
    names = parse_searchers(args.searcher)
    if "int8" not in names:
        names = ["int8"] + names
    for what, v, lo in (("--instances", args.instances, 1), ("--episodes", args.episodes, 1),
                        ("--ilp-points", args.ilp_points, 2), ("--qat-epochs", args.qat_epochs, 1),
                        ("--eval-size", 1 if args.eval_size is None else args.eval_size, 1)):
        if v < lo:
            raise ParameterError(f"{what} {v}: must be >= {lo}")
    out = Path(args.out or f"search-{Path(args.model).stem}.h5")
    png = Path(args.plot) if args.plot else out.with_suffix(".png")
    for path in (out, png):
        if path.exists() and not args.overwrite:
            raise ParameterError(f"output file {str(path)!r} exists; choose another path or "
                                 "pass --overwrite")
    t0 = time.perf_counter()
    problem = build_problem(args.model, unit, w_bits=parse_bits(args.w_bits, "--w-bits"),
                            a_bits=parse_bits(args.a_bits, "--a-bits"), pin_ends=not args.no_pin,
                            error_model=_error_model(args), n_instances=args.instances,
                            seed=args.seed, mode=args.mode, eval_size=args.eval_size,
                            qat_epochs=args.qat_epochs, latency=args.latency,
                            backend=args.backend, workers=args.workers)
    sp = problem.space
    print(f"{args.model}: {len(sp.layers)} quantized layers, {len(sp.free)} free x "
          f"{len(sp.choices)} choices = {sp.size} configurations; unit {unit.name} "
          f"{unit.rows}x{unit.cols}; {problem.mode.upper()}, "
          f"{problem.n_instances if problem.error_model is not None else 1} device-noise "
          f"instances; budget {budget.describe()}", file=sys.stderr)
    with torch.random.fork_rng(devices=[]):
        results, objectives = run_searchers(problem, budget, names, seed=args.seed,
                                            progress=not args.no_progress,
                                            episodes=args.episodes, points=args.ilp_points)
    rows = table_rows(problem, budget, results, objectives)
    params = {k: v for k, v in vars(args).items() if k != "func"}
    write_result(out, problem=problem, budget=budget, results=results, rows=rows,
                 objectives=objectives, params=params,
                 command=" ".join(shlex.quote(a) for a in sys.argv), overwrite=args.overwrite)
    plot_front(png, objectives=objectives, results=results, budget=budget,
               title=f"{args.model} on {unit.name} ({unit.rows}x{unit.cols})")
    print(format_table(rows, budget))
    for name, res in results.items():
        if not res.feasible:
            why = res.info.get("infeasible", "its measured loss bound is over the budget")
            print(f"warning: {name} pick is over budget: {why}", file=sys.stderr)
    print(f"wrote {out} and {png} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return 0
