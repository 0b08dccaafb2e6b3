"""`hil bnn xor|continual|noise-sweep`: MTT in-situ-quantized BNNs (REFERENCE §3-4)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from hil.errors import ParameterError
from hil.nn.mc.cli import engine_args, engine_kwargs


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ParameterError(f"{what} {text!r}: expected comma-separated numbers") from None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--transfer", default="ecram",
                   help="ecram (Eq 16) | rram (Eq 17) | ideal[:K] (Eq 4) | sign | an mtt_readout run .h5")
    p.add_argument("--radius", type=float, default=0.0, help="ternary dead-zone radius r (Eq 11; 0 = binary)")
    p.add_argument("--lr", type=float, default=0.005, help="learning rate (MTT: 0.005)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar (it shows the ETA of the whole job)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: half the CPUs this process may use, at "
                        "most 4: these small networks lose more to thread hand-offs than they "
                        "gain, most of all on a shared machine)")


def _task_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="digits",
                   help="'digits', an MNIST-family idx folder, or several folders comma-separated "
                        "(one task per data set, e.g. KMNIST,FMNIST,MNIST,KaMNIST)")
    p.add_argument("--tasks", default="permuted", choices=("permuted", "split"),
                   help="task sequence from one data set (default permuted)")
    p.add_argument("--n-tasks", type=int, default=4, help="permuted tasks (default 4)")
    p.add_argument("--hidden", default="512", help="hidden layer widths, comma-separated (default 512)")
    p.add_argument("--epochs", type=int, default=20, help="epochs per task (default 20)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--m", type=float, default=12.0, help="metaplasticity m (MTT: 12; 0 = off)")
    p.add_argument("--json", metavar="F", help="write the accuracy matrices as JSON")
    p.add_argument("--plot", metavar="PNG", help="write a figure")


def _bar(args: argparse.Namespace, total: int, desc: str):
    """One progress bar (ETA of the whole job) unless --no-progress; None when hidden."""
    if args.no_progress:
        return None
    from hil.nn.train import progress

    return progress(None, total, desc)


def _threads(requested: int | None) -> int:
    """Torch threads: the requested number, or half the CPUs available to this process (<= 4)."""
    if requested is not None:
        return max(1, int(requested))
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cpus // 2))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bnn", help="MTT binarized networks: XOR on an array, continual learning, noise sweep")
    sub = p.add_subparsers(dest="bnn_command", metavar="ACTION", required=True)

    x = sub.add_parser("xor", help="train the 2x3x1 XOR BNN, write-verify it onto MTT units, measure")
    x.add_argument("--station", metavar="F", help="station TOML (default: embedded simulated ECRAM array)")
    x.add_argument("--out", "-o", default="bnn-xor.h5", help="result run file (default bnn-xor.h5)")
    x.add_argument("--epochs", type=int, default=25, help="epochs (MTT: ~100 %% within 25)")
    x.add_argument("--restarts", type=int, default=8, help="training restarts, best kept (default 8)")
    x.add_argument("--m", type=float, default=10.0, help="metaplasticity m (MTT Methods 4.9: 10)")
    x.add_argument("--g-range", default="2.245e-6,45e-6",
                   help="G_e,min,G_e,max of the MTT mapping in S (default 2.245e-6,45e-6)")
    x.add_argument("--bias", default="1.4,0.6,0.01", help="V_read_H,V_ref_G,V_drain (default 1.4,0.6,0.01)")
    x.add_argument("--plot", metavar="PNG", help="write a figure of measured vs trained weights")
    x.add_argument("--overwrite", action="store_true")
    _common(x)
    x.set_defaults(func=run_xor)

    c = sub.add_parser("continual", help="continual learning with and without metaplasticity")
    _task_options(c)
    c.add_argument("--noise", type=float, default=0.0, help="relative programming error (default 0)")
    _common(c)
    c.set_defaults(func=run_continual_cmd)

    n = sub.add_parser("noise-sweep", help="continual learning vs programming-error level")
    _task_options(n)
    n.add_argument("--levels", default="0,0.05,0.1,0.15,0.2,0.25,0.3", help="error levels (fractions)")
    n.add_argument("--mode", default="relative", choices=("relative", "full_scale"),
                   help="error std relative to the programmed conductance or to the range")
    n.add_argument("--in-situ", action="store_true",
                   help="hidden weights live only on the devices: errors accumulate over training")
    n.add_argument("--instances", type=int, default=0,
                   help="re-program each trained network this many times with its level's error "
                        "and report every task's accuracy mean ± std (Monte-Carlo engine; "
                        "default 0: off)")
    engine_args(n)
    _common(n)
    n.set_defaults(func=run_sweep_cmd)


def _tasks(args: argparse.Namespace):
    from hil.nn import continual
    from hil.nn.datasets import load_dataset

    specs = [s for s in args.data.split(",") if s.strip()]
    if len(specs) > 1:
        sets = [load_dataset(s) for s in specs]
        return continual.dataset_tasks([(s.name, s.x_train, s.y_train, s.x_test, s.y_test) for s in sets])
    s = load_dataset(specs[0])
    if args.tasks == "split":
        return continual.split_tasks(s.x_train, s.y_train, s.x_test, s.y_test)
    return continual.permuted_tasks(s.x_train, s.y_train, s.x_test, s.y_test, args.n_tasks, args.seed)


def _kwargs(args: argparse.Namespace) -> dict:
    import torch

    from hil.nn.mtt_transfer import resolve

    torch.set_num_threads(_threads(args.threads))
    hidden = tuple(int(h) for h in _floats(args.hidden, "--hidden"))
    return dict(hidden=hidden, epochs=args.epochs, lr=args.lr, batch_size=args.batch,
                seed=args.seed, transfer_fn=resolve(args.transfer, r=args.radius))


def _table(res) -> str:
    head = "| after \\ on | " + " | ".join(res.task_names) + " |"
    rows = [head, "|" + "---|" * (len(res.task_names) + 1)]
    for i, name in enumerate(res.task_names):
        rows.append(f"| {name} | " + " | ".join(f"{100 * a:.1f}" for a in res.acc[i]) + " |")
    return "\n".join(rows)


def run_continual_cmd(args: argparse.Namespace) -> int:
    from hil.nn.bnn import ProgrammingNoise
    from hil.nn.bnn_plot import plot_continual
    from hil.nn.continual import run_continual

    tasks, kw = _tasks(args), _kwargs(args)
    results = {}
    ms = list(dict.fromkeys([0.0, args.m]))
    bar = _bar(args, len(ms) * len(tasks) * args.epochs, "continual (task epochs)")
    for m in ms:
        res = run_continual(tasks, m=m, noise=ProgrammingNoise(args.noise), progress=bar, **kw)
        if bar is not None:
            bar.clear()
        results[f"m = {m:g}"] = res
        print(f"m = {m:g}: mean final accuracy {100 * res.mean_final:.1f} %")
        print(_table(res))
    if args.json:
        Path(args.json).write_text(json.dumps({k: {"tasks": r.task_names, "acc": r.acc.tolist(),
                                                   "config": r.config} for k, r in results.items()},
                                              indent=1, default=str))
    if args.plot:
        plot_continual(results, args.plot)
        print(f"plot: {args.plot}")
    return 0


def run_sweep_cmd(args: argparse.Namespace) -> int:
    from hil.nn.bnn_plot import plot_noise_sweep
    from hil.nn.continual import noise_sweep

    levels = _floats(args.levels, "--levels")
    if any(not 0 <= lv <= 1 for lv in levels):
        raise ParameterError(f"--levels {args.levels!r}: each level must be in 0..1")
    tasks = _tasks(args)
    bar = _bar(args, len(levels) * len(tasks) * args.epochs, "noise sweep (task epochs)")
    res = noise_sweep(tasks, levels, m=args.m, mode=args.mode, in_situ=args.in_situ,
                      progress=bar, **_kwargs(args))
    if bar is not None:
        bar.close()
    names = next(iter(res.values())).task_names
    print("| error level | " + " | ".join(names) + " | mean |")
    print("|" + "---|" * (len(names) + 2))
    for lv, r in res.items():
        print(f"| {100 * lv:.0f} % | " + " | ".join(f"{100 * a:.1f}" for a in r.final)
              + f" | {100 * r.mean_final:.1f} |")
    mc = _programming_instances(args, res) if args.instances else {}
    if args.json:
        Path(args.json).write_text(json.dumps({str(lv): {"tasks": r.task_names, "acc": r.acc.tolist(),
                                                         "config": r.config,
                                                         "instances": mc.get(lv)}
                                               for lv, r in res.items()},
                                              indent=1, default=str))
    if args.plot:
        plot_noise_sweep(res, args.plot, f"{args.mode} programming error"
                         f"{' (in situ)' if args.in_situ else ''}, m = {args.m:g}")
        print(f"plot: {args.plot}")
    return 0


def _programming_instances(args: argparse.Namespace, res: dict) -> dict:
    """Each trained network re-programmed ``--instances`` times (fresh programming error of
    its level), every task evaluated through the Monte-Carlo engine; prints a table."""
    import numpy as np

    from hil.nn.bnn import ProgrammingNoise, ProgrammingPerturb
    from hil.nn.bnn_train import instance_accuracy
    from hil.nn.mc import InstanceSpec, Progress, derive_seed, evaluate

    if args.instances < 0:
        raise ParameterError(f"--instances {args.instances} must be >= 0")
    tasks, engine = _tasks(args), engine_kwargs(args)
    prog = Progress(len(res) * len(tasks) * args.instances, not getattr(args, "no_progress", False),
                    "programmings")
    out = {}
    try:
        for k, (lv, r) in enumerate(res.items()):
            perturb = ProgrammingPerturb.for_model(r.model, ProgrammingNoise(lv, args.mode))
            out[lv] = [evaluate(r.model, (t.x_test, t.y_test),
                                InstanceSpec(args.instances, derive_seed(args.seed, k, j)), perturb,
                                metric=instance_accuracy, progress=prog, **engine).tolist()
                       for j, t in enumerate(tasks)]
    finally:
        prog.close()
    print(f"\nover {args.instances} fresh programmings of each trained network (mean ± std, %):")
    print("| error level | " + " | ".join(next(iter(res.values())).task_names) + " |")
    print("|" + "---|" * (len(tasks) + 1))
    for lv, accs in out.items():
        print(f"| {100 * lv:.0f} % | " + " | ".join(f"{100 * np.mean(a):.1f} ± {100 * np.std(a):.1f}"
                                                for a in accs) + " |")
    print(prog.summary())
    return out


def run_xor(args: argparse.Namespace) -> int:
    import torch

    from hil.nn.bnn_hw import run_on_array, train_xor, write_xor_run, xor_data
    from hil.station import Station

    torch.set_num_threads(_threads(args.threads))
    g_range = tuple(_floats(args.g_range, "--g-range"))
    bias = tuple(_floats(args.bias, "--bias"))
    if len(g_range) != 2 or len(bias) != 3:
        raise ParameterError("--g-range needs 2 values and --bias 3 values")
    from hil.nn.mtt_transfer import resolve

    transfer = resolve(args.transfer, r=args.radius)
    bar = _bar(args, args.restarts * args.epochs, "training XOR (restarts x epochs)")
    model, train_acc, accs = train_xor(args.epochs, args.lr, args.m, args.restarts,
                                       transfer_fn=transfer, seed=args.seed, progress=bar)
    if bar is not None:
        bar.close()
    print(f"training accuracy {100 * train_acc:.1f} % (restarts: "
          + ", ".join(f"{100 * a:.1f}" for a in accs) + ")")
    x_test, y_test = xor_data(400, seed=args.seed + 1)
    station = Station.load(args.station)
    out = Path(args.out)
    with station.make_backend() as backend:
        res = run_on_array(model, backend, x_test, y_test, out.with_name(out.stem + ".wv.h5"),
                           g_range, bias, overwrite=args.overwrite,
                           progress=not args.no_progress)
        write_xor_run(out, res, backend, {"epochs": args.epochs, "m": args.m, "lr": args.lr,
                                          "transfer": args.transfer, "g_range_S": list(g_range),
                                          "bias_V": list(bias), "seed": args.seed},
                      station.text, station.seed, args.overwrite)
    print(f"test accuracy: software {100 * res.accuracy_software:.1f} %, measured I_ts "
          f"{100 * res.accuracy_measured:.1f} %, from G {100 * res.accuracy_from_G:.1f} %")
    print(f"write-verify converged {100 * res.extra['converged']:.1f} % of cells; run file: {out}")
    if args.plot:
        from hil.nn.bnn_plot import plot_xor

        plot_xor(out, args.plot)
        print(f"plot: {args.plot}")
    return 0
