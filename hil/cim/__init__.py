"""CIM cost model and heterogeneous partitioning (issue 16).

- :mod:`hil.cim.layers`: network -> layer shapes (torch models, ResNet-20, MobileNet-v2).
- :mod:`hil.cim.crossbar`: RLMP analytic crossbar writes/executes/latency (REFERENCE §7).
- :mod:`hil.cim.units`: compute-unit cards (``data/cim/*.toml``).
- :mod:`hil.cim.cost`: per-layer energy/latency/area/storage of a mapping.
- :mod:`hil.cim.formats`: INT/FP number-format quantizers.
- :mod:`hil.cim.activations`: layer inputs in a unit's format (static calibrated ranges).
- :mod:`hil.cim.budget`: the budget rule (upper confidence bound) of partition and search.
- :mod:`hil.cim.error_model`: device error statistics from run files / fits / parameters.
- :mod:`hil.cim.sensitivity`, :mod:`hil.cim.partition`: per-layer sensitivity, assignment.
"""
