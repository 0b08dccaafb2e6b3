"""The protocol contract: a step machine the runner drives in batches.

A protocol talks only to `hil.backend.Backend` and writes through `hil.store.Run`.
Construction has three stages: the parameters are resolved once into ``self.p`` (declared
defaults, the device card's presets, each value checked against the card's and the station's
limits; ``self.values`` is the same storage as a dict, never a copy), `validate` checks
cross-parameter rules and raises, `setup` builds the state the steps need (masks, targets,
programmers).  All of it happens before the runner creates the run file.  The
runner calls ``start`` once for a new run, then ``step(i)`` for every step (appending events
and maps to the run's buffer), commits a checkpoint after every ``batch_steps`` steps (and
earlier when a batch has run ``checkpoint_s`` of wall time: slow steps lose little), and
calls ``finish`` at the end.  Whatever a protocol keeps between steps must round-trip through
``state_dict``/``load_state_dict`` (numpy arrays and JSON values) so that a resumed run
produces exactly the events an uninterrupted one would.
"""
from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, ClassVar

from hil.errors import ParameterError
from protocols.params import Param, resolve

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from hil.backend import Backend
    from hil.store import Run


class Protocol(ABC):
    """Base class of every protocol in `protocols/`."""

    #: registry key used by `hil run NAME`
    name: ClassVar[str] = ""
    #: one line for `hil list`
    description: ClassVar[str] = ""
    #: declared parameters (units, defaults, bounds)
    params: ClassVar[tuple[Param, ...]] = ()
    #: steps per committed batch (checkpoint interval); the runner may override
    batch_steps: ClassVar[int] = 10
    #: wall time (s) after which a batch still running is committed early; the runner may override
    checkpoint_s: ClassVar[float] = 60.0
    #: steps that only read may be retried after a transient transport error
    idempotent_steps: ClassVar[bool] = False

    def __init__(self, backend: "Backend", **values: Any) -> None:
        self.backend = backend
        limits = getattr(backend, "limits", None)      # hil.limits.Limits of the station
        self.p = SimpleNamespace(**resolve(self.params, values, backend.device, limits))
        self.validate()
        self.setup()

    @property
    def values(self) -> dict[str, Any]:
        """The resolved parameters as a dict: the very storage of ``self.p`` (no copy)."""
        return vars(self.p)

    def validate(self) -> None:
        """Cross-parameter checks (raise ParameterError); called after each value is checked.
        Builds nothing: state belongs in `setup`."""

    def setup(self) -> None:
        """Build what the steps need (masks, targets, programmers) from the validated ``p``."""

    @abstractmethod
    def n_steps(self) -> int:
        """Total number of steps."""

    def start(self, run: "Run") -> None:
        """Called once when a new run starts (not on resume): write targets, set up state."""

    @abstractmethod
    def step(self, i: int, run: "Run") -> None:
        """Do step ``i``; append events/maps to ``run`` (they are committed by the runner)."""

    def finish(self, run: "Run") -> None:
        """Called once after the last step: write ``/results`` summaries."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""

    @classmethod
    def summary(cls, run: "Run") -> list[str]:
        """Lines for `hil show` / the end of `hil run` (e.g. the measured on/off ratio)."""
        return []

    @classmethod
    def plot(cls, run: "Run", fig: "Figure") -> None:
        """Draw the protocol's standard view of ``run`` into ``fig`` (default: G per event)."""
        import numpy as np

        ev = run.read_events()
        ax = fig.add_subplot(111)
        ax.semilogy(np.arange(len(ev)), ev["G_S"] * 1e6, ".", ms=2)
        ax.set_xlabel("event")
        ax.set_ylabel("conductance (µS)")
        ax.set_title(f"{run.attrs['protocol']}: {run.path.name}")

    @classmethod
    def help_text(cls) -> str:
        lines = [f"{cls.name}: {cls.description}"]
        lines += [f"    {p.describe()}" for p in cls.params]
        return "\n".join(lines)


def registry() -> dict[str, type[Protocol]]:
    """All protocols in the `protocols` package, by name."""
    import protocols

    found: dict[str, type[Protocol]] = {}
    for info in pkgutil.iter_modules(protocols.__path__):
        if info.name in ("base", "params", "cells") or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"protocols.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Protocol) and obj.name and obj is not Protocol:
                found[obj.name] = obj
    return dict(sorted(found.items()))


def get_protocol(name: str) -> type[Protocol]:
    reg = registry()
    if name not in reg:
        raise ParameterError(f"unknown protocol {name!r}; available: {', '.join(reg) or 'none'}")
    return reg[name]
