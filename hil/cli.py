"""The `hil` command line.

Each sub-command lives in its own module under `hil/commands/` and exposes
``register(subparsers)``; this file only discovers them, parses, and turns errors into one
clear line and a non-zero exit (``--verbose`` shows the traceback).
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback

import hil.commands
from hil import __version__
from hil.errors import HilError, RunInterrupted

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hil", description="Hardware-in-the-loop framework for analog in-memory computing.")
    parser.add_argument("--version", action="version", version=f"hil {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(hil.commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"hil.commands.{info.name}")
        module.register(sub)
    _verbose_everywhere(sub)
    return parser


def _verbose_everywhere(sub: argparse._SubParsersAction) -> None:
    """Accept ``-v/--verbose`` after any sub-command too (``hil run X -v``), not only before.

    SUPPRESS as default: a sub-command that is not given it leaves the top-level value alone."""
    seen: set[int] = set()
    for p in sub.choices.values():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if "--verbose" not in p._option_string_actions:
            flags = ["--verbose"] if "-v" in p._option_string_actions else ["-v", "--verbose"]
            p.add_argument(*flags, action="store_true", default=argparse.SUPPRESS,
                           help="show tracebacks on errors")
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                _verbose_everywhere(action)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        return int(args.func(args) or 0)
    except RunInterrupted as exc:  # Ctrl-C, SIGTERM, SIGHUP: the file says how to resume
        print(f"hil: interrupted: {exc}", file=sys.stderr)
        return 128 + int(exc.signum or 2)
    except KeyboardInterrupt:
        print("hil: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (HilError, OSError, ValueError) as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"hil: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except (OverflowError, MemoryError) as exc:  # sizes are checked first; a last safety net
        if args.verbose:
            traceback.print_exc()
        print(f"hil: error: {type(exc).__name__}: {exc or 'value too large'}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
