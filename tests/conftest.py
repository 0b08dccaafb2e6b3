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


@pytest.fixture(scope="session")
def digits_mlp_trained():
    """A 64-24-10 ReLU MLP trained on the digits training split (150 Adam steps, seed 0),
    and the split; modules that change the model take a copy."""
    import torch
    from torch import nn

    from hil.nn.datasets import load_digits_split

    torch.manual_seed(0)
    s = load_digits_split()
    m = nn.Sequential(nn.Flatten(), nn.Linear(64, 24), nn.ReLU(), nn.Linear(24, 10))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(m(s.x_train), s.y_train).backward()
        opt.step()
    return m.eval(), s
