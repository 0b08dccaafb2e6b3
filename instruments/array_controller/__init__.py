"""Array controller: our open framed binary protocol over serial (docs/array-controller-protocol.md)."""
from instruments.array_controller.driver import ArrayController

__all__ = ["ArrayController"]
