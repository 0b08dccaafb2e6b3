"""Clocks: wall time on the bench, virtual time in the simulator.

Both count seconds since the clock's epoch (the start of the run, or what `set` says), so a
10-year retention run on the simulator is `clock.sleep(3.15e8)` and returns at once.
"""
from __future__ import annotations

import time
from typing import Protocol


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
        if seconds < 0:
            raise ValueError(f"sleep: seconds must be >= 0, got {seconds!r}")
        time.sleep(seconds)

    def advance(self, seconds: float) -> None:
        """Real operations take their own time: nothing to account for."""

    def set(self, t_s: float) -> None:
        self._offset = float(t_s) - time.monotonic()
