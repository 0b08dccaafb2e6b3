"""The reading half of `hil.store.run.Run`: every reader sees the last committed state.

Reading never takes a lock and never disturbs a writer: a reader in another process opens the
committed file and retries when a commit was being written meanwhile (the commit counter in
the lock file); a commit cut short by a crash is rolled back first.  Inside the writing
process, readers use the writer's open file.  Fletcher-32 checksum failures raise
`RunDamagedError` instead of showing wrong values.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import h5py
import numpy as np

from hil.errors import RunDamagedError, RunFileError, WriterBusyError
from hil.store import pagefile
from hil.store.lock import WriterLock, commit_generation, writer_active
from hil.store.schema import FORMAT, TABLES, decode_rows
from hil.store.state import read_state

T = TypeVar("T")
#: how long a reader waits for a live writer's commit before giving up
READ_WAIT_S = 30.0
_ACTIVE: dict[str, Any] = {}   # writer sessions (`Run` objects) of this process, by real path


def _damaged(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "checksum" in text or "filter returned failure" in text


def _key(path: Path) -> str:
    return os.path.realpath(path)


class RunReader:
    """Typed readers of a run file (`Run` adds the writing half)."""

    path: Path
    _session: Any = None

    def _view(self, fn: Callable[[h5py.File], T]) -> T:
        """``fn(file)`` on the last committed state (fn must load what it returns)."""
        owner = self._session and self or _ACTIVE.get(_key(self.path))
        if owner is not None:
            return self._guard(lambda: fn(owner._session.f))
        deadline = time.monotonic() + READ_WAIT_S
        delay = 0.005
        while True:
            gen = commit_generation(self.path)
            if pagefile.hot_journal(self.path) and not writer_active(self.path):
                self._recover_as_reader()
                continue
            err: BaseException | None = None
            # odd count: a live writer is writing pages (a dead one's odd count never moves)
            if gen is None or gen % 2 == 0 or not writer_active(self.path):
                try:
                    out = self._guard(lambda: self._read_file(fn))
                    if commit_generation(self.path) == gen:
                        return out
                except RunDamagedError:
                    if not writer_active(self.path):
                        raise
                    err = RunFileError(f"{str(self.path)!r}: a commit was being written")
                except RunFileError as exc:
                    err = exc
            if err is not None and not writer_active(self.path):
                raise err
            if time.monotonic() > deadline:
                raise err or RunFileError(f"{str(self.path)!r}: the writer is still committing "
                                          f"after {READ_WAIT_S:.0f} s")
            time.sleep(delay)
            delay = min(2 * delay, 0.2)

    def _read_file(self, fn: Callable[[h5py.File], T]) -> T:
        if not self.path.exists():
            raise RunFileError(f"run file {str(self.path)!r} does not exist")
        if not self.path.is_file():
            raise RunFileError(f"{str(self.path)!r} is not a regular file")
        try:
            f = h5py.File(self.path, "r", locking=False)
        except OSError as exc:
            raise self._unreadable(exc) from exc
        with f:
            self._check_format(f)
            return fn(f)

    def _guard(self, call: Callable[[], T]) -> T:
        """HDF5 read errors -> one clear `RunFileError` line (checksums: `RunDamagedError`)."""
        try:
            return call()
        except KeyError as exc:
            raise RunFileError(f"{str(self.path)!r} lacks {exc.args[0] if exc.args else exc}; "
                               "it is not a complete hil run file") from None
        except OSError as exc:
            raise self._unreadable(exc) from exc

    def _unreadable(self, exc: BaseException) -> RunFileError:
        if _damaged(exc):
            return RunDamagedError(f"{str(self.path)!r} is damaged: a checksum does not match "
                                   f"({exc}); its bytes changed after they were written")
        return RunFileError(f"{str(self.path)!r} is not a readable HDF5 run file "
                            f"(truncated or not HDF5): {exc}")

    def _check_format(self, f: h5py.File) -> None:
        if f.attrs.get("format") != FORMAT or "events" not in f:
            raise RunFileError(f"{str(self.path)!r} is an HDF5 file but not a hil run (no 'format={FORMAT}')")

    def _recover_as_reader(self) -> None:
        """Roll back a commit a dead writer left unfinished (takes the lock briefly)."""
        lock = WriterLock(self.path)
        try:
            lock.acquire(attempts=1)
        except WriterBusyError:
            return  # a writer came back: it recovers the file itself
        except PermissionError:
            raise RunFileError(f"{str(self.path)!r} has an unfinished commit and this user cannot "
                               "roll it back; open it once with write access (`hil show`)") from None
        try:
            pagefile.recover(self.path)
        finally:
            lock.release()

    def _read(self, where: str) -> np.ndarray:
        def get(f: h5py.File) -> np.ndarray:
            if where not in f:
                raise RunFileError(f"{str(self.path)!r} has no dataset {where!r}")
            return f[where][()]
        return self._view(get)

    def read_result(self, name: str) -> np.ndarray:
        return self._read(f"results/{name}")

    def read_fit(self, name: str) -> np.ndarray:
        return self._read(f"fits/{name}")

    def dataset_attrs(self, where: str) -> dict[str, Any]:
        def get(f: h5py.File) -> dict[str, Any]:
            if where not in f:
                raise RunFileError(f"{str(self.path)!r} has no dataset {where!r}")
            return dict(f[where].attrs)
        return self._view(get)

    def dataset_shape(self, where: str) -> tuple[int, ...]:
        """Shape of a dataset without reading it."""
        def get(f: h5py.File) -> tuple[int, ...]:
            if where not in f:
                raise RunFileError(f"{str(self.path)!r} has no dataset {where!r}")
            return tuple(f[where].shape)
        return self._view(get)

    def list(self, group: str) -> list[str]:
        """Names of the datasets under ``/results``, ``/fits`` or ``/maps`` (recursively)."""
        def get(f: h5py.File) -> list[str]:
            if group not in f:
                return []
            names: list[str] = []
            f[group].visit(lambda n: names.append(n) if isinstance(f[group][n], h5py.Dataset) else None)
            return names
        return self._view(get)

    def read_events(self) -> np.ndarray:
        return self._read("events")

    def read_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """(t_s (n,), G_S (n, rows, cols))."""
        return self._view(lambda f: (f["maps/t_s"][()], f["maps/G_S"][()]))

    def n_events(self) -> int:
        return self._view(lambda f: int(f["events"].shape[0]))

    def n_maps(self) -> int:
        """Number of committed conductance snapshots."""
        return self._view(lambda f: int(f["maps/t_s"].shape[0]))

    def read_map(self, i: int) -> tuple[float, np.ndarray]:
        """(t_s, G_S (rows, cols)) of snapshot ``i`` alone (negative: from the end), without
        reading the others: a live view of a 4 Mb array reads one map, not all of them."""
        def get(f: h5py.File) -> tuple[float, np.ndarray]:
            n = int(f["maps/t_s"].shape[0])
            if not -n <= i < n:
                raise RunFileError(f"{str(self.path)!r} has {n} maps; no map {i}")
            return float(f["maps/t_s"][i]), f["maps/G_S"][i]
        return self._view(get)

    def read_checkpoint(self) -> dict[str, Any]:
        """The last committed checkpoint ({'step': -1} before the first batch)."""
        return self._view(lambda f: read_state(f["checkpoint"]) if "checkpoint" in f else {"step": -1})

    def _table(self, name: str) -> np.ndarray:
        return self._view(lambda f: f[name][()] if name in f else np.zeros(0, TABLES[name][0]))

    def read_history(self) -> list[dict[str, Any]]:
        """/history rows as dicts (utc, kind, step, message)."""
        return decode_rows(self._table("history"))

    def read_faults(self) -> list[dict[str, Any]]:
        """/faults rows as dicts (utc, step, message)."""
        return decode_rows(self._table("faults"))

    def read_pulses(self) -> np.ndarray:
        """The pulse ledger (step, n, kind); see `hil.store.schema.PULSE_KINDS`."""
        return self._table("pulses")

    def verify(self) -> dict[str, int]:
        """Read every dataset (checking every checksum); returns {path: bytes}."""
        def walk(f: h5py.File) -> dict[str, int]:
            sizes: dict[str, int] = {}

            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Dataset):
                    obj[()]
                    sizes[name] = int(obj.size * obj.dtype.itemsize)
            f.visititems(visit)
            return sizes
        return self._view(walk)
