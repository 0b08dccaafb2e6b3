"""`hil resume F`: continue an interrupted, failed or killed run from its last commit."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("resume", help="continue an interrupted or killed run")
    p.add_argument("file", help="run file (.h5)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from hil.commands._common import print_run_summary
    from hil.runner import resume

    path = resume(args.file, progress=not args.no_progress)
    print(f"run file: {path} (complete)")
    print_run_summary(path)
    return 0
