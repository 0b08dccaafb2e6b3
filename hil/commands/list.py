"""`hil list`: protocols (with parameters, units, defaults), device cards, drivers."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list protocols, device cards and instrument drivers")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from hil.cards import list_cards, load_card
    from protocols.base import registry

    print("Protocols (hil run NAME --set KEY=VALUE):")
    for cls in registry().values():
        print("  " + cls.help_text().replace("\n", "\n  "))
    print("\nDevice cards (data/devices):")
    for name in list_cards():
        print(f"  {name}: {load_card(name).get('description', load_card(name).get('source', ''))}")
    from hil.lab import DRIVERS, WIRINGS

    print("\nInstrument drivers (station [[instruments]] driver = NAME):")
    for name, what in DRIVERS.items():
        print(f"  {name}: {what}")
    print(f"\nLab wirings (station [backend] wiring = NAME): {', '.join(WIRINGS)}")
    return 0
