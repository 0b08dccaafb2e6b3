"""SCPI switch matrix (Keysight E5250A / B2200A class)."""
from instruments.switch_matrix.driver import SwitchMatrix

__all__ = ["SwitchMatrix"]
