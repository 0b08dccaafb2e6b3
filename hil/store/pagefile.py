"""Atomic, durable commits of a file that HDF5 writes through a page overlay.

The writer's HDF5 library writes into `CommitFile`, a file object that keeps every changed
4 KiB page in memory (h5py's ``fileobj`` driver).  `CommitFile.commit` makes them durable in
the order a rollback journal needs (as SQLite does):

1. the *old* contents of every page about to be overwritten, and the old file size, go to
   the journal ``RUN.h5.journal``, which is fsynced;
2. the new pages are written to the file, its size set, and the file fsynced;
3. the journal is emptied (and fsynced).

A crash (kill -9, power cut, full disk) at any point leaves either the old file untouched
(journal incomplete: its checksum fails, it is discarded) or a complete journal that
`recover` writes back.  So the file on disk is always exactly one committed state, and
HDF5 never sees an I/O error mid-structure (no half-written metadata, no segfault).

Test hook: ``HIL_FAIL_AT_WRITE=N`` SIGKILLs the process at the N-th low-level write of any
commit or recovery in this process (1-based), after writing half of that write's bytes (a
torn write), so tests can kill a run at every point of a commit deterministically.
"""
from __future__ import annotations

import errno
import os
import signal
import struct
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from hil.signals import signals_deferred

PAGE = 4096
JOURNAL_SUFFIX = ".journal"
_MAGIC = b"HILJRNL1"
_HEAD = struct.Struct("<8sQQ")        # magic, old file size, number of pages
_ENTRY = struct.Struct("<QI")         # page number, byte count
_TAIL = struct.Struct("<I8s")         # crc32 of everything before, magic
_MAX_WRITE = 1 << 20
_IOV_MAX = 1024                       # buffers per writev (Linux's IOV_MAX)
_ENTRIES = np.dtype([("page", "<u8"), ("n", "<u4"), ("data", f"V{PAGE}")])  # packed = _ENTRY + page

FAIL_ENV = "HIL_FAIL_AT_WRITE"
_writes = 0


def reset_fault_counter() -> None:
    """Restart counting low-level writes for `FAIL_ENV` (tests call it in a forked child)."""
    global _writes
    _writes = 0


def _write(fd: int, data: bytes | memoryview | list, offset: int | None = None) -> None:
    """One low-level write (the unit `FAIL_ENV` counts); a list of buffers is written with
    one (p)writev, in order."""
    global _writes
    _writes += 1
    parts = data if isinstance(data, list) else [data]
    fail_at = os.environ.get(FAIL_ENV)
    if fail_at and _writes == int(fail_at):
        joined = b"".join(parts)
        half = joined[: len(joined) // 2]
        if offset is None:
            os.write(fd, half)
        else:
            os.pwrite(fd, half, offset)
        os.kill(os.getpid(), signal.SIGKILL)
    if len(parts) > 1:
        total = sum(memoryview(b).nbytes for b in parts)
        n = os.writev(fd, parts) if offset is None else os.pwritev(fd, parts, offset)
        if n == total:
            return
        parts = [b"".join(parts)[n:]]  # a short write: the rest as one buffer
        offset = None if offset is None else offset + n
    view = memoryview(parts[0]).cast("B")
    while view:
        n = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset)
        view = view[n:]
        if offset is not None:
            offset += n


def _truncate(fd: int, size: int) -> None:
    global _writes
    _writes += 1
    fail_at = os.environ.get(FAIL_ENV)
    if fail_at and _writes == int(fail_at):
        os.kill(os.getpid(), signal.SIGKILL)
    os.ftruncate(fd, size)


def journal_path(path: Path) -> Path:
    return Path(str(path) + JOURNAL_SUFFIX)


def hot_journal(path: Path) -> bool:
    """True when ``path`` has a non-empty journal (an unfinished or unacknowledged commit)."""
    try:
        return journal_path(path).stat().st_size > 0
    except FileNotFoundError:
        return False


def _parse_journal(blob: bytes) -> tuple[int, list[tuple[int, bytes]]] | None:
    """(old size, [(page, old bytes)]) of a complete journal; None when torn."""
    if len(blob) < _HEAD.size + _TAIL.size:
        return None
    magic, old_size, n = _HEAD.unpack_from(blob, 0)
    crc, end = _TAIL.unpack_from(blob, len(blob) - _TAIL.size)
    if magic != _MAGIC or end != _MAGIC or zlib.crc32(blob[: len(blob) - _TAIL.size]) != crc:
        return None
    entries, pos = [], _HEAD.size
    for _ in range(n):
        page, k = _ENTRY.unpack_from(blob, pos)
        pos += _ENTRY.size
        entries.append((page, blob[pos:pos + k]))
        pos += k
    return old_size, entries


def recover(path: Path, fsync: bool = True) -> bool:
    """Roll ``path`` back to its last commit if a commit was cut short; True if rolled back.

    Call only while holding the writer lock.  A torn journal means the file was never
    touched (the journal is fsynced before the first page is written): it is discarded.
    """
    jpath = journal_path(path)
    try:
        blob = jpath.read_bytes()
    except FileNotFoundError:
        return False
    if not blob:
        return False
    parsed = _parse_journal(blob)
    jfd = os.open(jpath, os.O_WRONLY)
    try:
        if parsed is not None:
            old_size, entries = parsed
            fd = os.open(path, os.O_RDWR)
            try:
                for page, data in entries:
                    _write(fd, data, page * PAGE)
                _truncate(fd, old_size)
                if fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        _truncate(jfd, 0)
        if fsync:
            os.fsync(jfd)
    finally:
        os.close(jfd)
    return parsed is not None


def _journal_entries(first_page: int, data: bytes) -> bytes | memoryview:
    """Journal entries (page number, byte count, bytes) of consecutive pages from
    ``first_page`` holding ``data``; only the file's last page can be short."""
    full = len(data) // PAGE
    e = np.empty(full, _ENTRIES)
    e["page"] = np.arange(first_page, first_page + full, dtype=np.uint64)
    e["n"] = PAGE
    e["data"] = np.frombuffer(data, f"V{PAGE}", count=full)
    if len(data) == full * PAGE:
        return memoryview(e.view(np.uint8))
    tail = data[full * PAGE:]
    return e.tobytes() + _ENTRY.pack(first_page + full, len(tail)) + tail


class CommitFile:
    """File object for h5py's ``fileobj`` driver: changes stay in memory until `commit`."""

    def __init__(self, path: Path, fsync: bool = True,
                 on_commit: Callable[[bool], None] | None = None) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._fd = os.open(self.path, os.O_RDWR)
        self._disk = os.fstat(self._fd).st_size   # size of the committed file
        self.size = self._disk                    # size as HDF5 sees it
        # below _floor a clean page holds the disk's bytes, above it zeros: the smallest size
        # since the last commit (a file truncated and grown again reads 0 in the gap)
        self._floor = self._disk
        self._dirty: dict[int, bytearray | memoryview] = {}  # page -> its PAGE new bytes
        self._pos = 0
        self._on_commit = on_commit  # called with True before and False after page writes
        self.commits = 0

    # -- file-object protocol used by h5py ------------------------------------------------
    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = offset if whence == 0 else self._pos + offset if whence == 1 else self.size + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # noqa: ANN001 (any writable buffer)
        mv = memoryview(buf).cast("B")
        n = max(0, min(len(mv), self.size - self._pos))
        i = 0
        while i < n:
            a = self._pos + i
            page, off = divmod(a, PAGE)
            p = self._dirty.get(page)
            if p is not None:
                k = min(PAGE - off, n - i)
                mv[i:i + k] = p[off:off + k]
            else:  # a run of clean pages: one pread
                last = (self._pos + n - 1) // PAGE
                end = page + 1
                while end <= last and end not in self._dirty:
                    end += 1
                k = min(end * PAGE - a, n - i)
                got = os.pread(self._fd, min(k, self._floor - a), a) if a < self._floor else b""
                mv[i:i + len(got)] = got
                if len(got) < k:
                    mv[i + len(got):i + k] = bytes(k - len(got))
            i += k
        self._pos += n
        return n

    def read(self, n: int = -1) -> bytes:
        n = self.size - self._pos if n is None or n < 0 else n
        b = bytearray(max(0, n))
        return bytes(b[: self.readinto(b)])

    def _page(self, page: int) -> bytearray | memoryview:
        p = self._dirty.get(page)
        if p is None:
            off = page * PAGE
            data = os.pread(self._fd, PAGE, off) if off < self._floor else b""
            limit = max(0, min(PAGE, self._floor - off))  # bytes past a truncation read as 0
            p = bytearray(data[:limit].ljust(PAGE, b"\0"))
            self._dirty[page] = p
        return p

    def write(self, data) -> int:  # noqa: ANN001
        mv = memoryview(data).cast("B")
        n, i = len(mv), 0
        while i < n:
            page, off = divmod(self._pos + i, PAGE)
            if off == 0 and n - i >= PAGE:
                # whole pages: one copy, no read of the bytes they replace (the journal reads
                # those from the disk at commit); each page a writable view of the copy
                k = (n - i) // PAGE * PAGE
                buf = memoryview(bytearray(mv[i:i + k]))
                for j in range(k // PAGE):
                    self._dirty[page + j] = buf[j * PAGE:(j + 1) * PAGE]
            else:
                k = min(PAGE - off, n - i)
                self._page(page)[off:off + k] = mv[i:i + k]
            i += k
        self._pos += n
        self.size = max(self.size, self._pos)
        return n

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else int(size)
        if size < self.size:
            for page in [p for p in self._dirty if p * PAGE >= size]:
                del self._dirty[page]
            page, off = divmod(size, PAGE)
            if off and (page * PAGE < self._floor or page in self._dirty):
                self._page(page)[off:] = bytes(PAGE - off)
            self._floor = min(self._floor, size)
        self.size = size
        return size

    def flush(self) -> None:
        """HDF5 flushes into memory; `commit` is what reaches the disk."""

    # -- commits --------------------------------------------------------------------------
    @property
    def changed(self) -> bool:
        return bool(self._dirty) or self.size != self._disk

    def discard(self) -> None:
        """Forget uncommitted changes (after a failed commit)."""
        self._dirty.clear()
        self.size = self._floor = self._disk

    def commit(self) -> None:
        """Make every change durable and atomic (see the module docstring)."""
        if not self.changed:
            return
        with signals_deferred():   # a second Ctrl-C arrives after the commit, never inside it
            self._commit()

    def _commit(self) -> None:
        old = self._disk
        touched = {p for p in self._dirty if p * PAGE < old}
        if self._floor < old:  # truncated since the last commit: every page past the floor
            touched |= set(range(self._floor // PAGE, -(-old // PAGE)))
        jfd = os.open(journal_path(self.path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            try:
                self._write_journal(jfd, old, sorted(touched))
                if self.fsync:
                    os.fsync(jfd)
            except OSError:
                os.ftruncate(jfd, 0)  # the file was not touched: nothing to roll back
                raise
            if self._on_commit:
                self._on_commit(True)
            try:
                if self._floor < min(old, self.size):
                    _truncate(self._fd, self._floor)  # clean pages past the floor read as 0
                self._write_pages()
                if self.size != old or self._floor < old:
                    _truncate(self._fd, self.size)
                if self.fsync:
                    os.fsync(self._fd)
            except OSError:
                os.close(jfd)
                jfd = -1
                recover(self.path, self.fsync)  # overwrites in place: needs no new space
                raise
            finally:
                if self._on_commit:
                    self._on_commit(False)
            _truncate(jfd, 0)
            if self.fsync:
                os.fsync(jfd)
        finally:
            if jfd >= 0:
                os.close(jfd)
        self._dirty.clear()
        self._disk = self._floor = self.size
        self.commits += 1

    def _write_journal(self, jfd: int, old: int, touched: list[int]) -> None:
        """The journal of the old contents of the pages ``touched`` (ascending) and the old
        file size ``old``: head, one (page, byte count, bytes) entry per page, and the crc32
        of all that.  Runs of consecutive pages are read with one pread and written with one
        write (of at most ~`_MAX_WRITE` bytes), the entries built by one numpy copy: a 4 Mb
        checkpoint rewrites ~20,000 pages."""
        head = _HEAD.pack(_MAGIC, old, len(touched))
        _write(jfd, head)
        crc = zlib.crc32(head)
        run_pages = _MAX_WRITE // PAGE
        i = 0
        while i < len(touched):
            j = i       # touched[i..j]: consecutive pages, at most run_pages of them
            while j + 1 < len(touched) and touched[j + 1] == touched[j] + 1 and j + 1 - i < run_pages:
                j += 1
            start = touched[i] * PAGE
            data = os.pread(self._fd, min((touched[j] + 1) * PAGE, old) - start, start)
            chunk = _journal_entries(touched[i], data)
            _write(jfd, chunk)
            crc = zlib.crc32(chunk, crc)
            i = j + 1
        _write(jfd, _TAIL.pack(crc, _MAGIC))

    def _write_pages(self) -> None:
        pages = sorted(p for p in self._dirty if p * PAGE < self.size)
        i = 0
        while i < len(pages):  # runs of consecutive pages: one pwritev each
            j = i
            while j + 1 < len(pages) and pages[j + 1] == pages[j] + 1 and j + 1 - i < _IOV_MAX:
                j += 1
            start = pages[i] * PAGE
            bufs = [self._dirty[p] for p in pages[i:j + 1]]
            bufs[-1] = bufs[-1][: self.size - pages[j] * PAGE]  # the file may end mid-page
            _write(self._fd, bufs, start)
            i = j + 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
