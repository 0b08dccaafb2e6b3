"""Teardown: return every instrument of a wiring to a safe state, whatever happened.

A wiring lists its safe-state steps (`safe_steps`: which driver, what to send) in the order
that is safe on a bench: pulse outputs off first, then DC outputs zeroed and disconnected,
relays opened last (no relay switches a live output).  `run_safe_steps` runs every step even
when an earlier one fails; a step that fails (a lost connection) is retried once after
``recover`` reconnected its instrument.  Failures are returned, never raised, so that closing
never hides the error that made a run stop.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

log = logging.getLogger("hil.lab")

#: (driver, action) pairs; the action sends that driver's safe state
SafeSteps = Sequence[tuple[Any, Callable[[], None]]]
#: recover(driver, error) -> True when the driver was reconnected and the step may be retried
Recover = Callable[[Any, BaseException], bool]


def run_safe_steps(steps: SafeSteps, recover: Recover | None = None) -> list[str]:
    """Run every step; return one line per instrument that could not be made safe."""
    failures: list[str] = []
    for drv, action in steps:
        name = getattr(drv, "name", type(drv).__name__)
        try:
            action()
            continue
        except Exception as exc:  # noqa: BLE001 - every instrument must get its chance
            first = exc
        retried = ""
        try:
            if recover is not None and recover(drv, first):
                action()
                log.warning("%s: safe state sent after reconnecting (%s)", name, first)
                continue
        except Exception as exc:  # noqa: BLE001
            retried = f"; after reconnecting: {exc}"
        failures.append(f"{name}: {first}{retried}")
        log.error("%s: could not be returned to a safe state: %s%s", name, first, retried)
    return failures
