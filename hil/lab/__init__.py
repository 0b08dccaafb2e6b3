"""The lab layer: `InstrumentBackend` (the backend interface on real or emulated instruments),
the driver registry (`drivers`), the wirings (`controller`, `matrix`) and the host-side
programming scheme (`scheme`)."""
from hil.lab.backend import WIRINGS, InstrumentBackend
from hil.lab.drivers import DRIVERS, check_instruments_package, make_driver

__all__ = ["DRIVERS", "WIRINGS", "InstrumentBackend", "check_instruments_package", "make_driver"]
