"""`hil bnn xor|continual|noise-sweep`: MTT in-situ-quantized BNNs (REFERENCE §3-4)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from hil.errors import ParameterError


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
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")


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

    torch.set_num_threads(max(1, args.threads))
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
    for m in dict.fromkeys([0.0, args.m]):
        res = run_continual(tasks, m=m, noise=ProgrammingNoise(args.noise), **kw)
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
    res = noise_sweep(_tasks(args), levels, m=args.m, mode=args.mode, in_situ=args.in_situ,
                      **_kwargs(args))
    names = next(iter(res.values())).task_names
    print("| error level | " + " | ".join(names) + " | mean |")
    print("|" + "---|" * (len(names) + 2))
    for lv, r in res.items():
        print(f"| {100 * lv:.0f} % | " + " | ".join(f"{100 * a:.1f}" for a in r.final)
              + f" | {100 * r.mean_final:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({str(lv): {"tasks": r.task_names, "acc": r.acc.tolist(),
                                                         "config": r.config} for lv, r in res.items()},
                                              indent=1, default=str))
    if args.plot:
        plot_noise_sweep(res, args.plot, f"{args.mode} programming error"
                         f"{' (in situ)' if args.in_situ else ''}, m = {args.m:g}")
        print(f"plot: {args.plot}")
    return 0


def run_xor(args: argparse.Namespace) -> int:
    import torch

    from hil.nn.bnn_hw import run_on_array, train_xor, write_xor_run, xor_data
    from hil.station import Station

    torch.set_num_threads(max(1, args.threads))
    g_range = tuple(_floats(args.g_range, "--g-range"))
    bias = tuple(_floats(args.bias, "--bias"))
    if len(g_range) != 2 or len(bias) != 3:
        raise ParameterError("--g-range needs 2 values and --bias 3 values")
    from hil.nn.mtt_transfer import resolve

    transfer = resolve(args.transfer, r=args.radius)
    model, train_acc, accs = train_xor(args.epochs, args.lr, args.m, args.restarts,
                                       transfer_fn=transfer, seed=args.seed)
    print(f"training accuracy {100 * train_acc:.1f} % (restarts: "
          + ", ".join(f"{100 * a:.1f}" for a in accs) + ")")
    x_test, y_test = xor_data(400, seed=args.seed + 1)
    station = Station.load(args.station)
    out = Path(args.out)
    with station.make_backend() as backend:
        res = run_on_array(model, backend, x_test, y_test, out.with_name(out.stem + ".wv.h5"),
                           g_range, bias, overwrite=args.overwrite)
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
