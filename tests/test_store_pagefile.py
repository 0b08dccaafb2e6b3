"""The page overlay of the run store (`hil.store.pagefile.CommitFile`) against a plain
bytearray model: random reads, writes (page-aligned runs, partial pages, past the end),
truncations and commits; and its rollback journal restoring the previous commit exactly."""
from __future__ import annotations

import os

import numpy as np
import pytest

from hil.store import pagefile
from hil.store.pagefile import PAGE, CommitFile


def _random_ops(cf: CommitFile, model: bytearray, rng: np.random.Generator, n: int,
               commits: bool = True) -> bytearray:
    for _ in range(n):
        op = rng.integers(0, 10 if commits else 9)
        if op < 6:  # write: whole pages from a page boundary, or any span
            aligned = rng.random() < 0.5
            pos = int(rng.integers(0, len(model) // PAGE + 3)) * PAGE if aligned else \
                int(rng.integers(0, len(model) + 3 * PAGE))
            size = int(rng.integers(1, 6)) * PAGE + (0 if aligned else int(rng.integers(0, PAGE)))
            data = rng.bytes(size)
            cf.seek(pos)
            cf.write(data)
            if pos > len(model):
                model.extend(bytes(pos - len(model)))
            model[pos:pos + size] = data
        elif op < 8:  # read back a span
            pos = int(rng.integers(0, len(model) + PAGE))
            size = int(rng.integers(1, 4 * PAGE))
            cf.seek(pos)
            assert cf.read(size) == bytes(model[pos:pos + size])
        elif op == 8:  # truncate (HDF5 shrinks or extends the file on close)
            size = int(rng.integers(0, len(model) + 2 * PAGE))
            cf.truncate(size)
            model = model[:size] + bytearray(max(0, size - len(model)))
        else:
            cf.commit()
            with open(cf.path, "rb") as f:
                assert f.read() == bytes(model)
    return model


def test_overlay_matches_a_bytearray_model(tmp_path):
    path = tmp_path / "f.bin"
    rng = np.random.default_rng(3)
    start = rng.bytes(5 * PAGE + 100)
    path.write_bytes(start)
    cf = CommitFile(path, fsync=False)
    try:
        model = _random_ops(cf, bytearray(start), rng, 400)
        cf.commit()
    finally:
        cf.close()
    assert path.read_bytes() == bytes(model)
    assert not pagefile.hot_journal(path)


def _commit_in_child(path, seed: int, fail_at: int) -> int:
    """Random changes and one commit in a forked child killed at its ``fail_at``-th
    low-level write (`pagefile.FAIL_ENV`); the child's exit status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child)
        code = 1
        try:
            os.environ[pagefile.FAIL_ENV] = str(fail_at)
            pagefile.reset_fault_counter()
            cf = CommitFile(path, fsync=False)
            _random_ops(cf, bytearray(path.read_bytes()), np.random.default_rng(seed), 80,
                        commits=False)
            cf.commit()
            code = 0
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork to kill a commit midway")
def test_a_commit_killed_at_any_write_rolls_back_to_the_previous_bytes(tmp_path):
    """Killed at every low-level write of a commit (journal in runs built by one numpy copy,
    pages by pwritev, truncations; files that grow, shrink and end mid-page), the file
    recovers to the previous commit byte for byte; a commit that finished stays."""
    rng = np.random.default_rng(5)
    for trial in range(4):
        path = tmp_path / f"f{trial}.bin"
        old = rng.bytes(int(rng.integers(1, 300)) * PAGE + int(rng.integers(0, PAGE)))
        fail_at, finished = 1, False
        while not finished:
            path.write_bytes(old)
            status = _commit_in_child(path, 100 + trial, fail_at)
            finished = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            if not finished:
                assert os.WIFSIGNALED(status), status
                pagefile.recover(path, fsync=False)
                assert path.read_bytes() == old, (trial, fail_at)
                assert not pagefile.hot_journal(path)
            fail_at += 1
        assert fail_at > 3  # the commit had a journal, page writes and a journal reset
        new = path.read_bytes()
        pagefile.recover(path, fsync=False)
        assert path.read_bytes() == new
