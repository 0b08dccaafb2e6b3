"""Shared test helpers: run the `hil` CLI in a subprocess, with the kill hook when asked."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_hil(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m hil.cli ARGS`` and capture its output (never raises on exit code)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "hil.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def hil_cli():
    """The `run_hil` function as a fixture."""
    return run_hil


@pytest.fixture
def killed_run(tmp_path):
    """Start `hil run ...` that SIGKILLs itself after committing batch ``k``; returns the file."""
    def _kill(out: Path, k: int, *args: str) -> subprocess.CompletedProcess:
        res = run_hil("run", *args, "--out", str(out), "--no-progress", cwd=tmp_path,
                      env={"HIL_KILL_AFTER_BATCH": str(k)})
        assert res.returncode == -9, f"expected SIGKILL, got {res.returncode}: {res.stderr}"
        return res
    return _kill
