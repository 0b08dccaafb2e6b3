"""`Run`: one HDF5 file per run -- provenance, events, maps, results, checkpoint, history.

Layout (ARCHITECTURE.md "Data"):
  /            attrs: format, format_version, hil_version, created_utc, protocol, params (JSON),
               station (TOML text), backend, device (JSON), seed, status, message, shape,
               time_unit, t0_utc_epoch_s (wall-clock time of the run clock's t = 0)
  /events      appendable table, one row per pulse/read (EVENT_DTYPE), units in attrs
  /maps/G_S    (n_snapshots, rows, cols) conductance maps, chunked per snapshot; /maps/t_s
  /history     appendable: utc, kind (start|interrupt|fault|resume|complete), step, message
  /faults      appendable: faults handled during the run (utc, step, message)
  /pulses      appendable pulse ledger: physical pulses per step (kind step|unrecorded|unknown)
  /results/*   protocol summaries        /fits/*   analysis results
  /checkpoint  protocol/backend state of the last commit (arrays as datasets, rest JSON);
               attr ``_counts`` = rows of every table at that commit

Writing: a writer session (`Run.writing`) holds the OS writer lock (`hil.store.lock`) and
keeps the file open through `hil.store.pagefile.CommitFile`; `commit` applies the buffered
rows and the checkpoint and makes them durable atomically (journal + fsync).  A kill at any
moment leaves the last commit.  Writes outside a session are single atomic commits.

Reading (`hil.store.reader.RunReader`, the base class) never takes a lock and never disturbs a
writer; it sees only committed data.
"""
from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from hil import __version__
from hil.errors import DiskFullError, ParameterError, RunDamagedError, RunFileError, WriterBusyError
from hil.store import pagefile
from hil.store.lock import WriterLock, lock_path
from hil.store.schema import (EVENT_DTYPE, EVENT_UNITS, FORMAT, FORMAT_VERSION, H5_CREATE,
                              HISTORY_KINDS, OPS, PULSE_KINDS, STATUSES, TABLES,
                              to_attr, utc_now, utc_stamp)
from hil.store.reader import _ACTIVE, RunReader, _key
from hil.store.state import read_state, write_dataset, write_state

_INT64 = (-(2 ** 63), 2 ** 63 - 1)


class _Session:
    def __init__(self, lock: WriterLock, pf: pagefile.CommitFile, f: h5py.File) -> None:
        self.lock, self.pf, self.f = lock, pf, f
        self.broken: BaseException | None = None


class Run(RunReader):
    """A run file.  Rows are buffered and go to disk in `commit` (one atomic batch)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._buf: dict[str, list[np.ndarray]] = {name: [] for name in TABLES}
        self._maps: list[tuple[float, np.ndarray]] = []
        self._session: _Session | None = None
        self.fsync = True
        self.last_step = -1   # step of the last commit this object made or saw

    # -- creating & opening ------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, protocol: str, params: dict[str, Any],
               station_text: str, backend: str, device: dict[str, Any], seed: int | None,
               shape: tuple[int, int], overwrite: bool = False,
               attrs: dict[str, Any] | None = None) -> "Run":
        """Create a new run file atomically (complete or absent; replaces one only with
        ``overwrite``, and never while another process writes it)."""
        path = Path(path)
        check_output_path(path, overwrite)
        if seed is not None and not (0 <= int(seed) <= _INT64[1]):
            raise ParameterError(f"seed {seed!r}; allowed: an integer 0 .. 2**63-1")
        rows, cols = (int(x) for x in shape)
        lock = WriterLock(path)
        try:
            lock.acquire()
        except OSError as exc:
            raise RunFileError(f"cannot create run file {str(path)!r}: {exc}") from exc
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with h5py.File(tmp, "w", **H5_CREATE) as f:
                a = f.attrs
                a["format"], a["format_version"] = FORMAT, FORMAT_VERSION
                a["hil_version"], a["created_utc"] = __version__, utc_now()
                a["protocol"], a["params"] = protocol, to_attr(params)
                a["station"], a["backend"] = station_text, backend
                a["device"], a["seed"] = to_attr(device), -1 if seed is None else int(seed)
                a["status"], a["message"] = "running", ""
                a["shape"], a["time_unit"] = (rows, cols), "s"
                for key, value in (attrs or {}).items():
                    a[key] = to_attr(value)
                for name, (dtype, chunk) in TABLES.items():
                    ds = f.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype,
                                          chunks=(chunk,), fletcher32=True)
                    if name == "events":
                        ds.attrs["units"] = json.dumps(EVENT_UNITS)
                        ds.attrs["op_codes"] = json.dumps(OPS)
                    if name == "pulses":
                        ds.attrs["kinds"] = json.dumps(PULSE_KINDS)
                maps = f.create_group("maps")
                g = maps.create_dataset("G_S", shape=(0, rows, cols), maxshape=(None, rows, cols),
                                        dtype="f4", chunks=(1, rows, cols), fletcher32=True)
                g.attrs["units"] = "S"
                t = maps.create_dataset("t_s", shape=(0,), maxshape=(None,), dtype="f8",
                                        chunks=(1024,), fletcher32=True)
                t.attrs["units"] = "s"
                for name in ("results", "fits", "checkpoint"):
                    f.create_group(name)
                f["checkpoint"].attrs["step"] = -1
            _fsync_path(tmp)
            os.replace(tmp, path)
            _fsync_path(path.parent if str(path.parent) else Path("."))
            pagefile.journal_path(path).unlink(missing_ok=True)  # a replaced run's journal
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if pagefile.is_disk_full(exc):
                raise DiskFullError(f"cannot create run file {str(path)!r}: disk full "
                                    f"({exc.strerror}); nothing was written") from exc
            raise RunFileError(f"cannot create run file {str(path)!r}: {exc}") from exc
        finally:
            lock.release()
        return cls(path)

    @classmethod
    def open(cls, path: str | Path) -> "Run":
        """Open an existing run file, checking that it is a readable hil run."""
        run = cls(path)
        run.attrs  # validates
        return run

    # -- the writer session --------------------------------------------------------------
    @contextmanager
    def writing(self, fsync: bool = True) -> Iterator["Run"]:
        """Hold the writer lock and keep the file open for commits until the block ends.

        Rolls back a commit a crash cut short, and truncates every table to the last
        commit's counts.  Raises `WriterBusyError` when another process writes the file."""
        if self._session is not None:
            yield self
            return
        key = _key(self.path)
        if key in _ACTIVE:
            raise WriterBusyError(f"{str(self.path)!r} is already open for writing in this process")
        if not self.path.is_file():
            raise RunFileError(f"run file {str(self.path)!r} does not exist")
        lock = WriterLock(self.path)
        lock.acquire()
        try:
            pagefile.recover(self.path, fsync)
            pf = pagefile.CommitFile(self.path, fsync, on_commit=lock.committing)
            try:
                f = h5py.File(pf, "a")
            except OSError as exc:
                pf.close()
                raise self._unreadable(exc) from exc
        except BaseException:
            lock.release()
            raise
        self._session = _Session(lock, pf, f)
        self.fsync = fsync
        _ACTIVE[key] = self
        complete = False
        try:
            self._check_format(f)
            self._truncate_to_commit(f)
            yield self
            complete = str(f.attrs.get("status")) == "complete"
        finally:
            self._end_session(complete)

    def _end_session(self, complete: bool) -> None:
        s, self._session = self._session, None
        _ACTIVE.pop(_key(self.path), None)
        try:
            s.f.close()
            if s.broken is None and s.pf.commits:
                s.pf.commit()  # what HDF5 wrote on close (a session that committed nothing
                # leaves the file byte for byte as it was)
        except OSError:
            pass  # the last commit stands
        finally:
            s.pf.discard()
            s.pf.close()
            if complete:
                pagefile.journal_path(self.path).unlink(missing_ok=True)
            s.lock.release()

    @contextmanager
    def _tx(self, commit: bool) -> Iterator[h5py.File]:
        """The writable file: this process's session, or a one-commit session."""
        owner = self._session and self or _ACTIVE.get(_key(self.path))
        if owner is None:
            with self.writing(self.fsync):
                yield self._session.f
                self._commit_now()
            return
        s = owner._session
        if s.broken is not None:
            raise RunFileError(f"{str(self.path)!r}: an earlier commit failed ({s.broken}); "
                               f"the file holds the last commit: `hil resume {self.path}`")
        yield s.f
        if commit:
            owner._commit_now()

    def _commit_now(self) -> None:
        s = self._session
        try:
            s.f.flush()
            s.pf.commit()
        except OSError as exc:
            s.broken = exc
            s.pf.discard()
            if pagefile.is_disk_full(exc):
                raise DiskFullError(
                    f"disk full writing {str(self.path)!r} ({exc.strerror}): the file holds every "
                    f"batch up to step {self.last_step}; free space, then `hil resume {self.path}`"
                ) from exc
            raise DiskFullError(f"I/O error writing {str(self.path)!r} ({exc}): the file holds every "
                                f"batch up to step {self.last_step}; `hil resume {self.path}`") from exc

    def _truncate_to_commit(self, f: h5py.File) -> None:
        """Tables longer than the last commit's counts (never expected: commits are atomic;
        kept for files written by other tools) are cut back."""
        cp = f.get("checkpoint")
        if cp is None or "_counts" not in cp.attrs:
            return
        counts = json.loads(cp.attrs["_counts"])
        for name, n in counts.items():
            ds = f.get(name)
            if isinstance(ds, h5py.Dataset) and ds.shape[0] > n:
                ds.resize((n,) + ds.shape[1:])
        self.last_step = int(read_state(cp).get("step", -1))

    def close(self) -> None:
        """Nothing to release outside a `writing` block (kept for symmetry)."""

    # -- provenance & status ---------------------------------------------------------------
    @property
    def attrs(self) -> dict[str, Any]:
        """Root attributes, with JSON attributes (params, device) decoded."""
        out = self._view(lambda f: {k: (v.item() if isinstance(v, np.generic) else v)
                                    for k, v in f.attrs.items()})
        for key in ("params", "device"):
            if isinstance(out.get(key), str):
                try:
                    out[key] = json.loads(out[key])
                except ValueError:
                    raise RunDamagedError(f"{str(self.path)!r}: attribute {key!r} is not valid "
                                          "JSON; the file is damaged") from None
        out["shape"] = tuple(int(x) for x in out.get("shape", (0, 0)))
        out["seed"] = None if out.get("seed", -1) < 0 else out["seed"]
        return out

    @property
    def status(self) -> str:
        return self._view(lambda f: str(f.attrs["status"]))

    def set_status(self, status: str, message: str | None = None, **attrs: Any) -> None:
        """Set status and message (and other root attributes); committed at once."""
        if status not in STATUSES:
            raise ValueError(f"status {status!r} not in {STATUSES}")
        with self._tx(commit=True) as f:
            f.attrs["status"] = status
            f.attrs["message"] = message or ""
            for k, v in attrs.items():
                f.attrs[k] = to_attr(v)

    # -- buffered appends ----------------------------------------------------------------------
    def append_events(self, ev: np.ndarray) -> None:
        """Queue event rows (EVENT_DTYPE); they are written by the next `commit`."""
        if ev.dtype != EVENT_DTYPE:
            raise ValueError(f"events must have hil.store.EVENT_DTYPE, got {ev.dtype}")
        self._buf["events"].append(ev.copy())

    def append_map(self, t_s: float, G_S: np.ndarray) -> None:
        """Queue one conductance snapshot (rows, cols) taken at ``t_s``."""
        self._maps.append((float(t_s), np.asarray(G_S, dtype=np.float32)))

    def log_history(self, kind: str, message: str = "", step: int = -1) -> None:
        """Queue a /history row (kind in HISTORY_KINDS), written by the next commit."""
        if kind not in HISTORY_KINDS:
            raise ValueError(f"history kind {kind!r} not in {HISTORY_KINDS}")
        self._buf["history"].append(np.array([(utc_stamp(), kind.encode(), int(step), message)],
                                             dtype=TABLES["history"][0]))

    def log_fault(self, step: int, message: str) -> None:
        """Queue a /faults row (a fault handled during the run)."""
        self._buf["faults"].append(np.array([(utc_stamp(), int(step), message)],
                                            dtype=TABLES["faults"][0]))

    def record_pulses(self, step: int, n: int, kind: str = "step") -> None:
        """Queue a pulse-ledger row: ``n`` physical pulses of ``step`` (-1 = unknown count)."""
        self._buf["pulses"].append(np.array([(int(step), int(n), PULSE_KINDS[kind])],
                                            dtype=TABLES["pulses"][0]))

    def discard_pending(self) -> None:
        """Drop queued rows (a batch that did not complete is never written)."""
        for rows in self._buf.values():
            rows.clear()
        self._maps.clear()

    @property
    def pending(self) -> int:
        """Number of queued event rows and maps not yet on disk."""
        return sum(len(e) for e in self._buf["events"]) + len(self._maps)

    def commit(self, checkpoint: dict[str, Any] | None = None) -> None:
        """Write the queued rows and (optionally) the checkpoint as one atomic, durable commit."""
        with self._tx(commit=True) as f:
            for name, rows in self._buf.items():
                if rows:
                    _append(f[name] if name in f else _legacy_table(f, name), np.concatenate(rows))
            if self._maps:
                g, t = f["maps/G_S"], f["maps/t_s"]
                for ts, G in self._maps:
                    if G.shape != g.shape[1:]:
                        raise ValueError(f"map shape {G.shape} does not match the run's {g.shape[1:]}")
                n = g.shape[0]
                g.resize((n + len(self._maps),) + g.shape[1:])
                t.resize((n + len(self._maps),))
                g[n:] = np.stack([G for _, G in self._maps])
                t[n:] = [ts for ts, _ in self._maps]
            cp = f.require_group("checkpoint")
            if checkpoint is not None:
                write_state(cp, checkpoint)
                self.last_step = int(checkpoint.get("step", -1))
            counts = {name: int(f[name].shape[0]) for name in TABLES if name in f}
            counts["maps/G_S"] = counts["maps/t_s"] = int(f["maps/t_s"].shape[0])
            cp.attrs["_counts"] = json.dumps(counts)
        self.discard_pending()

    flush = commit

    # -- results & fits --------------------------------------------------------------------------
    def write_result(self, name: str, data: Any, units: str, **attrs: Any) -> None:
        """Write ``/results/<name>`` (overwrites) with its units; in a writer session it is
        committed with the next batch."""
        with self._tx(commit=False) as f:
            write_dataset(f.require_group("results"), name, data, units, **attrs)

    def write_fit(self, name: str, data: Any, units: str, **attrs: Any) -> None:
        """Write ``/fits/<name>`` (overwrites) with its units."""
        with self._tx(commit=False) as f:
            write_dataset(f.require_group("fits"), name, data, units, **attrs)

def _append(ds: h5py.Dataset, rows: np.ndarray) -> None:
    n = ds.shape[0]
    ds.resize((n + len(rows),))
    ds[n:] = rows


def _legacy_table(f: h5py.File, name: str) -> h5py.Dataset:
    dtype, chunk = TABLES[name]
    return f.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(chunk,),
                            fletcher32=True)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_output_path(path: Path, overwrite: bool) -> None:
    """A clear error (before anything is created) when ``path`` cannot become a run file."""
    path = Path(path)
    if path.is_dir():
        raise RunFileError(f"output path {str(path)!r} is a directory, not a file")
    if path.exists() and not path.is_file():
        raise RunFileError(f"output path {str(path)!r} is not a regular file (a device or pipe); "
                           "choose a file path")
    if path.exists() and not overwrite:
        raise RunFileError(f"output file {str(path)!r} exists; choose another path or pass --overwrite")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise RunFileError(f"cannot write {str(path)!r}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise RunFileError(f"cannot write {str(path)!r}: directory {str(parent)!r} is not writable")


def free_bytes(path: Path) -> int:
    """Free bytes on the file system that holds ``path``."""
    parent = Path(path).parent if str(Path(path).parent) else Path(".")
    return shutil.disk_usage(parent).free


__all__ = ["Run", "check_output_path", "free_bytes", "lock_path"]
