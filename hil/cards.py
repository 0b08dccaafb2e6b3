"""Device cards: every physical parameter of a device or array model, in TOML.

Cards live in the repository's ``data/devices/`` folder (installed as the ``hil_data``
package).  Each parameter names the figure or equation it was calibrated to.  More card
folders can be put in front of the bundled one with the environment variable
``HIL_CARD_PATH`` (folders separated by ``os.pathsep``); a card found there shadows a
bundled card of the same name.

A device card's ``[presets.<protocol group>]`` tables hold the protocol defaults published
for that device (ISPP ladders, level ranges, I-V sweeps, MTT readout range).  A preset value
may point at another value of the same card: ``g_high_S = "@mtt.g_max_S"``; `preset`
resolves it.
"""
from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from hil.errors import ParameterError

#: environment variable naming extra card folders (searched before the bundled cards)
CARD_PATH_ENV = "HIL_CARD_PATH"


def _cards_dir() -> Path:
    return Path(str(resources.files("hil_data") / "devices"))


def card_dirs() -> list[Path]:
    """Folders searched for cards by name: ``HIL_CARD_PATH`` entries, then the bundled cards."""
    extra = [Path(p) for p in os.environ.get(CARD_PATH_ENV, "").split(os.pathsep) if p.strip()]
    return extra + [_cards_dir()]


def list_cards() -> list[str]:
    """Names of the cards found on the card path (file stems)."""
    return sorted({p.stem for d in card_dirs() if d.is_dir() for p in d.glob("*.toml")})


def card_path(name_or_path: str | Path) -> Path:
    """The file of a card given by name (searched on the card path) or by ``.toml`` path."""
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if path.is_file():
            return path
    else:
        for d in card_dirs():
            if (d / f"{name_or_path}.toml").is_file():
                return d / f"{name_or_path}.toml"
    raise ParameterError(
        f"device card {str(name_or_path)!r} not found; cards: {', '.join(list_cards())} "
        f"(more folders: ${CARD_PATH_ENV})")


def load_card(name_or_path: str | Path) -> dict[str, Any]:
    """Load a card by name (``"ecram_wox_lipon"``) or any TOML file by path.

    The returned dict has ``name`` (default: the file stem); a ``family_module`` the card
    names (the Python file of a device family that is not bundled, see `hil.families`) is
    made absolute relative to the card's folder."""
    path = card_path(name_or_path)
    try:
        with path.open("rb") as f:
            card = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"device card {str(path)!r} is not valid TOML: {exc}") from None
    card.setdefault("name", path.stem)
    if isinstance(card.get("family_module"), str):
        card["family_module"] = str((path.parent / card["family_module"]).resolve())
    return card


def card_value(card: dict[str, Any], dotted: str) -> Any:
    """The value at ``"table.key"`` in ``card``; ParameterError naming the card if absent."""
    node: Any = card
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            raise ParameterError(f"device card {card.get('name', '?')!r} has no {dotted!r}")
        node = node[key]
    return node


def preset(card: dict[str, Any], dotted: str) -> Any:
    """The card's preset ``presets.<dotted>``, following a ``"@table.key"`` reference.

    ParameterError when the card declares no such preset (there is no built-in fallback: a
    default that does not come from the device's own card could be unsafe for it)."""
    value = card.get("presets", {})
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise ParameterError(
                f"device card {card.get('name', '?')!r} declares no preset {dotted!r} "
                f"([presets.{dotted.rsplit('.', 1)[0]}] {dotted.rsplit('.', 1)[-1]} = ...); "
                "set the parameter explicitly or add it to the card")
        value = value[key]
    if isinstance(value, str) and value.startswith("@"):
        return card_value(card, value[1:])
    return value


def has_preset(card: dict[str, Any], dotted: str) -> bool:
    """Whether `preset` would find ``dotted``."""
    try:
        preset(card, dotted)
    except ParameterError:
        return False
    return True
