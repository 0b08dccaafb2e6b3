"""`hil demo`: LTP/LTD pulse train on the embedded simulated ECRAM array, file + plot."""
from __future__ import annotations

import argparse
import time
from pathlib import Path


DEFAULT_OUT = "hil-demo.h5"


def _foreign(path: Path) -> bool:
    """True when ``path`` exists and is not a finished or stopped demo run (never replace that)."""
    if not path.exists():
        return False
    from hil.store import Run

    try:
        a = Run.open(path).attrs
    except Exception:  # not a run file at all: not ours to replace
        return True
    return a.get("protocol") != "pulse_train" or a.get("status") == "running"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the LTP/LTD demo on the embedded simulator (no instrument needed)")
    p.add_argument("--out", "-o", default=None, metavar="F",
                   help=f"run file (default: {DEFAULT_OUT}, which a later demo replaces)")
    p.add_argument("--png", default=None, metavar="F", help="plot file (default: next to the run file)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing output files given with --out/--png")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from hil.errors import RunFileError
    from hil.plotting import plot_run
    from hil.runner import run_protocol
    from hil.station import Station
    from hil.store import Run

    out = Path(args.out or DEFAULT_OUT)
    png = Path(args.png) if args.png else out.with_suffix(".png")
    # the demo replaces its own default outputs (run it twice in a folder); a file the user
    # named is only replaced with --overwrite
    own = args.out is None and not _foreign(out)
    overwrite = args.overwrite or own
    if png.exists() and not (args.overwrite or (own and args.png is None)):
        raise RunFileError(f"plot file {str(png)!r} exists; choose another path or pass --overwrite")
    station = Station.load(None)
    print("hil demo: 180 pulses +10 V / 2 ms, then 180 pulses -7 V / 2 ms, read at 0.1 V, "
          f"on a simulated {station.backend['device']} {station.backend['array']} array")
    t0 = time.perf_counter()
    with station.make_backend() as backend:
        run_protocol("pulse_train", backend, out, {"cells": "0,0"}, station=station,
                     overwrite=overwrite, progress=not args.no_progress)
    plot_run(out, png)
    run = Run.open(out)
    ratio = float(run.read_result("on_off_ratio")[0])
    print(f"run file:     {out.resolve()} ({out.stat().st_size / 1024:.0f} KiB, {run.n_events()} events)")
    print(f"plot:         {png.resolve()}")
    print(f"on/off ratio: {ratio:.0f} (G_max / G_min over the train; published: 632)")
    print(f"wall time:    {time.perf_counter() - t0:.2f} s")
    return 0
