"""`hil serve`: the emulated lab of a station on loopback sockets.

Every instrument of the station gets its own TCP port, reachable both as the VISA
resource ``TCPIP::127.0.0.1::<port>::SOCKET`` and the pyserial URL ``socket://127.0.0.1:<port>``.
The port comes from the instrument's address in the station when it names one
(``TCPIP::127.0.0.1::5025::SOCKET``, ``socket://127.0.0.1:5601``), otherwise from
``--port-base`` (+0, +1, ...) or is chosen by the OS.
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


def start(station: Any, host: str = LOOPBACK, port_base: int | None = None,
          use_station_ports: bool = True) -> Served:
    """Build the station's emulated lab and start one server per instrument."""
    from sim_backends.emulators.lab import EmulatedLab
    from sim_backends.emulators.server import EmulatorServer

    if station.backend.get("type") != "lab":
        raise StationError("hil serve needs a lab station ([backend] type = \"lab\") naming the "
                           "instruments to emulate")
    lab = EmulatedLab.from_station(station)
    servers: list[tuple[dict[str, Any], Any]] = []
    try:
        for k, inst in enumerate(station.instruments):
            port = address_port(str(inst["address"])) if use_station_ports else None
            if port is None:
                port = 0 if port_base is None else port_base + k
            try:
                srv = EmulatorServer(lab.emulators[inst["name"]], host, port, inst["name"])
            except OSError as exc:
                raise StationError(f"cannot listen on {host}:{port} for {inst['name']!r}: {exc}"
                                   ) from None
            servers.append((inst, srv.start()))
    except BaseException:
        for _, srv in servers:
            srv.stop()
        raise
    return Served(lab, servers)


def describe(served: Served, out: TextIO = sys.stdout) -> None:
    """Print one line per instrument: name, driver, VISA resource, serial URL."""
    for inst, srv in served.servers:
        print(f"{inst['name']:<10} {inst['driver']:<16} {srv.visa_resource:<34} {srv.serial_url}",
              file=out)
    out.flush()


def serve_forever(station: Any, host: str = LOOPBACK, port_base: int | None = None,
                  stop: threading.Event | None = None, out: TextIO = sys.stdout,
                  on_start: Callable[[Served], None] | None = None) -> int:
    """Start, print the resource strings, and serve until Ctrl-C (or ``stop`` is set)."""
    if host not in (LOOPBACK, "localhost", "::1"):
        print(f"hil serve: warning: listening on {host}, reachable from other machines",
              file=sys.stderr)
    stop = stop or threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C = clean stop
    try:
        with start(station, host, port_base) as served:
            if on_start is not None:
                on_start(served)
            describe(served, out)
            while not stop.wait(0.2):
                pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return 0
