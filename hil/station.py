"""Station files: which backend to use and, for a lab, which instruments at which address.

A station is a TOML file::

    [backend]
    type = "sim"              # or "lab"
    array = "h1e1t"           # optional: the array type of the device's family (hil.families)
    device = "ecram_wox_lipon"
    rows = 8
    cols = 8
    seed = 0

    [[instruments]]           # lab only, one table per instrument
    name = "smu"
    driver = "b1500"
    address = "TCPIP::127.0.0.1::5025::SOCKET"
    options = { timeout_s = 10 }

    [limits]                  # optional: tighten the device card's safe range (hil.limits)
    v_max_V = 10.0

A lab station must name ``device`` and ``wiring``; every key is checked
(`hil.station_config`).  With no file the embedded default (a simulated ECRAM H-1E1T array)
is used.  The station's text is stored in every run file so that `hil resume` rebuilds the
same backend.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from hil.backend import Backend
from hil.errors import StationError
from hil.station_config import (BACKEND_TYPES, INSTRUMENT_KEYS, InstrumentConfig, LabConfig,
                                SimConfig, StationConfig, parse_station)

__all__ = ["BACKEND_TYPES", "INSTRUMENT_KEYS", "InstrumentConfig", "LabConfig", "SimConfig",
           "Station", "StationConfig", "default_station_text", "load_station"]


def default_station_text() -> str:
    return (resources.files("hil_data") / "stations" / "default_sim.toml").read_text()


@dataclass
class Station:
    """A parsed, validated station file.

    ``config`` is the typed form (`hil.station_config`: `SimConfig` / `LabConfig`, the
    instruments, the effective `hil.limits.Limits`); ``backend`` and ``instruments`` are the
    same tables as plain dicts (as written, ``options`` defaulted to ``{}``) for code that
    forwards them, e.g. the emulated lab.  Changing ``backend`` (``dataclasses.replace``)
    validates again."""

    text: str
    backend: dict[str, Any]
    instruments: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None
    limits_table: dict[str, Any] = field(default_factory=dict)
    config: StationConfig = field(init=False, repr=False)

    def __post_init__(self) -> None:
        where = str(self.path) if self.path else "station text"
        data: dict[str, Any] = {"backend": self.backend}
        if self.instruments:
            data["instruments"] = self.instruments
        if self.limits_table:
            data["limits"] = self.limits_table
        self.config = parse_station(data, where)
        for inst in self.instruments:
            inst.setdefault("options", {})

    @classmethod
    def from_text(cls, text: str, path: Path | None = None) -> "Station":
        where = str(path) if path else "station text"
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise StationError(f"{where}: not valid TOML: {exc}") from None
        parse_station(data, where)          # every check, with the top-level keys
        return cls(text=text, backend=data["backend"], instruments=data.get("instruments", []),
                   path=path, limits_table=data.get("limits", {}))

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Station":
        """Load a station file, or the embedded default when ``path`` is None."""
        if path is None:
            return cls.from_text(default_station_text())
        path = Path(path)
        if not path.is_file():
            raise StationError(f"station file {str(path)!r} does not exist")
        return cls.from_text(path.read_text(), path)

    @property
    def seed(self) -> int | None:
        return self.config.backend.seed if "seed" in self.backend else None

    @property
    def is_lab(self) -> bool:
        return isinstance(self.config.backend, LabConfig)

    def make_backend(self, seed: int | None = None) -> Backend:
        """Build the backend (with the station's limits); ``seed`` overrides the station's
        (simulated backends only)."""
        cfg = self.config.backend
        if isinstance(cfg, SimConfig):
            from sim_backends import make_sim_backend

            backend: Backend = make_sim_backend(cfg if seed is None else
                                                dataclasses.replace(cfg, seed=int(seed)))
        else:
            from hil.lab import InstrumentBackend
            from hil.serve import emulated_lab   # "loopback" addresses: the station's emulators

            backend = InstrumentBackend.from_station(self, loopback=emulated_lab)
        backend.set_limits(self.config.limits)
        return backend

    def make_recorder(self, seed: int | None = None) -> Backend:
        """A dry-run `hil.dryrun.PlanRecorder` for this station: records every request and
        predicts with the simulator of the station's device card; nothing is sent."""
        from hil.dryrun import PlanRecorder

        return PlanRecorder.for_station(self, seed=seed)


def load_station(path: str | Path | None = None) -> Station:
    """Shorthand for `Station.load`."""
    return Station.load(path)
