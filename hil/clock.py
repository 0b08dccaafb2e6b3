"""Clocks: wall time on the bench, virtual time in the simulator.

Both count seconds since the clock's epoch (the start of the run, or what `set` says), so a
10-year retention run on the simulator is `clock.sleep(3.15e8)` and returns at once.
"""
from __future__ import annotations

import time
from typing import Protocol

from hil.errors import RunInterrupted

#: longest uninterrupted slice of a real wait: a stop request is honoured within it
WAIT_SLICE_S = 0.1
_stop = {"signum": 0}


def request_stop(signum: int) -> None:
    """Make every real-clock wait end within `WAIT_SLICE_S` (the runner's signal handler)."""
    _stop["signum"] = int(signum)


def clear_stop() -> None:
    _stop["signum"] = 0


def stop_requested() -> int:
    """The signal number of a pending stop request, 0 if none."""
    return _stop["signum"]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since this clock's epoch."""

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""

    def advance(self, seconds: float) -> None:
        """Account for time an operation took (virtual clocks move; real ones already did)."""

    def set(self, t_s: float) -> None:
        """Declare that it is now ``t_s`` (used on resume)."""


class VirtualClock:
    """Simulated time: sleeping advances the counter and returns immediately."""

    virtual = True

    def __init__(self, t0_s: float = 0.0) -> None:
        self._t = float(t0_s)

    def now(self) -> float:
        return self._t

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"sleep: seconds must be >= 0, got {seconds!r}")
        self._t += float(seconds)

    def advance(self, seconds: float) -> None:
        """Account for time an operation took (e.g. a pulse width)."""
        self.sleep(seconds)

    def set(self, t_s: float) -> None:
        self._t = float(t_s)


class RealClock:
    """Wall-clock time (monotonic), offset so that `set` can continue a resumed run."""

    virtual = False

    def __init__(self, t0_s: float = 0.0) -> None:
        self._offset = float(t0_s) - time.monotonic()

    def now(self) -> float:
        return time.monotonic() + self._offset

    def sleep(self, seconds: float) -> None:
        """Wait in short slices; a stop request (Ctrl-C, SIGTERM, SIGHUP during a run) ends
        the wait within `WAIT_SLICE_S` with `RunInterrupted`."""
        if not seconds >= 0:
            raise ValueError(f"sleep: seconds must be >= 0, got {seconds!r}")
        end = time.monotonic() + float(seconds)
        while True:
            if _stop["signum"]:
                raise RunInterrupted(f"stopped during a {seconds:.3g} s wait", _stop["signum"])
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, WAIT_SLICE_S))

    def advance(self, seconds: float) -> None:
        """Real operations take their own time: nothing to account for."""

    def set(self, t_s: float) -> None:
        self._offset = float(t_s) - time.monotonic()
