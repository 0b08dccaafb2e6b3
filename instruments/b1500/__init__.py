"""Keysight B1500A semiconductor parameter analyzer (FLEX command set): SMUs and SPGU.

`commands` builds command strings (pure), `parse` turns replies into values (pure),
`driver.B1500` and `spgu.SPGU` send them through a `hil.transport.Transport`.
"""
from instruments.b1500.driver import B1500, Datum
from instruments.b1500.spgu import SPGU

__all__ = ["B1500", "SPGU", "Datum"]
