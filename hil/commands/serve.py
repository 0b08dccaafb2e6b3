"""`hil serve [--station F]`: emulated instruments on loopback TCP / socket:// serial."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve", help="serve the emulated lab of a station on loopback sockets",
        description="Start wire-faithful emulators of every instrument in a lab station and "
                    "print their VISA (TCPIP::127.0.0.1::PORT::SOCKET) and serial "
                    "(socket://127.0.0.1:PORT) resource strings after a header line, then "
                    "'ready, Ctrl-C to stop'.  Several clients may use one instrument at once.")
    p.add_argument("--station", help="lab station TOML, or the name of a bundled one "
                                     "(emulated_lab = SMUs + SPGU, emulated_lab_smu = SMUs "
                                     "only; default: emulated_lab)")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1; another one only if named)")
    p.add_argument("--port-base", type=int, default=None, metavar="N",
                   help="instrument k of the station (its order) listens on N+k, for every "
                        "station including the bundled one (default: the station's ports)")
    p.add_argument("--port", type=int, default=None, choices=[0],
                   help="0 = let the OS pick free ports for every instrument (printed)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from importlib import resources
    from pathlib import Path

    from hil.errors import ParameterError
    from hil.serve import serve_forever
    from hil.station import Station

    bundled = resources.files("hil_data") / "stations"
    name = args.station or ""
    if name and not Path(name).exists() and (bundled / Path(name).with_suffix(".toml").name).is_file():
        # a bundled station by name: ``--station emulated_lab_smu``
        path = bundled / Path(name).with_suffix(".toml").name
        station = Station.from_text(path.read_text(), Path(str(path)))
    elif name:
        station = Station.load(name)
    else:
        station = Station.from_text(
            (resources.files("hil_data") / "stations" / "emulated_lab.toml").read_text())
    if args.port is not None and args.port_base is not None:
        raise ParameterError("give --port 0 or --port-base N, not both")
    return serve_forever(station, host=args.host, port_base=args.port_base,
                         free_ports=args.port == 0)
