"""`hil validate MODEL`: program a network onto arrays, read the maps back over time, evaluate."""
from __future__ import annotations

import argparse
from pathlib import Path

from hil.errors import ParameterError
from hil.nn.mc.cli import engine_args, engine_kwargs

DEFAULT_TIMES = "1s,1d,1y,10y"


def parse_shape(text: str) -> tuple[int, int]:
    """'256x512' -> (256, 512)."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        r, c = (int(p) for p in parts)
    except ValueError:
        raise ParameterError(f"--array-shape {text!r}: expected ROWSxCOLS, e.g. 64x128") from None
    if r < 1 or c < 2:
        raise ParameterError(f"--array-shape {text!r}: need rows >= 1 and cols >= 2")
    return r, c


#: widest array sized from a model; wider networks are tiled onto several arrays of this width
MODEL_ARRAY_MAX_COLS = 1024


def model_array_shape(model, mapping: str) -> tuple[int, int]:  # noqa: ANN001
    """An array shape that holds every layer map of ``model`` side by side (rows: the tallest
    map; cols: all maps, up to `MODEL_ARRAY_MAX_COLS` or the widest map), from the mapping's
    own map shapes (`NetworkMap.build`); the range does not change the shapes."""
    from hil.nn.netmap import NetworkMap

    big = 1 << 30
    shapes = NetworkMap.build(model, mapping, (1e-6, 1e-5), (big, big)).plan.layer_shapes.values()
    rows = max(r for r, _ in shapes)
    cols = sum(c for _, c in shapes)
    return rows, min(cols, max(MODEL_ARRAY_MAX_COLS, max(c for _, c in shapes)))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "validate", help="validate a network on programmed and read-back conductance maps",
        description="Map MODEL's weights to conductances, program them with write-verify on the "
                    "station's arrays, read the maps at each --times after programming (virtual "
                    "clock on a simulator), decode them into weights and evaluate. With --from-run "
                    "the maps of an existing run file (e.g. measured in a lab) are evaluated.")
    p.add_argument("model", help="built-in model (digits-mlp, digits-cnn) or a hil model checkpoint (.pt)")
    p.add_argument("--station", metavar="F", help="station TOML file (default: embedded simulated ECRAM array)")
    p.add_argument("--from-run", metavar="F", help="evaluate the maps of this run file instead of programming")
    p.add_argument("--times", default=DEFAULT_TIMES,
                   help=f"read times after programming, comma-separated (default {DEFAULT_TIMES})")
    p.add_argument("--mapping", default="differential", choices=("differential", "reference", "mtt"),
                   help="weight-to-conductance mapping (default differential)")
    p.add_argument("--array-shape", metavar="RxC",
                   help="simulated array size (default: the station's rows x cols; without --station "
                        "one array sized to hold the whole model)")
    p.add_argument("--max-arrays", type=int, default=64, help="refuse plans needing more arrays (default 64)")
    p.add_argument("--tol", type=float, default=0.02, help="write-verify tolerance (default 0.02)")
    p.add_argument("--tol-ref", default="range", choices=("range", "target"),
                   help="tolerance relative to the conductance range (default) or to each target")
    p.add_argument("--out", "-o", metavar="F", help="validation run file (default validate-MODEL.h5)")
    p.add_argument("--plot", metavar="PREFIX",
                   help="write PREFIX_accuracy.png and PREFIX_scatter.png (default: beside --out)")
    p.add_argument("--seed", type=int, help="override the station's seed (simulated backends)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    engine_args(p)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import dataclasses

    from hil.commands.vera import parse_time
    from hil.nn.validate import validate_from_run, validate_on_backends
    from hil.nn.validate_models import load_model
    from hil.nn.validate_plot import plot_accuracy, plot_scatter
    from hil.station import Station

    times = [parse_time(t) for t in args.times.split(",") if t.strip()]
    if args.max_arrays < 1:
        raise ParameterError(f"--max-arrays {args.max_arrays}: must be >= 1")
    from hil.nn.mc import Progress

    prog = Progress(enabled=not args.no_progress, desc="snapshots")
    engine = {**engine_kwargs(args), "progress": prog}
    model, split, desc = load_model(args.model, seed=args.seed or 0, show_progress=not args.no_progress)
    out = Path(args.out or f"validate-{Path(args.model).stem}.h5")
    params = {**desc, "times": args.times}
    if args.from_run:
        res = validate_from_run(model, split.x_test, split.y_test, args.from_run, out,
                                mapping=args.mapping, overwrite=args.overwrite, params=params,
                                engine=engine)
    else:
        station = Station.load(args.station)
        seed = args.seed if args.seed is not None else (station.seed or 0)
        if args.array_shape:
            if station.backend["type"] != "sim":
                raise ParameterError("--array-shape applies to simulated stations only")
            shape = parse_shape(args.array_shape)
            station = dataclasses.replace(station, backend={**station.backend, "rows": shape[0],
                                                            "cols": shape[1]})
        elif args.station is None and station.backend["type"] == "sim":
            # the embedded station is a small demo array: size the simulated array to the model
            shape = model_array_shape(model, args.mapping)
            station = dataclasses.replace(station, backend={**station.backend, "rows": shape[0],
                                                            "cols": shape[1]})
            print(f"simulated array sized from the model: {shape[0]} x {shape[1]} "
                  "(--array-shape RxC or --station F to choose)")
        first = station.make_backend(seed=seed)
        shape = tuple(first.shape)
        res = validate_on_backends(
            model, split.x_test, split.y_test,
            lambda i: first if i == 0 else station.make_backend(seed=seed + i), out, times,
            mapping=args.mapping, array_shape=shape, max_arrays=args.max_arrays, tol=args.tol,
            tol_ref=args.tol_ref,
            station_text=station.text, seed=seed, overwrite=args.overwrite,
            progress=not args.no_progress, params={**params, "array_shape": list(shape)},
            engine=engine)
    prog.close()
    prefix = args.plot or str(out.with_suffix(""))
    plot_accuracy(res.path, f"{prefix}_accuracy.png")
    plot_scatter(res.path, f"{prefix}_scatter.png")
    print(f"run file: {res.path}")
    print(f"software accuracy: {100 * res.software_accuracy:.2f} %")
    for t, a, e in zip(res.times_s, res.accuracy, res.layer_error):
        print(f"  t = {t:>12.4g} s   accuracy {100 * a:6.2f} %   weight error / w_max "
              + " ".join(f"{x:.4f}" for x in e))
    print(f"plots: {prefix}_accuracy.png, {prefix}_scatter.png")
    print(prog.summary())
    return 0
