"""`hil watch RUN.h5`: follow a run in the browser while it is written (and after)."""
from __future__ import annotations

import argparse
import sys
import time


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "watch", help="live view of a run file in the browser",
        description="Serve a live web page of a run file on this machine (127.0.0.1): status, "
                    "progress and ETA, the protocol's plots, the latest conductance map, the "
                    "run's history and provenance.  Works while the run is being written and "
                    "after it ended; reading never disturbs the writer.  Ctrl-C stops.")
    p.add_argument("file", help="run file (.h5)")
    p.add_argument("--port", type=int, default=0, help="TCP port (default 0: a free port, printed)")
    p.add_argument("--no-browser", action="store_true", help="only print the address; open no browser")
    p.set_defaults(func=run)


def watch_when_created(path: str, open_browser: bool) -> list:
    """For `hil run --watch`: serve the live page of ``path`` as soon as the run creates it
    (a daemon thread; returns a list that then holds the `WatchServer`, to stop it)."""
    import threading
    import webbrowser
    from pathlib import Path

    from hil.watch import WatchServer

    holder: list = []

    def start() -> None:
        deadline = time.monotonic() + 3600
        while not Path(path).exists():
            if time.monotonic() > deadline:
                return
            time.sleep(0.2)
        for _ in range(50):        # the file exists a moment before its first commit
            try:
                server = WatchServer(path)
                url = server.start()
                break
            except Exception:
                time.sleep(0.2)
        else:
            print(f"hil watch: could not open {path} for the live view", file=sys.stderr)
            return
        holder.append(server)
        print(f"hil watch: live view of {path} at {url}", file=sys.stderr, flush=True)
        if open_browser:
            webbrowser.open(url)

    threading.Thread(target=start, name="hil-watch-start", daemon=True).start()
    return holder


def run(args: argparse.Namespace) -> int:
    import webbrowser

    from hil.errors import ParameterError
    from hil.watch import WatchServer

    if not 0 <= args.port <= 65535:
        raise ParameterError(f"--port {args.port}; allowed: 0 (a free port) .. 65535")
    server = WatchServer(args.file, port=args.port)
    url = server.start()
    print(f"hil watch: {args.file} at {url}  (Ctrl-C to stop)", flush=True)
    if not args.no_browser:
        webbrowser.open(url)
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("hil watch: stopped", file=sys.stderr)
    finally:
        server.stop()
    return 0
