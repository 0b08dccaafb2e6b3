"""`hil plot F -o PNG`: the protocol's standard view of a run file."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="plot a run file to PNG")
    p.add_argument("file", help="run file (.h5)")
    p.add_argument("-o", "--out", metavar="PNG", help="image to write (default: FILE with .png)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from hil.plotting import plot_run

    png = plot_run(args.file, args.out or Path(args.file).with_suffix(".png"))
    print(f"plot: {png}")
    return 0
