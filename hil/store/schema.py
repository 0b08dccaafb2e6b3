"""Run-file schema: format constants, table dtypes and their units, attribute encoding."""
from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import h5py
import numpy as np

FORMAT = "hil-run"
FORMAT_VERSION = 2
STATUSES = ("running", "complete", "interrupted", "failed")
HISTORY_KINDS = ("start", "interrupt", "fault", "resume", "complete")

OPS: dict[str, int] = {"read": 0, "pulse": 1, "iv": 2, "mtt_read": 3, "wait": 4, "fault": 5}
OP_NAMES = {v: k for k, v in OPS.items()}

EVENT_DTYPE = np.dtype([
    ("t_s", "f8"), ("row", "i4"), ("col", "i4"), ("V_V", "f4"), ("width_s", "f4"),
    ("G_S", "f4"), ("step", "i8"), ("op", "u1"),
])
EVENT_UNITS = {"t_s": "s", "row": "", "col": "", "V_V": "V", "width_s": "s", "G_S": "S",
               "step": "", "op": "code"}

_STR = h5py.string_dtype()
#: /history: what happened to the run (start, interrupts, faults, resumes, completion)
HISTORY_DTYPE = np.dtype([("utc", "S20"), ("kind", "S10"), ("step", "i8"), ("message", _STR)])
#: /faults: faults handled during the run (retried reads, confirmed pulses), one row each
FAULT_DTYPE = np.dtype([("utc", "S20"), ("step", "i8"), ("message", _STR)])
#: /pulses: the pulse ledger, physical pulses per step as counted by the backend
PULSE_DTYPE = np.dtype([("step", "i8"), ("n", "i8"), ("kind", "u1")])
PULSE_KINDS = {"step": 0, "unrecorded": 1, "unknown": 2}

#: appendable tables: name -> (dtype, chunk rows)
TABLES: dict[str, tuple[np.dtype, int]] = {
    "events": (EVENT_DTYPE, 1024), "history": (HISTORY_DTYPE, 64),
    "faults": (FAULT_DTYPE, 256), "pulses": (PULSE_DTYPE, 1024),
}

#: HDF5 settings of every run file: v1.10 format (checksummed metadata) and free space
#: tracked across sessions, so rewritten checkpoints reuse their space after a resume
H5_CREATE = {"libver": ("v110", "v110"), "fs_strategy": "fsm", "fs_persist": True}


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


def utc_now() -> str:
    """Current UTC time, ISO 8601 to the second (``2026-01-01T12:00:00+00:00``)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def utc_stamp() -> bytes:
    """Compact UTC stamp for table rows (``2026-01-01T12:00:00Z``)."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ").encode()


def to_attr(value: Any) -> Any:
    """Python value -> HDF5 attribute (containers and None as JSON text)."""
    if isinstance(value, (dict, list, tuple)) or value is None:
        return json.dumps(value, default=json_default)
    return value


def json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot store {type(obj).__name__} as JSON")


def decode_rows(rows: np.ndarray) -> list[dict[str, Any]]:
    """Table rows -> list of dicts with text fields decoded."""
    out = []
    for r in rows:
        d = {}
        for name in rows.dtype.names:
            v = r[name]
            if isinstance(v, bytes):
                v = v.decode(errors="replace")
            elif isinstance(v, np.generic):
                v = v.item()
            d[name] = v
        out.append(d)
    return out
