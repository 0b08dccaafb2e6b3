"""Device cards: every physical parameter of a device or array model, in TOML.

Cards live in the repository's ``data/devices/`` folder (installed as the ``hil_data``
package).  Each parameter names the figure or equation it was calibrated to.
"""
from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from hil.errors import ParameterError


def _cards_dir() -> Path:
    return Path(str(resources.files("hil_data") / "devices"))


def list_cards() -> list[str]:
    """Names of the bundled device cards (file stems)."""
    return sorted(p.stem for p in _cards_dir().glob("*.toml"))


def load_card(name_or_path: str | Path) -> dict[str, Any]:
    """Load a bundled card by name (``"ecram_wox_lipon"``) or any TOML file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = _cards_dir() / f"{name_or_path}.toml"
    if not path.is_file():
        raise ParameterError(
            f"device card {str(name_or_path)!r} not found; bundled cards: {', '.join(list_cards())}")
    with path.open("rb") as f:
        card = tomllib.load(f)
    card.setdefault("name", path.stem)
    return card
