"""Run an LTP/LTD pulse train on the embedded simulated ECRAM array and read the run file
back with plain h5py.  Usage: python examples/run_protocol.py [OUT.h5]"""
import sys

import h5py

from hil.runner import run_protocol
from hil.station import Station

out = sys.argv[1] if len(sys.argv) > 1 else "example-ltp.h5"
station = Station.load(None)                    # the embedded simulated ECRAM array (8 x 8)
with station.make_backend() as backend:
    run_protocol("pulse_train", backend, out,
                 {"cells": "0:2,0:2", "n_pot": 50, "n_dep": 50},   # 4 cells, 100 pulses each
                 station=station, overwrite=True, progress=False)

with h5py.File(out, "r") as f:                  # any HDF5 reader works, no hil needed
    ev = f["events"][:]                         # t_s, row, col, V_V, width_s, G_S, step, op
    ratio = float(f["results/on_off_ratio"][()].ravel()[0])
    print(f"status: {f.attrs['status']}")
    print(f"events: {len(ev)} (pulses at {sorted(set(ev['V_V'].round(1).tolist()))} V)")
    print(f"on/off ratio of cell (0, 0): {ratio:.0f}")
