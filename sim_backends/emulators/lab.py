"""An emulated lab: one simulated array, its bench wiring and one emulator per instrument.

`EmulatedLab.from_station(station)` builds what a lab station names, so the same station
file drives `hil serve` (emulators on sockets) and in-process loopback tests.
"""
from __future__ import annotations

import threading
from typing import Any, Mapping, Sequence

from hil.errors import StationError
from sim_backends.emulators.array_controller import ArrayControllerEmulator
from sim_backends.emulators.b1500 import B1500Emulator
from sim_backends.emulators.bench import DEFAULT_INPUTS, Bench
from sim_backends.emulators.probe_station import ProbeStationEmulator
from sim_backends.emulators.pulsegen import PulseGenEmulator
from sim_backends.emulators.switch_matrix import SwitchMatrixEmulator
from sim_backends.sim_backend import SimBackend, make_sim_backend

DRIVERS = ("b1500", "pulsegen", "switch_matrix", "probe_station", "array_controller")
_SIM_KEYS = ("array", "device", "rows", "cols", "seed", "faults", "scheme")


def physics_from_backend_table(table: Mapping[str, Any]) -> SimBackend:
    """The simulated array behind an emulated lab, from a station's ``[backend]`` table."""
    opts = {k: v for k, v in table.items() if k in _SIM_KEYS}
    return make_sim_backend({"type": "sim", **opts})


class EmulatedLab:
    """Emulators sharing one bench (lock, routes, levels) and one physics backend."""

    def __init__(self, physics: SimBackend, instruments: Sequence[Mapping[str, Any]],
                 inputs: Sequence[str] = DEFAULT_INPUTS) -> None:
        self.physics = physics
        self.bench = Bench(physics, inputs)
        self.lock: threading.RLock = self.bench.lock
        self.emulators: dict[str, Any] = {}
        for inst in instruments:
            self.emulators[inst["name"]] = self.make(inst["driver"], inst.get("options", {}))

    def make(self, driver: str, options: Mapping[str, Any]) -> Any:
        if driver == "b1500":
            return B1500Emulator(self.bench, **({"unt": options["unt"]} if "unt" in options else {}))
        if driver == "pulsegen":
            return PulseGenEmulator(self.bench)
        if driver == "switch_matrix":
            return SwitchMatrixEmulator(self.bench)
        if driver == "probe_station":
            return ProbeStationEmulator(self.bench)
        if driver == "array_controller":
            return ArrayControllerEmulator(self.physics, lock=self.lock)
        raise StationError(f"no emulator for driver {driver!r}; allowed: {', '.join(DRIVERS)}")

    @classmethod
    def from_station(cls, station: Any) -> "EmulatedLab":
        table = dict(station.backend)
        inputs = table.get("matrix_inputs", DEFAULT_INPUTS)
        return cls(physics_from_backend_table(table), station.instruments, inputs)
