"""The one registry of lab drivers: station ``driver`` names -> driver classes.

Used by `InstrumentBackend.from_station`, the emulated lab and `hil list`.
"""
from __future__ import annotations

import importlib
from typing import Any

from hil.errors import StationError
from hil.transport import Transport


def check_instruments_package() -> Any:
    """Import hil's ``instruments`` package; fail clearly if InstrumentKit's shadows it."""
    mod = importlib.import_module("instruments")
    if not getattr(mod, "__hil__", False):
        raise ImportError(
            f"the 'instruments' package imported from {getattr(mod, '__file__', '?')!r} is not "
            "hil's lab drivers (InstrumentKit installs a package of the same name). Uninstall "
            "InstrumentKit (`pip uninstall instrumentkit`) or use a separate environment.")
    return mod


#: station ``driver`` names -> what they drive (shown by `hil list`)
DRIVERS = {
    "b1500": "Keysight B1500A: SMUs (FLEX over VISA) and B1525A SPGU pulse units",
    "pulsegen": "SCPI pulse generator (33500/81160-class)",
    "switch_matrix": "SCPI switch matrix (E5250A/B2200A-class)",
    "probe_station": "probe station (MPI SENTIO-style remote commands)",
    "array_controller": "open array-controller board (framed binary protocol over serial/TCP)",
}


def make_driver(driver: str, transport: Transport, name: str, options: dict[str, Any]) -> Any:
    """Driver object for a station ``driver`` name."""
    check_instruments_package()
    if driver == "b1500":
        from instruments.b1500 import B1500
        return B1500(transport, name)
    if driver == "pulsegen":
        from instruments.pulsegen import PulseGenerator
        return PulseGenerator(transport, name, channel=int(options.get("channel", 1)))
    if driver == "switch_matrix":
        from instruments.switch_matrix import SwitchMatrix
        return SwitchMatrix(transport, name, card=int(options.get("card", 1)))
    if driver == "probe_station":
        from instruments.probe_station import ProbeStation
        return ProbeStation(transport, name)
    if driver == "array_controller":
        from instruments.array_controller import ArrayController
        return ArrayController(transport, name)
    raise StationError(f"unknown driver {driver!r}; allowed: {', '.join(DRIVERS)}")
