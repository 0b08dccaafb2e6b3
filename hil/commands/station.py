"""`hil station show|check [--station F]`: the station that would be used, and a query-only
connection check of a lab station's instruments."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("station", help="inspect station files, check a lab station's instruments")
    ssub = p.add_subparsers(dest="station_cmd", metavar="ACTION", required=True)
    show = ssub.add_parser("show", help="print the station (default: the embedded simulator)")
    show.add_argument("--station", metavar="F", help="station TOML file")
    show.set_defaults(func=main)
    check = ssub.add_parser("check", help="connect to every instrument of a lab station, identify it, "
                                          "read options and error queues; enables no output")
    check.add_argument("--station", metavar="F", help="lab station TOML file")
    check.set_defaults(func=check_main)


def main(args: argparse.Namespace) -> int:
    from hil.station import Station

    station = Station.load(args.station)
    cfg = station.config.backend
    print(f"# station: {station.path or 'embedded default (simulated)'}")
    print(station.text.rstrip())
    print(f"# -> backend {cfg.type}: {cfg.array} array of {cfg.device}, {cfg.rows} x {cfg.cols}, "
          f"{len(station.config.instruments)} instrument(s)"
          + (f", wiring {cfg.wiring}" if station.is_lab else ""))
    lim = station.config.limits
    print(f"# -> limits: {lim.describe()} ({lim.source})")
    return 0


def check_main(args: argparse.Namespace) -> int:
    from hil.station import Station
    from hil.station_check import check_station

    station = Station.load(args.station)
    results = check_station(station)
    for r in results:
        print(f"{r.name} ({r.driver} at {r.address}): {'ok' if r.ok else 'PROBLEM'}")
        for line in r.lines:
            print(f"    {line}")
    bad = [r.name for r in results if not r.ok]
    print(f"{len(results) - len(bad)} of {len(results)} instrument(s) ok; no output was enabled")
    return 1 if bad else 0
