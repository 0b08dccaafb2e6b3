"""Small helpers to read numbers out of device cards with errors a user can act on."""
from __future__ import annotations

from typing import Any

from hil.cards import load_card
from hil.errors import ParameterError


def get_card(card: dict[str, Any] | str) -> dict[str, Any]:
    """Return ``card`` itself, or load the bundled card of that name."""
    return load_card(card) if isinstance(card, str) else card


def num(card: dict[str, Any], path: str, default: float | None = None) -> float:
    """Float at dotted ``path`` (``"kinetics.k0_p_per_s"``); ParameterError if missing."""
    node: Any = card
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            if default is not None:
                return float(default)
            raise ParameterError(
                f"device card {card.get('name', '?')!r} lacks {path!r}; add it to the card")
        node = node[key]
    try:
        return float(node)
    except (TypeError, ValueError):
        raise ParameterError(
            f"device card {card.get('name', '?')!r}: {path} = {node!r} is not a number") from None
