"""One HDF5 file per run: provenance, events, maps, results, checkpoint, history.

Modules: `schema` (dtypes, constants), `pagefile` (atomic durable commits), `lock` (the
writer lock), `state` (checkpoint encoding), `reader` (reading committed data) and `run`
(the `Run` class, writing).  See `hil.store.run`
for the layout and the crash-safety guarantees.
"""
from hil.store.run import Run, check_output_path, free_bytes
from hil.store.schema import (EVENT_DTYPE, EVENT_UNITS, FAULT_DTYPE, FORMAT, FORMAT_VERSION,
                              HISTORY_DTYPE, HISTORY_KINDS, OP_NAMES, OPS, PULSE_DTYPE,
                              PULSE_KINDS, STATUSES, make_events)

__all__ = ["Run", "make_events", "check_output_path", "free_bytes", "EVENT_DTYPE", "EVENT_UNITS",
           "FAULT_DTYPE", "FORMAT", "FORMAT_VERSION", "HISTORY_DTYPE", "HISTORY_KINDS", "OPS",
           "OP_NAMES", "PULSE_DTYPE", "PULSE_KINDS", "STATUSES"]
