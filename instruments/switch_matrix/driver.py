"""Switch matrix driver: connect instrument inputs to array pins (outputs)."""
from __future__ import annotations

from typing import Iterable

from hil.transport import Transport
from instruments._line import ScpiInstrument
from instruments.switch_matrix import commands as c
from instruments.switch_matrix.commands import Crosspoint


class SwitchMatrix(ScpiInstrument):
    """E5250A/B2200A-class matrix on one card."""

    def __init__(self, transport: Transport, name: str = "matrix", card: int = 1,
                 check_errors: bool = True) -> None:
        super().__init__(transport, name, check_errors)
        self.card = card

    def identify(self) -> str:
        return self.ask(c.idn())

    def close(self, points: Iterable[Crosspoint]) -> None:  # type: ignore[override]
        """Close crosspoints (input, output)."""
        pts = list(points)
        if pts:
            self.write(c.close(pts, self.card))

    def open(self, points: Iterable[Crosspoint]) -> None:
        """Open crosspoints (input, output)."""
        pts = list(points)
        if pts:
            self.write(c.open_(pts, self.card))

    def open_all(self) -> None:
        """Open every crosspoint of the card."""
        self.write(c.open_all(self.card))

    def safe_state(self) -> None:
        """Teardown: every relay of the card open (nothing reaches the array pins)."""
        self.open_all()

    def closed(self) -> set[Crosspoint]:
        """Query the closed crosspoints of the card."""
        return {(i, o) for card, i, o in c.parse_channel_list(self.ask(c.closed_query(self.card)))
                if card == self.card}

    def route(self, points: Iterable[Crosspoint]) -> None:
        """Make exactly ``points`` closed, touching only what changes."""
        want, have = set(points), self.closed()
        self.open(sorted(have - want))
        self.close(sorted(want - have))

    def disconnect(self) -> None:
        """Close the transport (``close`` means closing relays on a matrix)."""
        self.transport.close()
