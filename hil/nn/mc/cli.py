"""Command-line options of the Monte-Carlo engine, shared by every command that uses it."""
from __future__ import annotations

import argparse

from hil.errors import ParameterError
from hil.nn.mc.choices import BACKENDS, DEFAULT_BACKEND


def engine_args(p: argparse.ArgumentParser) -> None:
    """--backend/--workers/--cluster of the Monte-Carlo engine (`hil.nn.mc`)."""
    p.add_argument("--backend", choices=BACKENDS, default=DEFAULT_BACKEND,
                   help=f"Monte-Carlo backend (default {DEFAULT_BACKEND}: the fastest scheme on "
                        "this process: vmap for plain MLPs, a per-instance loop otherwise; vectorized: "
                        "vmap over instances; ray: chunks of instances on a Ray cluster)")
    p.add_argument("--workers", type=int, default=None,
                   help="Ray actors (default: one per CPU of the cluster)")
    p.add_argument("--cluster", default=None, metavar="ADDR",
                   help="Ray cluster: 'auto' or ray://HOST:PORT (default: RAY_ADDRESS, else a "
                        "local Ray instance)")


def engine_kwargs(args: argparse.Namespace) -> dict:
    """The engine keywords from :func:`engine_args` options, checked."""
    if args.workers is not None and args.workers < 1:
        raise ParameterError(f"--workers {args.workers} must be >= 1")
    if (args.workers is not None or args.cluster) and args.backend != "ray":
        raise ParameterError("--workers and --cluster apply to --backend ray only")
    return {"backend": args.backend, "workers": args.workers, "cluster": args.cluster}
