"""The lab layer: `InstrumentBackend` (the backend interface on real or emulated instruments),
the one driver registry (`drivers`), the wirings (`controller`, `matrix`) and their teardown
(`teardown`).  Programming goes through the one pulse plan, `hil.plan`."""
from hil.lab.backend import WIRINGS, InstrumentBackend
from hil.lab.drivers import DRIVERS, REGISTRY, DriverSpec, check_instruments_package, make_driver

__all__ = ["DRIVERS", "REGISTRY", "WIRINGS", "DriverSpec", "InstrumentBackend",
           "check_instruments_package", "make_driver"]
