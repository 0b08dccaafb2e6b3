"""Measure retention on the simulated array, fit its drift statistics, and sample drifted
network weights from the measured statistics in torch.
Usage: python examples/fit_drift_to_torch.py [OUT.h5]"""
import sys

import torch

from hil.analysis.drift import analyse_run, write_fits
from hil.nn.drift import state_drift_from_run
from hil.runner import run_protocol
from hil.station import Station
from hil.store import Run

out = sys.argv[1] if len(sys.argv) > 1 else "example-retention.h5"
station = Station.load(None)
with station.make_backend() as backend:       # 8 x 8 ECRAM cells, 4 states, 1 s .. 1 week
    run_protocol("retention", backend, out,
                 {"n_levels": 4, "n_snapshots": 10, "horizon_s": 7 * 86400.0},
                 station=station, overwrite=True, progress=False)

run = Run.open(out)
stats, ref, lines, gauss = analyse_run(run, t_read_s=86400.0)   # per-state Gaussians at 1 day
write_fits(run, stats, ref, lines, gauss)                      # what `hil fit` writes to /fits
print(f"{len(stats.states)} states; drift of the mean: {ref.mu_ln_uS:+.4f} µS per ln(t/s)")

sampler = state_drift_from_run(out)           # torch sampler from the measured statistics
targets = torch.as_tensor(stats.target_G_S).repeat(1000)       # 1000 cells per state
drifted = sampler.sample(targets, 86400.0, torch.Generator().manual_seed(0))
for k, g in enumerate(stats.target_G_S):
    d = drifted[k::len(stats.target_G_S)] * 1e6
    print(f"state {k}: target {g * 1e6:6.2f} µS -> after 1 day {d.mean():6.2f} ± {d.std():.2f} µS")
