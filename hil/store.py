"""One HDF5 file per run: provenance, events, maps, results, checkpoint, fits.

Layout (ARCHITECTURE.md "Data"):
  /            attrs: format, format_version, hil_version, created_utc, protocol, params (JSON),
               station (TOML text), backend, device (JSON), seed, status, message, shape, time_unit
  /events      appendable table, one row per pulse/read (EVENT_DTYPE), units in attrs
  /maps/G_S    (n_snapshots, rows, cols) conductance maps, chunked per snapshot; /maps/t_s
  /results/*   protocol summaries        /fits/*   analysis results
  /checkpoint  attrs step + protocol/backend state (arrays as datasets, the rest as JSON)

Crash safety: the file is opened only while a batch is written and closed (flushed) right
after, so a crash or SIGKILL between batches leaves a consistent file, and any reader (h5py,
HDFView, `hil show`) can open it while a run is going.  This replaces SWMR, which cannot add
new datasets after it starts and leaves a "file open for write" flag behind after a crash.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from hil import __version__
from hil.errors import RunFileError

FORMAT = "hil-run"
FORMAT_VERSION = 1
STATUSES = ("running", "complete", "interrupted", "failed")

OPS: dict[str, int] = {"read": 0, "pulse": 1, "iv": 2, "mtt_read": 3, "wait": 4, "fault": 5}
OP_NAMES = {v: k for k, v in OPS.items()}
_STATE_JSON = "_state_json"

EVENT_DTYPE = np.dtype([
    ("t_s", "f8"), ("row", "i4"), ("col", "i4"), ("V_V", "f4"), ("width_s", "f4"),
    ("G_S", "f4"), ("step", "i8"), ("op", "u1"),
])
EVENT_UNITS = {"t_s": "s", "row": "", "col": "", "V_V": "V", "width_s": "s", "G_S": "S",
               "step": "", "op": "code"}


def make_events(n: int, **fields: Any) -> np.ndarray:
    """Build ``n`` event rows; each field is a scalar or an array of length ``n``.

    ``op`` may be given by name (``op="pulse"``).  Unset fields are 0 (row/col -1, G_S NaN).
    """
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["row"] = ev["col"] = -1
    ev["G_S"] = np.nan
    for name, value in fields.items():
        if name not in EVENT_DTYPE.names:
            raise ValueError(f"unknown event field {name!r}; fields are {EVENT_DTYPE.names}")
        if name == "op" and isinstance(value, str):
            if value not in OPS:
                raise ValueError(f"unknown op {value!r}; allowed: {sorted(OPS)}")
            value = OPS[value]
        ev[name] = value
    return ev


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _to_attr(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)) or value is None:
        return json.dumps(value, default=_json_default)
    return value


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot store {type(obj).__name__} as JSON")


def _write_dataset(group: h5py.Group, name: str, data: Any, units: str | None = None,
                   **attrs: Any) -> h5py.Dataset:
    """Write (or overwrite in place when the shape matches, so files do not grow)."""
    data = np.asarray(data)
    if data.dtype.kind == "U":
        data = data.astype(h5py.string_dtype())
    if name in group:
        ds = group[name]
        if ds.shape == data.shape and ds.dtype == data.dtype:
            ds[...] = data
        else:
            del group[name]
            ds = group.create_dataset(name, data=data)
    else:
        ds = group.create_dataset(name, data=data)
    if units is not None:
        ds.attrs["units"] = units
    for key, value in attrs.items():
        ds.attrs[key] = _to_attr(value)
    return ds


class Run:
    """A run file.  Writes are buffered and go to disk in `commit` (one batch)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._events: list[np.ndarray] = []
        self._maps: list[tuple[float, np.ndarray]] = []

    # -- opening ---------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, protocol: str, params: dict[str, Any],
               station_text: str, backend: str, device: dict[str, Any], seed: int | None,
               shape: tuple[int, int], overwrite: bool = False) -> "Run":
        """Create a new run file (refuses to replace one unless ``overwrite``)."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise RunFileError(f"output file {str(path)!r} exists; choose another path or pass --overwrite")
        if path.is_dir():
            raise RunFileError(f"output path {str(path)!r} is a directory, not a file")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise RunFileError(f"cannot write {str(path)!r}: directory {str(parent)!r} does not exist")
        if not os.access(parent, os.W_OK):
            raise RunFileError(f"cannot write {str(path)!r}: directory {str(parent)!r} is not writable")
        rows, cols = (int(x) for x in shape)
        try:
            with h5py.File(path, "w") as f:
                a = f.attrs
                a["format"], a["format_version"] = FORMAT, FORMAT_VERSION
                a["hil_version"], a["created_utc"] = __version__, _utc_now()
                a["protocol"], a["params"] = protocol, _to_attr(params)
                a["station"], a["backend"] = station_text, backend
                a["device"], a["seed"] = _to_attr(device), -1 if seed is None else int(seed)
                a["status"], a["message"] = "running", ""
                a["shape"], a["time_unit"] = (rows, cols), "s"
                ev = f.create_dataset("events", shape=(0,), maxshape=(None,), dtype=EVENT_DTYPE,
                                      chunks=(1024,))
                ev.attrs["units"] = json.dumps(EVENT_UNITS)
                ev.attrs["op_codes"] = json.dumps(OPS)
                maps = f.create_group("maps")
                g = maps.create_dataset("G_S", shape=(0, rows, cols), maxshape=(None, rows, cols),
                                        dtype="f4", chunks=(1, rows, cols))
                g.attrs["units"] = "S"
                t = maps.create_dataset("t_s", shape=(0,), maxshape=(None,), dtype="f8", chunks=(1024,))
                t.attrs["units"] = "s"
                for name in ("results", "fits", "checkpoint"):
                    f.create_group(name)
                f["checkpoint"].attrs["step"] = -1
        except OSError as exc:
            raise RunFileError(f"cannot create run file {str(path)!r}: {exc}") from exc
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> "Run":
        """Open an existing run file, checking that it is a readable hil run."""
        run = cls(path)
        run.attrs  # validates
        return run

    def _h5(self, mode: str = "r") -> h5py.File:
        if not self.path.exists():
            raise RunFileError(f"run file {str(self.path)!r} does not exist")
        try:
            f = h5py.File(self.path, mode, locking=False) if mode == "r" else h5py.File(self.path, mode)
        except OSError as exc:
            raise RunFileError(
                f"{str(self.path)!r} is not a readable HDF5 run file (truncated or not HDF5): {exc}") from exc
        if f.attrs.get("format") != FORMAT or "events" not in f:
            f.close()
            raise RunFileError(f"{str(self.path)!r} is an HDF5 file but not a hil run (no 'format={FORMAT}')")
        return f

    # -- provenance & status ---------------------------------------------------------
    @property
    def attrs(self) -> dict[str, Any]:
        """Root attributes, with JSON attributes (params, device) decoded."""
        with self._h5() as f:
            out = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
        for key in ("params", "device"):
            if isinstance(out.get(key), str):
                out[key] = json.loads(out[key])
        out["shape"] = tuple(int(x) for x in out["shape"])
        out["seed"] = None if out.get("seed", -1) < 0 else out["seed"]
        return out

    @property
    def status(self) -> str:
        with self._h5() as f:
            return str(f.attrs["status"])

    def set_status(self, status: str, message: str | None = None, **attrs: Any) -> None:
        if status not in STATUSES:
            raise ValueError(f"status {status!r} not in {STATUSES}")
        with self._h5("a") as f:
            f.attrs["status"] = status
            f.attrs["message"] = message or ""
            for k, v in attrs.items():
                f.attrs[k] = _to_attr(v)

    # -- buffered appends --------------------------------------------------------------
    def append_events(self, ev: np.ndarray) -> None:
        """Queue event rows (EVENT_DTYPE); they are written by the next `commit`/`flush`."""
        if ev.dtype != EVENT_DTYPE:
            raise ValueError(f"events must have hil.store.EVENT_DTYPE, got {ev.dtype}")
        self._events.append(ev.copy())

    def append_map(self, t_s: float, G_S: np.ndarray) -> None:
        """Queue one conductance snapshot (rows, cols) taken at ``t_s``."""
        self._maps.append((float(t_s), np.asarray(G_S, dtype=np.float32)))

    @property
    def pending(self) -> int:
        """Number of queued event rows and maps not yet on disk."""
        return sum(len(e) for e in self._events) + len(self._maps)

    def commit(self, checkpoint: dict[str, Any] | None = None) -> None:
        """Write queued events/maps and (optionally) the checkpoint, then close the file."""
        with self._h5("a") as f:
            if self._events:
                ev = np.concatenate(self._events)
                ds = f["events"]
                n = ds.shape[0]
                ds.resize((n + len(ev),))
                ds[n:] = ev
            if self._maps:
                g, t = f["maps/G_S"], f["maps/t_s"]
                n = g.shape[0]
                g.resize((n + len(self._maps),) + g.shape[1:])
                t.resize((n + len(self._maps),))
                for i, (ts, G) in enumerate(self._maps):
                    if G.shape != g.shape[1:]:
                        raise ValueError(f"map shape {G.shape} does not match the run's {g.shape[1:]}")
                    g[n + i], t[n + i] = G, ts
            if checkpoint is not None:
                _write_state(f["checkpoint"], checkpoint)
        self._events.clear()
        self._maps.clear()

    flush = commit

    # -- results & fits ------------------------------------------------------------------
    def write_result(self, name: str, data: Any, units: str, **attrs: Any) -> None:
        """Write ``/results/<name>`` (overwrites) with its units."""
        with self._h5("a") as f:
            _write_dataset(f.require_group("results"), name, data, units, **attrs)

    def write_fit(self, name: str, data: Any, units: str, **attrs: Any) -> None:
        """Write ``/fits/<name>`` (overwrites) with its units."""
        with self._h5("a") as f:
            _write_dataset(f.require_group("fits"), name, data, units, **attrs)

    def _read(self, where: str) -> np.ndarray:
        with self._h5() as f:
            if where not in f:
                raise RunFileError(f"{str(self.path)!r} has no dataset {where!r}")
            return f[where][()]

    def read_result(self, name: str) -> np.ndarray:
        return self._read(f"results/{name}")

    def read_fit(self, name: str) -> np.ndarray:
        return self._read(f"fits/{name}")

    def dataset_attrs(self, where: str) -> dict[str, Any]:
        with self._h5() as f:
            if where not in f:
                raise RunFileError(f"{str(self.path)!r} has no dataset {where!r}")
            return dict(f[where].attrs)

    def list(self, group: str) -> list[str]:
        """Names of the datasets under ``/results``, ``/fits`` or ``/maps`` (recursively)."""
        with self._h5() as f:
            if group not in f:
                return []
            names: list[str] = []
            f[group].visit(lambda n: names.append(n) if isinstance(f[group][n], h5py.Dataset) else None)
            return names

    # -- typed readers ---------------------------------------------------------------------
    def read_events(self) -> np.ndarray:
        return self._read("events")

    def read_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """(t_s (n,), G_S (n, rows, cols))."""
        with self._h5() as f:
            return f["maps/t_s"][()], f["maps/G_S"][()]

    def n_events(self) -> int:
        with self._h5() as f:
            return int(f["events"].shape[0])

    def read_checkpoint(self) -> dict[str, Any]:
        """The last committed checkpoint ({'step': -1} before the first batch)."""
        with self._h5() as f:
            return _read_state(f["checkpoint"])


def _write_state(group: h5py.Group, state: dict[str, Any]) -> None:
    """Arrays become datasets, everything else one JSON blob; both rewritten in place.

    The blob is a fixed-size byte string padded to a power of two, so checkpoints that are
    rewritten after every batch reuse their space instead of growing the file.
    """
    plain: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, dict) and any(isinstance(v, np.ndarray) for v in _walk(value)):
            _write_state(group.require_group(key), value)
        elif isinstance(value, np.ndarray):
            _write_dataset(group, key, value)
        else:
            plain[key] = value
    blob = json.dumps(plain, default=_json_default).encode()
    cap = 1 << max(6, (len(blob) - 1).bit_length())
    _write_dataset(group, _STATE_JSON, np.array(blob, dtype=f"S{cap}"))


def _walk(d: dict[str, Any]) -> Iterator[Any]:
    for v in d.values():
        if isinstance(v, dict):
            yield from _walk(v)
        else:
            yield v


def _read_state(group: h5py.Group) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in group.attrs.items():  # attributes set at creation (step = -1)
        out[key] = value.item() if isinstance(value, np.generic) else value
    for key, item in group.items():
        if key == _STATE_JSON:
            out.update(json.loads(item[()].decode()))
        else:
            out[key] = _read_state(item) if isinstance(item, h5py.Group) else item[()]
    return out
