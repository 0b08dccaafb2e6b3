"""`hil run PROTOCOL`: run a protocol on a station into a new HDF5 run file."""
from __future__ import annotations

import argparse

from hil.commands._common import add_run_options, default_out, parse_sets, print_run_summary


class ProtocolHelp(argparse.Action):
    """``hil run PROTOCOL --help``: the usual help, then PROTOCOL's parameters (`hil list PROTOCOL`)."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: ANN001
        parser.print_help()
        name = getattr(namespace, "protocol", None)
        if name:
            from hil.commands.list import protocol_text
            from hil.errors import ParameterError
            from protocols.base import get_protocol

            try:
                print("\nparameters (--set KEY=VALUE) of " + protocol_text(get_protocol(name)))
            except ParameterError as exc:
                parser.exit(2, f"hil: error: {exc}\n")
        else:
            print("\n`hil run PROTOCOL --help` or `hil list PROTOCOL` lists a protocol's parameters")
        parser.exit()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a protocol (see `hil list`)", add_help=False,
                       description="Run PROTOCOL on the station's backend into one HDF5 run file.")
    p.add_argument("-h", "--help", action=ProtocolHelp, nargs=0,
                   help="show this help (after PROTOCOL: also that protocol's parameters) and exit")
    p.add_argument("protocol", help="protocol name, e.g. pulse_train")
    p.add_argument("--out", "-o", metavar="F", help="run file to create (default: PROTOCOL-DATE-TIME.h5)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="protocol parameter (repeatable); units allowed: width_s=2ms, v_pot_V=10V, horizon_s=1y")
    p.add_argument("--dry-run", action="store_true",
                   help="send nothing: run against a plan recorder (the simulator of the station's device "
                        "card) and print pulses, max voltage per line, estimated bench time and the "
                        "instruments; writes a run file only with --out")
    p.add_argument("--watch", action="store_true",
                   help="follow the run in the browser (`hil watch`); the page stays up after the "
                        "run ends until Ctrl-C")
    p.add_argument("--no-browser", action="store_true", help="with --watch: print the address only")
    add_run_options(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from hil.runner import run_protocol
    from hil.station import Station
    from protocols.base import get_protocol

    cls = get_protocol(args.protocol)
    params = parse_sets(args.set)
    station = Station.load(args.station)
    if args.dry_run:
        from hil.dryrun import dry_run

        rec, path = dry_run(cls, station, params, out=args.out, seed=args.seed,
                            overwrite=args.overwrite, progress=not args.no_progress)
        print("\n".join(rec.report()))
        if path is not None:
            print(f"predicted run file: {path}")
        return 0
    out = args.out or default_out(cls.name)
    watching = None
    if args.watch:
        from hil.commands.watch import watch_when_created

        watching = watch_when_created(str(out), open_browser=not args.no_browser)
    with station.make_backend(seed=args.seed) as backend:
        path = run_protocol(cls, backend, out, params, station=station,
                            overwrite=args.overwrite, progress=not args.no_progress)
    print(f"run file: {path}")
    print_run_summary(path)
    if watching:
        _keep_watching(watching[0])
    return 0


def _keep_watching(server) -> None:  # noqa: ANN001 (hil.watch.WatchServer)
    import time

    print(f"hil watch: the run ended; {server.url} stays up until Ctrl-C", flush=True)
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
