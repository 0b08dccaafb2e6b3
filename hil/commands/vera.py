"""`hil vera train|eval|overhead`: VeRA+ drift compensation (REFERENCE §6)."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from hil.errors import ParameterError
from hil.nn.mc.cli import engine_args, engine_kwargs
from hil.units import TIME_UNITS_S, parse_time  # noqa: F401  (the one time parser; other commands import it from here)

DEFAULT_TIMES = "1s,1h,1d,1mo,1y,10y"


def _fmt_t(t: float) -> str:
    for unit in ("y", "mo", "d", "h", "min"):
        if t >= TIME_UNITS_S[unit] * 0.999:
            return f"{t / TIME_UNITS_S[unit]:.3g}{unit}"
    return f"{t:.3g}s"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("vera", help="VeRA+ drift compensation: train, eval, overhead")
    sub = p.add_subparsers(dest="vera_command", metavar="ACTION", required=True)

    t = sub.add_parser("train", help="train backbone (W4A4), then VeRA+ sets by Algorithm 1")
    t.add_argument("--data", default="digits", help="'digits' or a folder of MNIST-family idx files")
    t.add_argument("--out", default="vera.pt", help="checkpoint to write (default vera.pt)")
    t.add_argument("--width", type=int, default=16, help="small CNN width (default 16)")
    t.add_argument("--float-epochs", type=int, default=15)
    t.add_argument("--qat-epochs", type=int, default=5)
    t.add_argument("--epochs", type=int, default=3, help="epochs per drift level (paper: 3)")
    t.add_argument("--batch", type=int, default=64, help="mini-batch size (paper: 64)")
    t.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate for d and b")
    t.add_argument("--rank", type=int, default=1)
    t.add_argument("--instances", type=int, default=100, help="drifted instances per EVALSTATS")
    t.add_argument("--factor", type=float, default=1.5, help="time step multiplier (paper: 1.5)")
    t.add_argument("--horizon", default="10y", help="last drift time (default 10y)")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--tolerance", type=float, default=5.0,
                   help="allowed relative accuracy drop in %% (threshold = drift-free·(1-tol)); "
                        "default 5; paper: 2.5 -> 11 sets, 5 -> 5 sets")
    g.add_argument("--threshold", type=float, help="absolute accuracy threshold in %%")
    _drift_args(t)
    t.add_argument("--mapping", choices=("single", "pair"), default="single",
                   help="weight->conductance mapping (single device as aihwkit ReRamCMO; pair)")
    t.add_argument("--mapping-scale", choices=("channel", "tensor"), default="channel",
                   help="map each output channel onto the full conductance window (digital "
                        "per-column scale; default) or the whole tensor at once")
    t.add_argument("--noise-epochs", type=int, default=0,
                   help="optional noise-aware backbone epochs after QAT (drift random terms "
                        "injected, mean shift removed; default 0 = off)")
    t.add_argument("--no-keep-better", action="store_true",
                   help="always deploy a newly trained set even if the previous one scores "
                        "better (µ-3σ) at that time")
    t.add_argument("--projection", choices=("positive", "signed"), default="positive",
                   help="distribution of the shared random A (see docs/vera-plus.md)")
    t.add_argument("--seed", type=int, default=0)
    engine_args(t)
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="accuracy vs time with and without compensation")
    e.add_argument("checkpoint")
    e.add_argument("--times", default=DEFAULT_TIMES, help=f"comma list (default {DEFAULT_TIMES})")
    e.add_argument("--instances", type=int, default=100)
    e.add_argument("--data", default=None, help="override the checkpoint's data set")
    e.add_argument("--plot", default=None, help="PNG of accuracy vs time")
    e.add_argument("--json", default=None, help="write the table as JSON")
    e.add_argument("--seed", type=int, default=1000)
    e.add_argument("--results", default=None, metavar="F.h5",
                   help="per-instance accuracies (HDF5), written chunk by chunk: rerunning the "
                        "same command with the same file resumes, finished chunks are not "
                        "recomputed")
    engine_args(e)
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=cmd_eval)

    o = sub.add_parser("overhead", help="parameters/ops/storage of VeRA+, VeRA and LoRA")
    o.add_argument("--model", default="resnet20", help="resnet20 or small_cnn (default resnet20)")
    o.add_argument("--classes", type=int, default=10)
    o.add_argument("--input", default=None, help="input shape C,H,W (default: 3,32,32 / 1,8,8)")
    o.add_argument("--ranks", default="1,6")
    o.add_argument("--sets", type=int, default=11)
    o.add_argument("--bits", type=int, default=4, help="bits per stored value (default 4)")
    o.set_defaults(func=cmd_overhead)


def _drift_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--drift", default="reference",
                   help="'reference' (REFERENCE §5 card model) or a retention run fitted by `hil fit`")
    p.add_argument("--drift-model", choices=("gauss", "lines"), default="gauss",
                   help="fitted run: per-state Gaussians at the read time, or lines in ln t")
    p.add_argument("--acceptance", default="2%", help="programming-noise setting of the card")
    p.add_argument("--d2d", type=float, default=None,
                   help="device-to-device relative sigma (VeRA+ Eq 4; default from card or 0.01)")


def _make_drift(spec: dict):
    """(sampler, mapping overrides) from a JSON-able drift spec."""
    from hil.nn.drift import ReferenceDrift, state_drift_from_run

    if spec["kind"] == "reference":
        kw = {} if spec.get("d2d") is None else {"d2d_sigma_rel": spec["d2d"]}
        return ReferenceDrift.from_card(acceptance=spec.get("acceptance", "2%"), **kw), {}
    sd = state_drift_from_run(spec["path"], spec.get("model", "gauss"))
    lo, hi = float(sd.target_G_S.min()), float(sd.target_G_S.max())
    return sd, {"g_min_S": lo, "g_max_S": hi}


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from hil.nn.datasets import load_dataset
    from hil.nn.drift import WeightMapping
    from hil.nn.models import build
    from hil.nn.quant import train_quantized
    from hil.nn.mc import Progress, derive_seed
    from hil.nn.schedule import algorithm1, eval_stats, time_grid, train_set
    from hil.nn.train import accuracy
    from hil.nn.vera import VeraPlusModel, save_checkpoint

    for name in ("epochs", "batch", "rank", "instances", "width"):
        if getattr(args, name) < 1:
            raise ParameterError(f"--{name} {getattr(args, name)} must be >= 1")
    if args.noise_epochs < 0:
        raise ParameterError(f"--noise-epochs {args.noise_epochs} must be >= 0")
    engine = engine_kwargs(args)
    horizon = parse_time(args.horizon)
    torch.manual_seed(args.seed)
    drift_spec = ({"kind": "reference", "acceptance": args.acceptance, "d2d": args.d2d}
                  if args.drift == "reference" else
                  {"kind": "run", "path": str(Path(args.drift).resolve()), "model": args.drift_model})
    sampler, map_kw = _make_drift(drift_spec)
    data = load_dataset(args.data)
    loader = data.loader(args.batch, seed=args.seed)
    arch = {"name": "small_cnn", "input_shape": list(data.x_train.shape[1:]),
            "kwargs": {"n_classes": data.n_classes, "in_channels": int(data.x_train.shape[1]),
                       "width": args.width}}
    show = not args.no_progress
    mapping = WeightMapping(kind=args.mapping, per_channel=args.mapping_scale == "channel",
                            **map_kw)
    noise = _noise_fn(sampler, mapping, horizon, args.seed) if args.noise_epochs else None
    n_ep = args.float_epochs + args.qat_epochs + args.noise_epochs
    n_steps = len(time_grid(1.0, horizon, args.factor))
    # the whole job up front: the backbone's epochs (each phase has a bar with its ETA), then
    # Algorithm 1; its estimate follows once an epoch's cost is measured
    print(f"plan: backbone {args.float_epochs} float + {args.qat_epochs} QAT + {args.noise_epochs} "
          f"noise-aware epochs of {len(loader)} batches; then Algorithm 1 over {n_steps} drift "
          f"times up to {_fmt_t(horizon)}: one EVALSTATS of {args.instances} instances each, "
          f"{args.epochs} epochs for every new set", flush=True)
    t_train = time.perf_counter()
    q = train_quantized(build(arch["name"], **arch["kwargs"]), loader, args.float_epochs,
                        args.qat_epochs, show_progress=show, weight_noise=noise,
                        noise_epochs=args.noise_epochs)
    t_train = time.perf_counter() - t_train
    per_epoch = t_train / max(n_ep, 1)
    print(f"backbone trained in {t_train:.0f} s ({per_epoch:.2f} s/epoch); Algorithm 1 trains "
          f"at most {n_steps} sets: <= {n_steps * args.epochs * per_epoch:.0f} s of set training "
          f"(usually a few sets) plus EVALSTATS (bar with ETA below)", flush=True)
    model = VeraPlusModel(q, args.rank, args.seed, mapping, args.projection).eval()
    acc0 = accuracy(model, data.x_test, data.y_test)
    thr = args.threshold if args.threshold is not None else acc0 * (1 - args.tolerance / 100)
    print(f"{data.name}: {len(data.x_train)} train / {len(data.x_test)} test; W4A4 drift-free "
          f"accuracy {acc0:.2f} %; threshold {thr:.2f} %")

    # time step k evaluates instances from root derive_seed(seed, k): every set scored at
    # step k (before, after training, keep-better) sees the very same drifted instances
    grid = time_grid(1.0, horizon, args.factor)
    # total = one EVALSTATS per drift time (the minimum; keep-better checks add more)
    mc = {**engine, "progress": Progress(total=len(grid) * args.instances, enabled=show,
                                         desc="EVALSTATS")}

    def step_seed(t: float) -> int:
        return derive_seed(args.seed, grid.index(t))

    def evalstats(t: float, idx: int) -> tuple[float, float]:
        mu, sd, _ = eval_stats(model, data.x_test, data.y_test, t, sampler, args.instances, idx,
                               seed=step_seed(t), **mc)
        return mu, sd

    def train(t: float, prev: int) -> int:
        idx = train_set(model, loader, t, sampler, args.epochs, args.lr, copy_from=prev,
                        seed=args.seed + model.n_sets, show_progress=show)
        if prev >= 0 and not args.no_keep_better:
            seed = step_seed(t)
            new = eval_stats(model, data.x_test, data.y_test, t, sampler, args.instances, idx,
                             seed, **mc)
            old = eval_stats(model, data.x_test, data.y_test, t, sampler, args.instances, prev,
                             seed, **mc)
            if old[0] - 3 * old[1] > new[0] - 3 * new[1]:
                model.copy_set(prev, idx)
                print(f"  retrained set {idx} scored {new[0]:.2f} ± {new[1]:.2f} %, below set "
                      f"{prev} ({old[0]:.2f} ± {old[1]:.2f} %): kept set {prev}'s values")
        return idx

    def on_step(s) -> None:
        note = (f"-> trained set {s.set_after}: {s.mean_after:.2f} ± {s.std_after:.2f}"
                if s.trained else "ok")
        print(f"t = {_fmt_t(s.t_s):>8s}  set {s.set_before:2d}: {s.mean:6.2f} ± {s.std:5.2f} %  {note}",
              flush=True)

    try:
        sched = algorithm1(evalstats, train, thr, horizon_s=horizon, factor=args.factor,
                           on_step=on_step)
    finally:
        mc["progress"].close()
    model.schedule_t_s = list(sched.set_t_s)
    meta = {"data": args.data, "drift": drift_spec, "drift_free_acc": acc0, "threshold": thr,
            "log": [vars(s) for s in sched.steps], "args": {k: v for k, v in vars(args).items()
                                                            if k != "func"}}
    save_checkpoint(args.out, model, arch=arch, quant={"w_bits": 4, "a_bits": 4}, meta=meta)
    print(f"Algorithm 1 needed {len(sched.set_t_s)} set(s) at t = "
          f"{', '.join(_fmt_t(t) for t in sched.set_t_s) or '-'}; wrote {args.out}")
    print(mc["progress"].summary())
    return 0


def _noise_fn(sampler, mapping, horizon_s: float, seed: int):
    """Noise-aware training noise: the drift model's random terms at a log-uniform time in
    [1 s, horizon] (mean shift removed: that part is VeRA+'s job)."""
    import dataclasses
    import math
    import random

    from hil.nn.drift import ReferenceDrift, drift_weights

    if not isinstance(sampler, ReferenceDrift):
        raise ParameterError("--noise-epochs needs the reference drift model (--drift reference)")
    noshift = dataclasses.replace(sampler, mu_ln_uS=0.0)
    rng = random.Random(seed)

    def fn(w):
        return drift_weights(w, math.exp(rng.uniform(0.0, math.log(horizon_s))), noshift, mapping)
    return fn


def cmd_eval(args: argparse.Namespace) -> int:
    from hil.nn.datasets import load_dataset
    from hil.nn.mc import Journal, Progress
    from hil.nn.schedule import accuracy_vs_time
    from hil.nn.train import accuracy
    from hil.nn.vera import load_checkpoint

    if args.instances < 1:
        raise ParameterError(f"--instances {args.instances} must be >= 1")
    times = [parse_time(s) for s in args.times.split(",") if s.strip()]
    model, ck = load_checkpoint(args.checkpoint)
    sampler, _ = _make_drift(ck["meta"]["drift"])
    data = load_dataset(args.data or ck["meta"].get("data", "digits"))
    model.select(-1)
    acc0 = accuracy(model, data.x_test, data.y_test)
    show = not args.no_progress
    prog = Progress(2 * len(times) * args.instances, show, "drifted instances")
    kw = dict(n_instances=args.instances, seed=args.seed, progress=prog,
              journal=Journal(args.results) if args.results else None, **engine_kwargs(args))
    try:
        plain = accuracy_vs_time(model, data.x_test, data.y_test, times, sampler,
                                 compensated=False, **kw)
        comp = accuracy_vs_time(model, data.x_test, data.y_test, times, sampler,
                                compensated=True, **kw)
    finally:
        prog.close()
    print(f"drift-free accuracy {acc0:.2f} %; {model.n_sets} VeRA+ set(s); "
          f"mean ± std over {args.instances} drifted instances")
    print("| time | no compensation (%) | VeRA+ (%) | set |\n|---|---|---|---|")
    for a, b in zip(plain, comp):
        print(f"| {_fmt_t(a['t_s'])} | {a['mean']:.2f} ± {a['std']:.2f} | "
              f"{b['mean']:.2f} ± {b['std']:.2f} | {b['set']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"drift_free": acc0, "n_sets": model.n_sets,
                                               "instances": args.instances, "uncompensated": plain,
                                               "compensated": comp}, indent=1))
    if args.plot:
        _plot(plain, comp, acc0, model.schedule_t_s, args.plot)
        print(f"plot: {args.plot}")
    if args.results:
        print(f"per-instance accuracies: {args.results}")
    print(prog.summary())
    return 0


def _plot(plain: list[dict], comp: list[dict], acc0: float, set_t_s, png: str) -> None:
    from hil.plotting import saved_figure

    with saved_figure(png, figsize=(7, 4.2), dpi=130) as fig:
        ax = fig.subplots()
        t = [r["t_s"] for r in plain]
        for rows, label, fmt in ((plain, "no compensation", "o-"), (comp, "VeRA+", "s-")):
            ax.errorbar(t, [r["mean"] for r in rows], [r["std"] for r in rows], fmt=fmt,
                        capsize=3, label=label)
        ax.axhline(acc0, color="k", ls="--", lw=1, label=f"drift-free {acc0:.1f} %")
        for ts in set_t_s:
            ax.axvline(ts, color="g", alpha=0.15, lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("time since programming (s)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"accuracy vs drift time ({len(set_t_s)} VeRA+ sets, green: set starts)",
                     fontsize=9)
        ax.legend(fontsize=8)


def cmd_overhead(args: argparse.Namespace) -> int:
    from hil.nn.models import build
    from hil.nn.overhead import format_table, overhead_table

    kwargs = {"n_classes": args.classes}
    default_in = "3,32,32" if args.model == "resnet20" else "1,8,8"
    shape = tuple(int(x) for x in (args.input or default_in).split(","))
    if args.model == "small_cnn":
        kwargs["in_channels"] = shape[0]
    ranks = tuple(int(r) for r in args.ranks.split(","))
    rows = overhead_table(build(args.model, **kwargs), shape, ranks, args.sets, args.bits)
    print(f"{args.model}, input {shape}")
    print(format_table(rows, args.bits))
    return 0
