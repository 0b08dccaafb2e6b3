"""The driver's HDF5 record of finished chunks: per-instance results that survive a kill.

Layout: ``/jobs/<key>/values`` (n,) float64 (NaN until computed) and ``/jobs/<key>/done``
(n,) bool, attrs ``spec`` (JSON), ``metric``, ``backends``.  ``key`` is a hash of everything
that determines the numbers (model state, data, perturbation, spec, metric), so a journal
only ever resumes the very same job, and one file can hold many jobs (e.g. every time step
of `hil vera eval`).  Like `hil.store`, the file is opened only while a chunk is written and
closed (flushed, fsynced) right after, so a SIGKILL between chunks leaves a consistent file.
Only the driver process writes it; workers return their numbers to the driver.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from hil.errors import RunFileError

FORMAT = "hil-mc-journal"


def _update_tensor(h: "hashlib._Hash", t: torch.Tensor) -> None:
    t = t.detach().cpu().contiguous()
    h.update(f"{tuple(t.shape)}{t.dtype}".encode())
    h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def job_key(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, perturb: Any,
            spec: Any, metric_name: str) -> str:
    """Hex digest identifying a job (same inputs -> same key, across processes)."""
    h = hashlib.sha256()
    buf = io.BytesIO()
    # the pickled module covers its state_dict and plain attributes (e.g. a selected set)
    torch.save(model, buf, pickle_protocol=4)
    h.update(hashlib.sha256(buf.getvalue()).digest())
    for t in (x, y):
        _update_tensor(h, t)
    try:
        h.update(pickle.dumps(perturb, protocol=4))
    except Exception:  # noqa: BLE001 - unpicklable (a lambda): fall back to its name
        h.update(repr(getattr(perturb, "__qualname__", perturb)).encode())
    h.update(json.dumps(spec_dict(spec), sort_keys=True, default=repr).encode())
    h.update(metric_name.encode())
    return h.hexdigest()[:32]


def spec_dict(spec: Any) -> dict[str, Any]:
    """JSON-able view of an InstanceSpec."""
    return {"n": int(spec.n), "root_seed": int(spec.root_seed),
            "t_s": None if spec.t_s is None else float(spec.t_s), "config": repr(spec.config)}


class Journal:
    """Finished chunks of Monte-Carlo jobs in one HDF5 file (see module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _open(self, mode: str) -> h5py.File:
        try:
            f = h5py.File(self.path, mode)
        except OSError as exc:
            raise RunFileError(f"cannot open Monte-Carlo journal {str(self.path)!r}: {exc}") from exc
        if mode != "r" and "format" not in f.attrs:
            f.attrs["format"] = FORMAT
        elif f.attrs.get("format") != FORMAT:
            f.close()
            raise RunFileError(f"{str(self.path)!r} is not a Monte-Carlo journal "
                               f"(format {FORMAT!r})")
        return f

    def start(self, key: str, spec: Any, metric: str, **attrs: Any) -> tuple[np.ndarray, np.ndarray]:
        """Create job ``key`` (or find it); return (values, done) as stored."""
        with self._open("a") as f:
            g = f.require_group("jobs").get(key)
            if g is None:
                g = f["jobs"].create_group(key)
                g.create_dataset("values", data=np.full(spec.n, np.nan))
                g.create_dataset("done", data=np.zeros(spec.n, bool))
                g.attrs["spec"] = json.dumps(spec_dict(spec))
                g.attrs["metric"] = metric
                g.attrs["backends"] = "[]"
                for k, v in attrs.items():
                    g.attrs[k] = json.dumps(v, default=repr)
            values, done = g["values"][()], g["done"][()]
        return values, done

    def record(self, key: str, indices: np.ndarray, values: np.ndarray, backend: str) -> None:
        """Store one finished chunk (values first, then its done flags), flushed to disk."""
        order = np.argsort(indices)
        idx, val = np.asarray(indices)[order], np.asarray(values)[order]
        with self._open("a") as f:
            g = f["jobs"][key]
            g["values"][idx] = val
            g["done"][idx] = True
            used = json.loads(g.attrs["backends"])
            if backend not in used:
                g.attrs["backends"] = json.dumps(used + [backend])
            f.flush()
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def jobs(self) -> dict[str, dict[str, Any]]:
        """Every job: {key: {"spec", "metric", "values", "done", ...attrs}}."""
        if not self.path.exists():
            return {}
        out: dict[str, dict[str, Any]] = {}
        with self._open("r") as f:
            for key, g in f.get("jobs", {}).items():
                d = {k: json.loads(v) if k != "metric" else v for k, v in g.attrs.items()}
                d["values"], d["done"] = g["values"][()], g["done"][()]
                out[key] = d
        return out
