"""`hil serve [--station F]`: emulated instruments on loopback TCP / socket:// serial."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve", help="serve the emulated lab of a station on loopback sockets",
        description="Start wire-faithful emulators of every instrument in a lab station and "
                    "print their VISA (TCPIP::127.0.0.1::PORT::SOCKET) and serial "
                    "(socket://127.0.0.1:PORT) resource strings.  Ctrl-C stops.")
    p.add_argument("--station", help="lab station TOML (default: the bundled emulated lab "
                                     "with every instrument)")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1; another one only if named)")
    p.add_argument("--port-base", type=int, default=None,
                   help="ports for instruments whose address names none: BASE, BASE+1, ...")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from importlib import resources

    from hil.serve import serve_forever
    from hil.station import Station

    if args.station:
        station = Station.load(args.station)
    else:
        station = Station.from_text(
            (resources.files("hil_data") / "stations" / "emulated_lab.toml").read_text())
    return serve_forever(station, host=args.host, port_base=args.port_base)
