"""Checkpoint state <-> HDF5 group: arrays as (checksummed) datasets, the rest as one JSON blob."""
from __future__ import annotations

import json
from typing import Any, Iterator

import h5py
import numpy as np

from hil.store.schema import json_default, to_attr

STATE_JSON = "_state_json"


def write_dataset(group: h5py.Group, name: str, data: Any, units: str | None = None,
                  **attrs: Any) -> h5py.Dataset:
    """Write ``group[name]``: in place when shape and dtype match (no growth), else replaced.

    Arrays with elements are chunked with Fletcher-32 checksums, so a flipped bit is
    reported on read instead of shown as valid data."""
    data = np.asarray(data)
    if data.dtype.kind == "U":
        data = data.astype(h5py.string_dtype())
    ds = group.get(name)
    if isinstance(ds, h5py.Dataset) and ds.shape == data.shape and ds.dtype == data.dtype:
        ds[...] = data
    else:
        if name in group:
            del group[name]
        kw = {"chunks": _chunks(data), "fletcher32": True} if data.ndim and data.size else {}
        ds = group.create_dataset(name, data=data, **kw)
    if units is not None:
        ds.attrs["units"] = units
    for key, value in attrs.items():
        ds.attrs[key] = to_attr(value)
    return ds


#: chunk size of large arrays: h5py's guess (~32 KB at 4 Mb cells) costs one call of the
#: page overlay (`hil.store.pagefile`) per chunk, ~500 per 16 MB array; 512 KB chunks stay
#: within HDF5's default 1 MB chunk cache, so reading a few rows does not re-read a chunk
CHUNK_BYTES = 1 << 19


def _chunks(data: np.ndarray) -> tuple[int, ...] | bool:
    """Whole rows (of the last axes) up to ~`CHUNK_BYTES`, or h5py's guess for small arrays."""
    if data.nbytes <= CHUNK_BYTES:
        return True
    row = data.nbytes // data.shape[0]
    if row > CHUNK_BYTES:
        return True
    return (max(1, CHUNK_BYTES // row),) + data.shape[1:]


def write_state(group: h5py.Group, state: dict[str, Any]) -> None:
    """Arrays become datasets, everything else one JSON blob; keys no longer in ``state``
    are removed, so a reader never sees a stale array next to a new step."""
    plain: dict[str, Any] = {}
    keep = {STATE_JSON}
    for key, value in state.items():
        if isinstance(value, dict) and any(isinstance(v, np.ndarray) for v in _walk(value)):
            sub = group.get(key)
            if not isinstance(sub, h5py.Group):
                if key in group:
                    del group[key]
                sub = group.create_group(key)
            write_state(sub, value)
            keep.add(key)
        elif isinstance(value, np.ndarray):
            write_dataset(group, key, value)
            keep.add(key)
        else:
            plain[key] = value
    for key in [k for k in group if k not in keep]:
        del group[key]
    blob = json.dumps(plain, default=json_default).encode()
    cap = 1 << max(6, (len(blob) - 1).bit_length())  # padded: rewrites reuse the space
    write_dataset(group, STATE_JSON, np.array(blob, dtype=f"S{cap}"))


def _walk(d: dict[str, Any]) -> Iterator[Any]:
    for v in d.values():
        if isinstance(v, dict):
            yield from _walk(v)
        else:
            yield v


def read_state(group: h5py.Group) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in group.attrs.items():
        if not key.startswith("_"):  # "_counts": the commit record, not protocol state
            out[key] = value.item() if isinstance(value, np.generic) else value
    for key, item in group.items():
        if key == STATE_JSON:
            out.update(json.loads(item[()].rstrip(b"\0").decode()))
        else:
            out[key] = read_state(item) if isinstance(item, h5py.Group) else item[()]
    return out


__all__ = ["write_dataset", "write_state", "read_state", "to_attr"]
