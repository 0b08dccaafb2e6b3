"""The writer lock of a run file: an OS lock on ``RUN.h5.lock``, never a PID check.

`fcntl.flock` locks belong to the open file and vanish when the process dies (also when it
is a zombie not yet reaped: the kernel closed its files), so a killed writer never blocks
`hil resume`, and a PID reused by another program means nothing.  The lock file also holds
a commit counter (a seqlock): odd while a commit writes pages, so readers in other
processes know when to retry instead of reading a half-written file.
"""
from __future__ import annotations

import json
import os
import socket
import struct
import time
from pathlib import Path

from hil.errors import WriterBusyError

try:
    import fcntl

    def _try_lock(fd: int, shared: bool = False) -> bool:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
except ImportError:  # pragma: no cover (Windows): a byte-range lock does the same job
    import msvcrt

    def _try_lock(fd: int, shared: bool = False) -> bool:
        os.lseek(fd, 1 << 20, 0)  # lock a byte past the data, so pread/pwrite stay free
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            if shared:  # a probe only: give it back at once
                os.lseek(fd, 1 << 20, 0)
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 1 << 20, 0)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

LOCK_SUFFIX = ".lock"
_GEN = struct.Struct("<Q")
_INFO_AT = 64


def lock_path(path: Path) -> Path:
    return Path(str(path) + LOCK_SUFFIX)


class WriterLock:
    """Exclusive, non-blocking writer lock held for a writer's whole lifetime."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd = -1
        self._gen = 0

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def acquire(self, attempts: int = 20) -> None:
        """Take the lock or raise `WriterBusyError` naming the holder.

        A few quick retries ride over readers probing the lock (`writer_active`)."""
        lp = lock_path(self.path)
        for attempt in range(attempts):
            fd = os.open(lp, os.O_RDWR | os.O_CREAT, 0o644)
            if _try_lock(fd):
                try:  # the holder before us may have removed the file: lock the one on disk
                    if os.fstat(fd).st_ino == os.stat(lp).st_ino:
                        break
                except FileNotFoundError:
                    pass
                _unlock(fd)
            elif attempt == attempts - 1:
                holder = _holder(fd)
                os.close(fd)
                raise WriterBusyError(
                    f"{str(self.path)!r} is being written by another process ({holder}); "
                    "wait for it to finish, or stop it (Ctrl-C) and then `hil resume`")
            os.close(fd)
            time.sleep(0.02)
        else:
            raise WriterBusyError(f"{str(self.path)!r}: its lock file keeps changing; another "
                                  "process is starting and stopping writers")
        self._fd = fd
        raw = os.pread(fd, _GEN.size, 0)
        old = _GEN.unpack(raw)[0] if len(raw) == _GEN.size else 0
        # never reuse a counter value, even when the lock file was removed and made anew
        self._gen = max(old + 1, time.time_ns()) & ~1
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "since_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        os.ftruncate(fd, _INFO_AT)
        os.pwrite(fd, _GEN.pack(self._gen), 0)
        os.pwrite(fd, info.encode(), _INFO_AT)

    def committing(self, active: bool) -> None:
        """Bump the commit counter: odd while pages are being written, even otherwise."""
        if self._fd >= 0:
            self._gen += 1
            os.pwrite(self._fd, _GEN.pack(self._gen), 0)

    def release(self, remove: bool = True) -> None:
        """Release and delete the lock file (it exists only while a writer lives, or after
        a crash; `acquire` checks it locked the file still on disk, so this is race-free)."""
        if self._fd < 0:
            return
        if remove:
            try:
                lock_path(self.path).unlink()
            except (FileNotFoundError, PermissionError):
                pass
        _unlock(self._fd)
        os.close(self._fd)
        self._fd = -1

    def __del__(self) -> None:  # a writer object dropped without release
        if self._fd >= 0:
            try:
                os.close(self._fd)
            except OSError:
                pass


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, _INFO_AT).decode() or "{}")
        return f"pid {info['pid']} on {info['host']} since {info['since_utc']}"
    except (ValueError, KeyError, OSError):
        return "holder unknown"


def commit_generation(path: Path) -> int | None:
    """The writer's commit counter (odd = commit in progress); None when no lock file."""
    try:
        fd = os.open(lock_path(path), os.O_RDONLY)
    except (FileNotFoundError, PermissionError):
        return None
    try:
        raw = os.pread(fd, _GEN.size, 0)
    finally:
        os.close(fd)
    return _GEN.unpack(raw)[0] if len(raw) == _GEN.size else 0


def writer_active(path: Path) -> bool:
    """True while some process holds the writer lock of ``path``."""
    try:
        fd = os.open(lock_path(path), os.O_RDONLY)
    except (FileNotFoundError, PermissionError):
        return False
    try:
        return not _try_lock(fd, shared=True)
    finally:
        os.close(fd)  # closing drops a shared lock we may have taken
