"""`hil serve`: the emulated lab of a station on loopback sockets.

Every instrument of the station gets its own TCP port, reachable both as the VISA
resource ``TCPIP::127.0.0.1::<port>::SOCKET`` and the pyserial URL ``socket://127.0.0.1:<port>``.
Ports, for every station (the bundled one included):

- default: the port the instrument's address names (``TCPIP::127.0.0.1::5025::SOCKET``,
  ``socket://127.0.0.1:5601``), else one chosen by the OS;
- ``port_base=B``: instrument k (station order) listens on ``B + k``;
- ``free_ports=True`` (``--port 0``): every port chosen by the OS.

A port already taken (another ``hil serve``?) is an error naming it and both remedies,
never a silent fallback.  The output is a header line, one line per instrument with its
resource strings, and a ``ready, Ctrl-C to stop`` line.
"""
from __future__ import annotations

import re
import signal
import sys
import threading
from typing import Any, Callable, TextIO

from hil.errors import StationError

LOOPBACK = "127.0.0.1"
_PORT_RE = (re.compile(r"^TCPIP\d*::[^:]+::(\d+)::SOCKET$", re.I), re.compile(r"^socket://[^:]+:(\d+)", re.I))


def address_port(address: str) -> int | None:
    """The TCP port an instrument address names, if any."""
    for rx in _PORT_RE:
        m = rx.match(address.strip())
        if m:
            return int(m.group(1))
    return None


class Served:
    """Running servers of one emulated lab; `stop()` closes them all."""

    def __init__(self, lab: Any, servers: list[tuple[dict[str, Any], Any]]) -> None:
        self.lab = lab
        self.servers = servers

    def by_name(self, name: str) -> Any:
        for inst, srv in self.servers:
            if inst["name"] == name:
                return srv
        raise KeyError(name)

    def stop(self) -> None:
        for _, srv in self.servers:
            srv.stop()

    def __enter__(self) -> "Served":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def emulated_lab(station: Any) -> Any:
    """The emulated lab of a station (`sim_backends.emulators.lab.EmulatedLab`), its
    emulators taken from the one driver registry (`hil.lab.drivers`)."""
    from hil.lab.drivers import emulator_spec
    from sim_backends.emulators.lab import EmulatedLab

    return EmulatedLab.from_station(station, emulator_spec)


def start(station: Any, host: str = LOOPBACK, port_base: int | None = None,
          use_station_ports: bool = True, free_ports: bool = False) -> Served:
    """Build the station's emulated lab and start one server per instrument."""
    from sim_backends.emulators.server import EmulatorServer

    if station.backend.get("type") != "lab":
        raise StationError("hil serve needs a lab station ([backend] type = \"lab\") naming the "
                           "instruments to emulate")
    if port_base is not None and not 1 <= port_base <= 65535 - len(station.instruments):
        raise StationError(f"port base {port_base} out of range: allowed 1..."
                           f"{65535 - len(station.instruments)}")
    lab = emulated_lab(station)
    servers: list[tuple[dict[str, Any], Any]] = []
    try:
        for k, inst in enumerate(station.instruments):
            if port_base is not None:
                port = port_base + k
            elif free_ports or not use_station_ports:
                port = 0
            else:
                port = address_port(str(inst["address"])) or 0
            try:
                srv = EmulatorServer(lab.emulators[inst["name"]], host, port, inst["name"])
            except OSError as exc:
                raise StationError(
                    f"cannot listen on {host}:{port} for {inst['name']!r}: {exc.strerror or exc}"
                    " (another hil serve?); use --port 0 for free ports or --port-base N"
                ) from None
            servers.append((inst, srv.start()))
    except BaseException:
        for _, srv in servers:
            srv.stop()
        raise
    return Served(lab, servers)


def header(station: Any) -> str:
    """One line naming what is served: station file, array, device, seed."""
    b = station.backend
    where = getattr(station, "path", None) or "bundled emulated lab"
    return (f"hil serve: {where}: {b.get('rows', 8)}x{b.get('cols', 8)} {b.get('array', 'h1e1t')} "
            f"array of {b.get('device', 'ecram_wox_lipon')}, seed {b.get('seed', 0)}, "
            f"{len(station.instruments)} instruments")


def describe(served: Served, out: TextIO = sys.stdout) -> None:
    """Print one line per instrument: name, driver, VISA resource, serial URL."""
    for inst, srv in served.servers:
        print(f"{inst['name']:<10} {inst['driver']:<16} {srv.visa_resource:<34} {srv.serial_url}",
              file=out)
    out.flush()


def serve_forever(station: Any, host: str = LOOPBACK, port_base: int | None = None,
                  stop: threading.Event | None = None, out: TextIO = sys.stdout,
                  on_start: Callable[[Served], None] | None = None,
                  free_ports: bool = False) -> int:
    """Start, print the header and resource strings, and serve until Ctrl-C (or ``stop``)."""
    if host not in (LOOPBACK, "localhost", "::1"):
        print(f"hil serve: warning: listening on {host}, reachable from other machines",
              file=sys.stderr)
    stop = stop or threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C = clean stop
    try:
        with start(station, host, port_base, free_ports=free_ports) as served:
            if on_start is not None:
                on_start(served)
            print(header(station), file=out)
            describe(served, out)
            print("ready, Ctrl-C to stop", file=out)
            out.flush()
            while not stop.wait(0.2):
                pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return 0
