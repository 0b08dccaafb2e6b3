"""`hil list`: protocols (with parameters, units, defaults), device cards with the protocol
defaults they resolve to, drivers."""
from __future__ import annotations

import argparse
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list protocols, device cards (with resolved defaults) and drivers")
    p.add_argument("protocol", nargs="?", help="show only this protocol's parameters (all of them)")
    p.set_defaults(func=main)


def shared_groups() -> dict[str, tuple[Any, ...]]:
    """Parameter groups several protocols share, by name: `hil list` prints each once."""
    from protocols.programming import ISPP_PARAMS
    from protocols.write_verify import level_params

    return {"levels": level_params(), "write-verify": ISPP_PARAMS}


def groups_used(cls: Any, groups: dict[str, tuple[Any, ...]]) -> dict[str, list[str]]:
    """The shared groups ``cls`` takes every parameter of, each with the names it changes."""
    names = {q.name for q in cls.params}
    return {g: sorted(q.name for q in group if q not in cls.params)
            for g, group in groups.items() if {q.name for q in group} <= names}


def protocol_text(cls: Any, groups: dict[str, tuple[Any, ...]] | None = None) -> str:
    """``cls``'s description and parameters; with ``groups``, the parameters of a shared group
    it uses are named by the group (printed once elsewhere), and only those it changes shown."""
    if groups is None:
        return cls.help_text()
    used = groups_used(cls, groups)
    shared = {q.name for g in used for q in groups[g] if q in cls.params}
    lines = [f"{cls.name}: {cls.description}"]
    lines += [f"    {q.describe()}" for q in cls.params if q.name not in shared]
    if used:
        lines.append("    + shared parameters: " + "; ".join(
            g + (f" (changed here: {', '.join(ch)})" if ch else "") for g, ch in used.items()) + " (below)")
    return "\n".join(lines)


def print_groups(groups: dict[str, tuple[Any, ...]], users: dict[str, list[str]]) -> None:
    """Each shared group once, with the protocols that use it."""
    for gname, group in groups.items():
        if not users.get(gname):
            continue
        print(f"  {gname} (used by {', '.join(users[gname])}):")
        for q in group:
            print(f"      {q.describe()}")


def _fmt(value: Any, unit: str) -> str:
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, list):
        text = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    else:
        text = str(value)
    return f"{text} {unit}".rstrip()


def resolved_defaults(card: dict[str, Any]) -> list[tuple[str, list[str], list[str]]]:
    """Per card preset table: (table, protocols using it, ["name value unit", ...]) as the
    protocols resolve them for this device (`protocols.params.resolve`)."""
    from hil.cards import preset
    from hil.errors import HilError
    from protocols.base import registry

    tables: dict[str, tuple[list[str], dict[str, str]]] = {}
    for cls in registry().values():
        for p in cls.params:
            if not (p.preset and p.default is None):
                continue
            table = p.preset.rsplit(".", 1)[0]
            users, values = tables.setdefault(table, ([], {}))
            if cls.name not in users:
                users.append(cls.name)
            try:
                values[p.name] = _fmt(p.coerce(preset(card, p.preset), card), p.unit)
            except HilError as exc:
                values[p.name] = f"(none: {exc})" if "declares no preset" not in str(exc) else "(not set)"
    return [(t, users, [f"{k} {v}" for k, v in vals.items()]) for t, (users, vals) in tables.items()]


def main(args: argparse.Namespace) -> int:
    from hil.cards import CARD_PATH_ENV, list_cards, load_card
    from hil.errors import HilError
    from hil.families import families, family_of
    from protocols.base import registry

    if args.protocol:  # one protocol, every parameter spelled out
        from protocols.base import get_protocol

        print(protocol_text(get_protocol(args.protocol)))
        return 0
    groups = shared_groups()
    users: dict[str, list[str]] = {}
    print("Protocols (hil run NAME --set KEY=VALUE, units allowed: width_s=2ms; 'card presets.X' = "
          "the device card's value, below; `hil list NAME` shows one protocol in full):")
    for cls in registry().values():
        for gname in groups_used(cls, groups):
            users.setdefault(gname, []).append(cls.name)
        print("  " + protocol_text(cls, groups).replace("\n", "\n  "))
    print("\nShared parameter groups:")
    print_groups(groups, users)
    print("\nDevice families (card kind -> simulated array):")
    for fam in families().values():
        print(f"  {fam.kind}: {fam.array} array ({fam.array_class.__module__}.{fam.array_class.__name__})")
    print(f"\nDevice cards (data/devices; more folders: ${CARD_PATH_ENV}) and the defaults they resolve to:")
    for name in list_cards():
        card = load_card(name)
        what = card.get("description", card.get("source", ""))
        try:
            fam = family_of(card)
        except HilError:
            fam = None
        kind = f" [kind {fam.kind}, {fam.array} array]" if fam else \
            (f" [kind {card['kind']}]" if card.get("kind") else " [reference card]")
        print(f"  {name}{kind}: {what}")
        if fam is None:
            continue
        for table, users, values in resolved_defaults(card):
            print(f"      presets.{table} ({', '.join(users)}): {'; '.join(values)}")
    from hil.lab import DRIVERS, WIRINGS

    print("\nInstrument drivers (station [[instruments]] driver = NAME):")
    for name, what in DRIVERS.items():
        print(f"  {name}: {what}")
    print(f"\nLab wirings (station [backend] wiring = NAME): {', '.join(WIRINGS)}")
    return 0
