"""The one registry of lab drivers: station ``driver`` names -> driver class, its station
options and its emulator.

`InstrumentBackend.from_station` builds drivers from it (`make_driver`), the emulated lab
(`hil serve`, ``address = "loopback"``) builds emulators from it (`emulator_spec`), and
`hil list` prints it (`DRIVERS`).  A new driver is its module under ``instruments/``, one
`DriverSpec` here, and its emulator under ``sim_backends/emulators/``.

The registry names classes as ``"module:Class"`` strings and imports them only when used,
so the lab layer imports no simulator code.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from hil.errors import StationError
from hil.transport import Transport

#: options of every instrument that configure its transport, not its driver
TRANSPORT_OPTIONS = ("timeout_s", "baudrate", "backend")


def check_instruments_package() -> Any:
    """Import hil's ``instruments`` package; fail clearly if InstrumentKit's shadows it."""
    mod = importlib.import_module("instruments")
    if not getattr(mod, "__hil__", False):
        raise ImportError(
            f"the 'instruments' package imported from {getattr(mod, '__file__', '?')!r} is not "
            "hil's lab drivers (InstrumentKit installs a package of the same name). Uninstall "
            "InstrumentKit (`pip uninstall instrumentkit`) or use a separate environment.")
    return mod


def load_object(path: str) -> Any:
    """``"package.module:Name"`` -> the object."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class DriverSpec:
    """One driver of the registry.

    ``options``: station option -> (driver keyword, type, default) passed to the driver
    constructor; ``emulator_on``: what its emulator acts on, the shared ``"bench"`` (pins
    behind a switch matrix) or the array ``"physics"`` directly; ``emulator_options``:
    station options passed on to the emulator (same name as keyword).
    """

    name: str
    description: str
    driver: str
    emulator: str
    emulator_on: str = "bench"
    options: Mapping[str, tuple[str, type, Any]] = field(default_factory=dict)
    emulator_options: tuple[str, ...] = ()

    def driver_kwargs(self, options: Mapping[str, Any], where: str = "") -> dict[str, Any]:
        """Driver keywords from an instrument's station options (unknown ones rejected)."""
        unknown = sorted(set(options) - set(self.options) - set(TRANSPORT_OPTIONS)
                         - set(self.emulator_options))
        if unknown:
            allowed = sorted(set(self.options) | set(TRANSPORT_OPTIONS) | set(self.emulator_options))
            raise StationError(f"{where}driver {self.name!r} has no option(s) {unknown}; "
                               f"allowed: {allowed}")
        out = {}
        for opt, (kw, typ, default) in self.options.items():
            value = options.get(opt, default)
            if typ is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise StationError(f"{where}option {opt} = {value!r} of driver {self.name!r} "
                                   "must be an integer")
            out[kw] = typ(value)
        return out


REGISTRY: dict[str, DriverSpec] = {s.name: s for s in (
    DriverSpec("b1500", "Keysight B1500A: SMUs (FLEX over VISA) and B1525A SPGU pulse units",
               "instruments.b1500:B1500", "sim_backends.emulators.b1500:B1500Emulator",
               emulator_options=("unt",)),
    DriverSpec("pulsegen", "SCPI pulse generator (33500/81160-class)",
               "instruments.pulsegen:PulseGenerator",
               "sim_backends.emulators.pulsegen:PulseGenEmulator",
               options={"channel": ("channel", int, 1)}),
    DriverSpec("switch_matrix", "SCPI switch matrix (E5250A/B2200A-class)",
               "instruments.switch_matrix:SwitchMatrix",
               "sim_backends.emulators.switch_matrix:SwitchMatrixEmulator",
               options={"card": ("card", int, 1)}, emulator_options=()),
    DriverSpec("probe_station", "probe station (MPI SENTIO-style remote commands)",
               "instruments.probe_station:ProbeStation",
               "sim_backends.emulators.probe_station:ProbeStationEmulator"),
    DriverSpec("array_controller",
               "open array-controller board (framed binary protocol over serial/TCP)",
               "instruments.array_controller:ArrayController",
               "sim_backends.emulators.array_controller:ArrayControllerEmulator",
               emulator_on="physics"),
)}

class _Descriptions(Mapping[str, str]):
    """Live view of the registry: driver name -> what it drives."""

    def __getitem__(self, name: str) -> str:
        return REGISTRY[name].description

    def __iter__(self) -> Iterator[str]:
        return iter(REGISTRY)

    def __len__(self) -> int:
        return len(REGISTRY)


#: station ``driver`` names -> what they drive (shown by `hil list`; a view of `REGISTRY`)
DRIVERS: Mapping[str, str] = _Descriptions()


def register(spec: DriverSpec) -> None:
    """Add a driver (e.g. from a plugin) to the registry under ``spec.name``."""
    if spec.name in REGISTRY:
        raise StationError(f"driver {spec.name!r} is already registered")
    REGISTRY[spec.name] = spec


def driver_spec(driver: str, unknown: str = "unknown driver") -> DriverSpec:
    """The registry entry of a station ``driver`` name (clear error for an unknown one)."""
    try:
        return REGISTRY[driver]
    except KeyError:
        raise StationError(f"{unknown} {driver!r}; allowed: {', '.join(REGISTRY)}") from None


def make_driver(driver: str, transport: Transport, name: str, options: Mapping[str, Any]) -> Any:
    """Driver object for a station ``driver`` name (its constructor does no I/O)."""
    spec = driver_spec(driver)
    kwargs = spec.driver_kwargs(options, f"instrument {name!r}: ")
    check_instruments_package()
    return load_object(spec.driver)(transport, name, **kwargs)


def emulator_spec(driver: str) -> tuple[Any, str, tuple[str, ...]]:
    """(emulator class, what it acts on: "bench" | "physics", station options it takes) of a
    station ``driver`` name; used by the emulated lab."""
    spec = driver_spec(driver, "no emulator for driver")
    return load_object(spec.emulator), spec.emulator_on, spec.emulator_options
