"""SCPI pulse/function generator (Keysight 33500 / 81160 class)."""
from instruments.pulsegen.driver import PulseGenerator

__all__ = ["PulseGenerator"]
