"""`hil cim cost|sensitivity|partition`: CIM cost model, error sensitivity, heterogeneous partition.

(`hil cim search`, the bit-width search, is added by ``hil.cim.search.cli`` when present.)
"""
from __future__ import annotations

import argparse
from pathlib import Path

from hil.errors import ParameterError

COST_ONLY = ("resnet20", "resnet20-c100", "mobilenet-v2")


def parse_budget(text: str) -> float:
    """'0.45%' -> 0.0045; '0.0045' -> 0.0045 (accuracy-drop fraction)."""
    t = text.strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise ParameterError(f"--budget {text!r}: expected a fraction (0.0045) or a percentage "
                             "(0.45%)") from None
    if not 0 <= value < 1:
        raise ParameterError(f"--budget {text!r}: must be between 0 and 100 %")
    return value


def parse_capacity(items: list[str] | None) -> dict[str, float]:
    """['sram-cim=1e6'] -> {'sram-cim': 1e6} (bits)."""
    out = {}
    for item in items or []:
        kind, sep, value = item.partition("=")
        try:
            out[kind.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ParameterError(f"--capacity {item!r}: expected KIND=BITS, e.g. sram-cim=1e6")
    return out


def _units(cards: list[str] | None):
    from hil.cim.units import default_units, load_unit

    if not cards:
        return default_units()
    units = [load_unit(c) for c in cards]
    return {u.kind: u for u in units}


def _shapes(model_name: str, model=None):
    from hil.cim.layers import layer_shapes, mobilenet_v2_shapes, resnet20_shapes

    if model_name == "resnet20":
        return resnet20_shapes(10)
    if model_name == "resnet20-c100":
        return resnet20_shapes(100)
    if model_name == "mobilenet-v2":
        return mobilenet_v2_shapes()
    return layer_shapes(model, (1, 8, 8))


def _load(model_name: str, seed: int):
    """(model, test data, description, activation calibration batch = first training inputs)."""
    from hil.cim.activations import CALIB_N
    from hil.nn.validate_models import load_model

    model, split, desc = load_model(model_name, seed=seed)
    return model, (split.x_test, split.y_test), desc, split.x_train[:CALIB_N]


def _error_model(args):
    from hil.cim.error_model import ErrorModel
    from hil.commands.vera import parse_time

    em = ErrorModel.from_write_verify(args.from_run)
    if args.fit:
        em = em.with_drift(args.fit, parse_time(args.t_drift))
    return em


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("cim", help="CIM cost model, error sensitivity, partitioning")
    sub = p.add_subparsers(dest="cim_command", metavar="ACTION", required=True)

    c = sub.add_parser("cost", help="energy/latency/area/storage of MODEL on each compute unit")
    c.add_argument("model", help=f"{', '.join(COST_ONLY)} (shapes only), digits-mlp, digits-cnn "
                                 "or a hil model checkpoint")
    c.add_argument("--units", nargs="+", metavar="CARD", help="unit cards (names in data/cim or "
                   "TOML paths; default rram_imc_22nm sram_imc_22nm digital_22nm)")
    c.add_argument("--format", dest="fmt", default="int4",
                   help="number format on every unit that runs it (default int4; else the "
                        "unit's most efficient)")
    c.add_argument("--inferences-per-load", type=float, default=1.0,
                   help="inferences per weight load of volatile units (default 1: wake-up per inference)")
    c.add_argument("--from-run", metavar="RUN.h5", help="write_verify run: its measured mean pulses "
                   "per cell replace the memristor card's (programming energy and time)")
    _common(c, "cost")
    c.set_defaults(func=cost_main)

    s = sub.add_parser("sensitivity", help="per-layer accuracy drop under measured device errors")
    s.add_argument("model", help="digits-mlp, digits-cnn or a hil model checkpoint")
    _error_options(s)
    s.add_argument("--formats", default="int4,int8,fp8,fp16", help="formats to score (comma-separated)")
    s.add_argument("--seeds", default="0,1", help="MC root seeds; with two, the rank "
                   "correlation of the rankings is reported (default 0,1)")
    _common(s, "sensitivity")
    s.set_defaults(func=sensitivity_main)

    q = sub.add_parser("partition", help="assign layers to memristor-CIM / SRAM-CIM / digital")
    q.add_argument("model", help="digits-mlp, digits-cnn or a hil model checkpoint")
    q.add_argument("--budget", default="0.45%", help="accuracy-drop budget (default 0.45%%)")
    _error_options(q)
    q.add_argument("--objective", default="energy", choices=("energy", "latency"))
    q.add_argument("--solver", default="exact", choices=("exact", "greedy", "exhaustive"))
    q.add_argument("--capacity", action="append", metavar="KIND=BITS",
                   help="unit capacity in bits, e.g. sram-cim=1e5 (repeatable)")
    q.add_argument("--units", nargs="+", metavar="CARD", help="unit cards (default: the three bundled)")
    q.add_argument("--inferences-per-load", type=float, default=1.0,
                   help="inferences per weight load of volatile units (default 1)")
    q.add_argument("--z", type=float, default=None,
                   help="budget checked on mean + z·σ/√n of the MC drops (default: the one-sided "
                        "95 %% normal quantile, hil.cim.budget.Z_ONE_SIDED_95, as hil cim search; 0 = the mean)")
    _common(q, "partition")
    q.set_defaults(func=partition_main)

    m = sub.add_parser("energy", help="MTT in situ quantization energy vs A100 + NVMe from "
                       "write_verify run files (MTT §2.6, Fig. 7k)")
    m.add_argument("runs", nargs="+", metavar="RUN.h5", help="write_verify run files")
    m.add_argument("--card", metavar="TOML", help="energy card (default data/cim/mtt_energy.toml)")
    m.add_argument("--out", "-o", metavar="F", help="result file (default cim-energy.h5)")
    m.add_argument("--plot", metavar="PNG", help="figure (default: beside --out)")
    m.add_argument("--overwrite", action="store_true", help="replace an existing result file")
    m.set_defaults(func=energy_main)

    try:  # helper F's bit-width search, when present
        from hil.cim.search import cli as search_cli
    except ImportError:
        search_cli = None
    if search_cli is not None and hasattr(search_cli, "register"):
        search_cli.register(sub)


def _error_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from-run", required=True, metavar="RUN.h5",
                   help="write_verify run file: its measured programming errors are injected")
    p.add_argument("--fit", metavar="FIT.h5", help="retention run with `hil fit` results: adds drift")
    p.add_argument("--t-drift", default="1d", help="drift time after programming with --fit (default 1d)")
    p.add_argument("--groups", type=int, default=1, help="output-channel groups per layer "
                   "(kernel granularity; default 1 = per layer)")
    p.add_argument("--n", type=int, default=20, help="Monte-Carlo instances (default 20)")
    p.add_argument("--weights-only", action="store_true",
                   help="quantize only the weights to a format (default: the layer inputs too, "
                        "static per-tensor ranges from 256 training inputs; docs/cim.md)")


def _common(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--out", "-o", metavar="F", help=f"result file (default cim-{what}-MODEL.h5)")
    p.add_argument("--plot", metavar="PNG", help="figure (default: beside --out)")
    p.add_argument("--seed", type=int, default=0, help="training seed of built-in models (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing result file")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _paths(args, what: str) -> tuple[Path, Path]:
    out = Path(args.out or f"cim-{what}-{Path(args.model).stem}.h5")
    return out, Path(args.plot or out.with_suffix(".png"))


def cost_main(args: argparse.Namespace) -> int:
    from hil.cim.cost import format_cost_table, network_cost
    from hil.cim.plots import plot_cost
    from hil.cim.report import write_analysis

    units = _units(args.units)
    if args.from_run and "memristor-cim" in units:
        from hil.cim.mtt_energy import mtt_run_energy

        measured = mtt_run_energy(args.from_run)
        units["memristor-cim"] = units["memristor-cim"].with_measured(mean_pulses=measured.mean_pulses)
        print(f"memristor mean pulses per cell from {args.from_run}: {measured.mean_pulses:.2f}")
    model = None if args.model in COST_ONLY else _load(args.model, args.seed)[0]
    shapes = _shapes(args.model, model)
    out, png = _paths(args, "cost")
    by_unit, results = {}, {"layer": ([s.name for s in shapes], "")}
    for kind, u in units.items():
        fmt = args.fmt if args.fmt in u.formats else min(u.formats, key=u.energy_per_mac_J)
        costs, total = network_cost(shapes, [(u, fmt)] * len(shapes),
                                    inferences_per_load=args.inferences_per_load)
        by_unit[u.name] = costs
        print(f"\n## {u.name} ({kind}, {fmt})\n")
        print(format_cost_table(costs, total))
        print(f"total: {total['energy_J'] * 1e9:.3f} nJ, {total['latency_s'] * 1e6:.3f} µs, "
              f"{total['area_mm2']:.4f} mm², {total['storage_bits'] / 8e3:.2f} kB, "
              f"{total['tops_per_w']:.2f} TOPS/W (2 ops/MAC)")
        for key, unit in (("energy_J", "J"), ("latency_s", "s"), ("area_mm2", "mm2"),
                          ("storage_bits", "bit"), ("tiles", ""), ("cycles", ""),
                          ("program_energy_J", "J")):
            results[f"{u.name}/{key}"] = ([getattr(c, key) for c in costs], unit, {"format": fmt})
            results[f"{u.name}/total_{key}"] = (total[key], unit)
    write_analysis(out, "cost", {"model": args.model, "format": args.fmt,
                                 "inferences_per_load": args.inferences_per_load}, results,
                   inputs=[args.from_run] if args.from_run else [],
                   units=list(units.values()), overwrite=args.overwrite)
    plot_cost(by_unit, png)
    print(f"\nresult file: {out}\nplot: {png}")
    return 0


def sensitivity_main(args: argparse.Namespace) -> int:
    import numpy as np

    from hil.cim.plots import plot_sensitivity
    from hil.cim.report import write_analysis
    from hil.cim.sensitivity import (clean_accuracy, format_sensitivity, layer_sensitivity,
                                     rank_correlation, ranking)

    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if not seeds or args.n < 2 or args.groups < 1:
        raise ParameterError(f"need --seeds (got {args.seeds!r}), --n >= 2 (got {args.n}) and "
                             f"--groups >= 1 (got {args.groups})")
    from hil.cim.activations import ACT_SCHEME, calibrate_inputs
    from hil.cim.sensitivity import weight_layers

    model, data, desc, calib_x = _load(args.model, args.seed)
    em = _error_model(args)
    base = clean_accuracy(model, data)
    ranges = None if args.weights_only else calibrate_inputs(model, weight_layers(model), calib_x)
    runs = [layer_sensitivity(model, data, em, n=args.n, root_seed=s, groups=args.groups,
                              baseline=base, progress=not args.no_progress) for s in seeds]
    fdrop = format_sensitivity(model, data, formats, groups=args.groups, baseline=base,
                               progress=not args.no_progress, act_ranges=ranges,
                               quantize_inputs=not args.weights_only)
    names = [s.item.name for s in runs[0]]
    mean = np.array([s.mean_drop for s in runs[0]])
    std = np.array([s.std_drop for s in runs[0]])
    rho = rank_correlation(runs[0], runs[1]) if len(runs) > 1 else float("nan")
    print(f"clean accuracy {100 * base:.2f} %; error model: {em.describe()}")
    print("| item | drop (pp, mean ± σ) | " + " | ".join(formats) + " |")
    print("|---|---|" + "---|" * len(formats))
    for i, nm in enumerate(names):
        print(f"| {nm} | {100 * mean[i]:.3f} ± {100 * std[i]:.3f} | "
              + " | ".join(f"{100 * fdrop[f][i]:.3f}" for f in formats) + " |")
    print(f"ranking (most sensitive first): {', '.join(ranking(runs[0]))}")
    if len(runs) > 1:
        print(f"Spearman rank correlation seeds {seeds[0]} vs {seeds[1]}: {rho:.3f}")
    out, png = _paths(args, "sensitivity")
    results = {"item": (names, ""), "drop_mean": (mean, "fraction"), "drop_std": (std, "fraction"),
               "clean_accuracy": (base, "fraction"), "rank_correlation": (rho, "")}
    for k, r in enumerate(runs):
        results[f"seed{seeds[k]}/drop_mean"] = (np.array([s.mean_drop for s in r]), "fraction",
                                                {"root_seed": seeds[k]})
    for f in formats:
        results[f"format/{f}"] = (np.array(fdrop[f]), "fraction")
    write_analysis(out, "sensitivity", {"model": args.model, "n": args.n, "groups": args.groups,
                                        "seeds": seeds, "t_drift": args.t_drift if args.fit else None,
                                        "activations": "weights only" if args.weights_only
                                        else ACT_SCHEME,
                                        "error_model": em.describe(), **desc},
                   results, inputs=[args.from_run] + ([args.fit] if args.fit else []),
                   overwrite=args.overwrite)
    plot_sensitivity(names, mean, std, png, fdrop, title=em.source,
                     quantized="weights" if args.weights_only else "weights + inputs")
    print(f"result file: {out}\nplot: {png}")
    return 0


def energy_main(args: argparse.Namespace) -> int:
    import numpy as np

    from hil.cim.mtt_energy import (FOUR_MB, PUBLISHED, advantage, digital_per_weight_J,
                                    load_energy_card, mtt_run_energy)
    from hil.cim.plots import plot_energy_trend
    from hil.cim.report import write_analysis

    card = load_energy_card(args.card)
    digital = digital_per_weight_J(card)
    sizes = np.array([2 ** k for k in range(4, 27, 2)])
    print(f"digital (A100 + 980 PRO): {digital['total'] * 1e9:.3f} nJ per weight")
    results: dict = {"digital_J_per_weight": (digital["total"], "J", digital),
                     "trend_n_cells": (sizes, "cells")}
    curves = {}
    for path in args.runs:
        e = mtt_run_energy(path, card)
        key = Path(path).stem
        curves[f"{key} ({e.device})"] = [advantage(e, int(n), card) for n in sizes]
        at_n, at_4mb = advantage(e, e.n_cells, card), advantage(e, FOUR_MB, card)
        print(f"{path}: {e.device}, {e.n_cells} cells, mean pulses {e.mean_pulses:.2f}, "
              f"pulses {e.pulse_J * 1e9:.3f} nJ + verify {e.verify_J * 1e9:.4f} nJ per cell; "
              f"advantage {at_n:.2f}x at N = {e.n_cells}, {at_4mb:.2f}x at 4 Mb "
              f"(paper {PUBLISHED[e.device]}x)")
        results[f"{key}/advantage_trend"] = (np.array(curves[f"{key} ({e.device})"]), "")
        results[f"{key}/advantage_4Mb"] = (at_4mb, "", {"published": PUBLISHED[e.device]})
        results[f"{key}/mean_pulses"] = (e.mean_pulses, "pulses")
        results[f"{key}/mtt_J_per_weight_4Mb"] = (e.per_weight_J(FOUR_MB), "J")
    out = Path(args.out or "cim-energy.h5")
    write_analysis(out, "energy", {"card": args.card or "mtt_energy"}, results,
                   inputs=list(args.runs), overwrite=args.overwrite)
    png = Path(args.plot or out.with_suffix(".png"))
    plot_energy_trend(sizes, curves, PUBLISHED, png)
    print(f"result file: {out}\nplot: {png}")
    return 0


def partition_main(args: argparse.Namespace) -> int:
    from hil.cim.partition_report import run_partition

    return run_partition(args)
