"""Helpers shared by the sub-commands: --set parsing, output paths, printing a run's summary."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from hil.errors import ParameterError


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``["k=v", ...]`` -> ``{"k": "v"}`` (values stay text; protocols coerce them)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


SEED_MAX = 2 ** 63 - 1


def seed_arg(text: str) -> int:
    """argparse type of ``--seed``: an integer 0 .. 2**63-1 (what the run file stores)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{text} is outside the allowed range 0 .. 2**63-1")
    return value


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--station", metavar="F", help="station TOML file (default: embedded simulated ECRAM array)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--seed", type=seed_arg, help="override the station's seed (simulated backends)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def default_out(protocol: str) -> Path:
    return Path(f"{protocol}-{time.strftime('%Y%m%d-%H%M%S')}.h5")


def print_run_summary(path: Path) -> None:
    from hil.store import Run
    from protocols.base import get_protocol

    run = Run.open(path)
    for line in get_protocol(run.attrs["protocol"]).summary(run):
        print(line)
