"""`hil station show [--station F]`: the station that would be used, and its backend."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("station", help="inspect station files")
    ssub = p.add_subparsers(dest="station_cmd", metavar="ACTION", required=True)
    show = ssub.add_parser("show", help="print the station (default: the embedded simulator)")
    show.add_argument("--station", metavar="F", help="station TOML file")
    show.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from hil.station import Station

    station = Station.load(args.station)
    print(f"# station: {station.path or 'embedded default (simulated)'}")
    print(station.text.rstrip())
    b = station.backend
    print(f"# -> backend {b['type']}: {b.get('array', '?')} array of {b.get('device', '?')}, "
          f"{b.get('rows', '?')} x {b.get('cols', '?')}, {len(station.instruments)} instrument(s)")
    return 0
