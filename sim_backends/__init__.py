"""Device models, simulated arrays and the vectorized `SimBackend`.

    from sim_backends import SimBackend, make_sim_backend
    b = SimBackend(shape=(64, 64), device="ecram_wox_lipon", array="h1e1t", seed=0)
    b.pulse_cells(mask, 10.0, 2e-3); G = b.read()          # H-1E1T row-wise programming
    r = make_sim_backend({"type": "sim", "device": "rram_hfox_1t1r",       # or a typed
                          "rows": 256, "cols": 256, "seed": 1, "scheme": "V/3"})  # SimConfig

The array class is the device card's family (`hil.families`: card ``kind`` -> SimArray
subclass); `make_sim_backend` takes the typed `hil.station_config.SimConfig` a station parses
into, or a ``[backend]`` table, which it checks the same way.

Layers: ``devices/`` pure physics functions (ECRAM, RRAM, transistor Eq 12/13, MTT unit,
drift, faults), ``arrays/`` state + line voltages (H-1E1T, 1T1R), `SimBackend` the
`hil.backend.Backend` interface on top (virtual clock advanced by every pulse).  Every
parameter comes from a card in ``data/devices/`` naming its calibration source; the
calibrated numbers are asserted by ``tests/test_physics_*.py`` against REFERENCE.md.
"""
from sim_backends.sim_backend import SimBackend, make_sim_backend

__all__ = ["SimBackend", "make_sim_backend"]
