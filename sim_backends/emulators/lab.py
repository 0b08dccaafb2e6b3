"""An emulated lab: one simulated array, its bench wiring and one emulator per instrument.

`EmulatedLab.from_station(station, emulator_spec)` builds what a lab station names, so the
same station file drives `hil serve` (emulators on sockets) and in-process loopback
transports.  Which emulator plays which ``driver`` comes from the one driver registry
(`hil.lab.drivers.emulator_spec`), handed in by the station layer: the simulator does not
import the lab layer, and the lab layer does not import the simulator.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Mapping, Sequence

from hil.pins import DEFAULT_INPUTS
from sim_backends.emulators.bench import Bench
from sim_backends.sim_backend import SimBackend, make_sim_backend

_SIM_KEYS = ("array", "device", "rows", "cols", "seed", "faults", "scheme")

#: driver name -> (emulator class, "bench" | "physics", station options it takes)
EmulatorSpec = Callable[[str], tuple[Any, str, tuple[str, ...]]]


def physics_from_backend_table(table: Mapping[str, Any]) -> SimBackend:
    """The simulated array behind an emulated lab, from a station's ``[backend]`` table."""
    opts = {k: v for k, v in table.items() if k in _SIM_KEYS}
    return make_sim_backend({"type": "sim", **opts})


class EmulatedLab:
    """Emulators sharing one bench (lock, routes, levels) and one physics backend."""

    def __init__(self, physics: SimBackend, instruments: Sequence[Mapping[str, Any]],
                 emulator_spec: EmulatorSpec, inputs: Sequence[str] = DEFAULT_INPUTS) -> None:
        self.physics = physics
        self.bench = Bench(physics, inputs)
        self.lock: threading.RLock = self.bench.lock
        self.emulators: dict[str, Any] = {}
        for inst in instruments:
            cls, on, takes = emulator_spec(inst["driver"])
            opts = dict(inst.get("options", {}))
            kwargs = {k: opts[k] for k in takes if k in opts}
            target = self.bench if on == "bench" else physics
            self.emulators[inst["name"]] = cls(target, lock=self.lock, **kwargs)

    @classmethod
    def from_station(cls, station: Any, emulator_spec: EmulatorSpec) -> "EmulatedLab":
        table = dict(station.backend)
        inputs = table.get("matrix_inputs", DEFAULT_INPUTS)
        return cls(physics_from_backend_table(table), station.instruments, emulator_spec, inputs)
