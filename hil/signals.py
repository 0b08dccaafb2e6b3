"""Critical sections that a Ctrl-C, SIGTERM or SIGHUP must not cut in half.

`signals_deferred` holds those signals back while a block runs and delivers them, to the
handlers that were installed before, right after it.  Python runs signal handlers in the
main thread whichever thread the OS picked, so replacing the handlers (rather than masking
one thread) catches them all.  Used by lab teardown (`InstrumentBackend.close`): a second
Ctrl-C arrives after every instrument is back in its safe state, never in the middle.
Outside the main thread (where handlers cannot be set) the block runs unprotected.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator

STOP_SIGNAL_NAMES = ("SIGINT", "SIGTERM", "SIGHUP")


@contextmanager
def signals_deferred() -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM/SIGHUP inside the block; re-raise them when it ends.  Yields the
    list of signals received so far."""
    got: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield got
        return
    previous: dict[int, Any] = {}
    try:
        for name in STOP_SIGNAL_NAMES:
            if hasattr(signal, name):
                sig = getattr(signal, name)
                previous[sig] = signal.signal(sig, lambda signum, frame: got.append(signum))
        yield got
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        for signum in got:
            signal.raise_signal(signum)
