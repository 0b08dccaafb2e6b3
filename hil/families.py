"""Device families: the one registry of device kinds (ECRAM, RRAM, ...).

A device card's top-level ``kind`` is mandatory and names its family.  A family is a simulated
array class (a `sim_backends.arrays.base.SimArray` subclass with ``card_kind`` = the kind), which
in turn uses a physics module of `sim_backends.devices`.  Everything a protocol needs to know
about a device (presets, limits, the line voltages of a programming pulse) is data: the card's
``[presets.*]`` and ``[limits]`` tables and the array class's ``program_lines`` and ``options``.

Bundled families are the array classes in `sim_backends.arrays`.  A family that is not bundled
is added by a card alone plus its module: the card names the Python file that defines the array
class (``family_module = "toy_array.py"``, relative to the card's folder), and the card folder is
put on the card path (``HIL_CARD_PATH``, see `hil.cards`).  A new device kind therefore needs
three files: the card, the physics module and the array class (the latter two may share one file).
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from hil.errors import ParameterError

#: a ``program_lines`` entry that stands for the programming amplitude itself
AMPLITUDE = "amplitude"


@dataclass(frozen=True)
class Family:
    """One device family: card kind, array type and the array class that simulates it."""

    kind: str                 # the cards' ``kind`` ("ecram")
    array: str                # the array type a station names ("h1e1t")
    array_class: type         # the SimArray subclass
    description: str
    #: per direction ("potentiate", "depress"): line kind -> "amplitude" or a card key
    #: ("h1e1t.v_d_V"); the line voltages of one `Backend.pulse_cells` pulse
    program_lines: Mapping[str, Mapping[str, str]]
    #: station [backend] options of this array type -> allowed values
    options: Mapping[str, tuple[str, ...]]

    def program_line_voltages(self, card: Mapping[str, Any], direction: str,
                              amplitude_V: float) -> dict[str, float]:
        """|V| on each line kind of one programming pulse of ``amplitude_V`` (magnitude)."""
        from hil.cards import card_value

        out: dict[str, float] = {}
        for line, source in self.program_lines.get(direction, {}).items():
            v = abs(float(amplitude_V)) if source == AMPLITUDE else abs(float(card_value(dict(card), source)))
            out[line] = max(out.get(line, 0.0), v)
        return out


def _from_class(cls: type) -> Family:
    doc = (cls.__doc__ or "").strip().splitlines()
    return Family(kind=str(cls.card_kind), array=str(cls.kind), array_class=cls,
                  description=doc[0] if doc else cls.__name__,
                  program_lines=dict(getattr(cls, "program_lines", {})),
                  options=dict(getattr(cls, "options", {})))


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out += _subclasses(sub)
    return out


@lru_cache(maxsize=None)
def _import_bundled() -> None:
    import sim_backends.arrays as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name != "base":
            importlib.import_module(f"sim_backends.arrays.{info.name}")


def import_family_module(path: str | Path) -> None:
    """Import the Python file of a family that is not bundled (its array class registers by
    subclassing SimArray).  Imported once per file."""
    path = Path(path)
    name = f"hil_family_{path.stem}"
    if name in sys.modules:
        return
    if not path.is_file():
        raise ParameterError(f"family module {str(path)!r} (card key family_module) does not exist")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def families() -> dict[str, Family]:
    """Every registered family by card kind (bundled ones and those imported so far)."""
    from sim_backends.arrays.base import SimArray

    _import_bundled()
    out: dict[str, Family] = {}
    for cls in _subclasses(SimArray):
        if getattr(cls, "card_kind", "") and getattr(cls, "kind", ""):
            fam = _from_class(cls)
            out.setdefault(fam.kind, fam)
    return dict(sorted(out.items()))


def _known() -> str:
    return ", ".join(f"{f.kind} ({f.array} array)" for f in families().values())


def family_of(card: Mapping[str, Any]) -> Family:
    """The family of a device card; ParameterError for a missing or unknown ``kind``."""
    name = card.get("name", "?")
    kind = card.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ParameterError(f"device card {name!r} has no kind; every device card needs "
                             f"kind = one of: {_known()}")
    if isinstance(card.get("family_module"), str):
        import_family_module(card["family_module"])
    fams = families()
    if kind not in fams:
        raise ParameterError(
            f"device card {name!r} has kind {kind!r}, which no device family implements; "
            f"families: {_known()} (a new kind needs a card, a physics module and a SimArray "
            f"subclass with card_kind = {kind!r}, named by the card's family_module)")
    return fams[kind]


def family_of_array(array: str) -> Family:
    """The family whose array type is ``array`` ("h1e1t", "1t1r", ...)."""
    for fam in families().values():
        if fam.array == array:
            return fam
    raise ParameterError(f"array type {array!r} unknown; allowed: "
                         f"{', '.join(f.array for f in families().values())}")
