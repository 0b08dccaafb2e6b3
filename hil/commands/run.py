"""`hil run PROTOCOL`: run a protocol on a station into a new HDF5 run file."""
from __future__ import annotations

import argparse

from hil.commands._common import add_run_options, default_out, parse_sets, print_run_summary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a protocol (see `hil list`)",
                       description="Run PROTOCOL on the station's backend into one HDF5 run file.")
    p.add_argument("protocol", help="protocol name, e.g. pulse_train")
    p.add_argument("--out", "-o", metavar="F", help="run file to create (default: PROTOCOL-DATE-TIME.h5)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="protocol parameter (repeatable)")
    add_run_options(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from hil.runner import run_protocol
    from hil.station import Station
    from protocols.base import get_protocol

    cls = get_protocol(args.protocol)
    params = parse_sets(args.set)
    station = Station.load(args.station)
    seed = args.seed if args.seed is not None else station.seed
    out = args.out or default_out(cls.name)
    with station.make_backend(seed=args.seed) as backend:
        path = run_protocol(cls, backend, out, params, station_text=station.text, seed=seed,
                            overwrite=args.overwrite, progress=not args.no_progress)
    print(f"run file: {path}")
    print_run_summary(path)
    return 0
