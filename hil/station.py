"""Station files: which backend to use and, for a lab, which instruments at which address.

A station is a TOML file::

    [backend]
    type = "sim"              # or "lab"
    array = "h1e1t"           # simulated array type (sim) / array wiring (lab)
    device = "ecram_wox_lipon"
    rows = 8
    cols = 8
    seed = 0

    [[instruments]]           # lab only, one table per instrument
    name = "smu"
    driver = "b1500"
    address = "TCPIP::127.0.0.1::5025::SOCKET"
    options = { timeout_s = 10 }

With no file the embedded default (a simulated ECRAM H-1E1T array) is used.  The station's
text is stored in every run file so that `hil resume` rebuilds the same backend.
"""
from __future__ import annotations

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

BACKEND_TYPES = ("sim", "lab")
INSTRUMENT_KEYS = ("name", "driver", "address")


def default_station_text() -> str:
    return (resources.files("hil_data") / "stations" / "default_sim.toml").read_text()


@dataclass
class Station:
    """A parsed station file."""

    text: str
    backend: dict[str, Any]
    instruments: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None

    @classmethod
    def from_text(cls, text: str, path: Path | None = None) -> "Station":
        where = str(path) if path else "station text"
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise StationError(f"{where}: not valid TOML: {exc}") from None
        backend = data.get("backend")
        if not isinstance(backend, dict):
            raise StationError(f"{where}: missing [backend] table (type = one of {list(BACKEND_TYPES)})")
        kind = backend.get("type")
        if kind not in BACKEND_TYPES:
            raise StationError(f"{where}: [backend] type = {kind!r}; allowed: {list(BACKEND_TYPES)}")
        instruments = data.get("instruments", [])
        if not isinstance(instruments, list):
            raise StationError(f"{where}: 'instruments' must be an array of tables ([[instruments]])")
        for i, inst in enumerate(instruments):
            missing = [k for k in INSTRUMENT_KEYS if k not in inst]
            if missing:
                raise StationError(f"{where}: instrument #{i + 1} lacks {', '.join(missing)} "
                                   f"(each needs {', '.join(INSTRUMENT_KEYS)})")
            inst.setdefault("options", {})
        if kind == "lab" and not instruments:
            raise StationError(f"{where}: a lab station needs at least one [[instruments]] table")
        unknown = sorted(set(data) - {"backend", "instruments", "serve"})
        if unknown:
            raise StationError(f"{where}: unknown top-level key(s) {unknown}; allowed: backend, instruments, serve")
        return cls(text=text, backend=backend, instruments=instruments, path=path)

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
        return self.backend.get("seed")

    def make_backend(self, seed: int | None = None) -> Backend:
        """Build the backend; ``seed`` overrides the station's (simulated backends only)."""
        opts = dict(self.backend)
        if seed is not None:
            opts["seed"] = int(seed)
        if opts["type"] == "sim":
            from sim_backends import make_sim_backend

            return make_sim_backend(opts)
        from hil.lab import InstrumentBackend

        return InstrumentBackend.from_station(self)


def load_station(path: str | Path | None = None) -> Station:
    """Shorthand for `Station.load`."""
    return Station.load(path)
