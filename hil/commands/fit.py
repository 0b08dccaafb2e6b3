"""`hil fit RUN.h5`: drift statistics of a retention run, written to the run's /fits."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit", help="fit drift statistics of a retention run and write them to /fits",
        description="Per-state mean/std of G vs time, the REFERENCE §5 drift form, per-state "
                    "lines in ln t and per-state Gaussians at a read time; written to RUN's "
                    "/fits (units attached) and plotted.")
    p.add_argument("run", help="retention run file (.h5)")
    p.add_argument("--t-read", default="1w", metavar="T",
                   help="read time for the per-state Gaussian model, e.g. 604800 or 1w "
                        "(default one week, as VeRA+ §IV-F)")
    p.add_argument("--read-c", type=float, default=None, metavar="uS",
                   help="hold the read-noise coefficient fixed (µS) instead of fitting it")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="figure path (default RUN with suffix _drift.png; 'none' to skip)")
    p.set_defaults(func=run_fit)


def run_fit(args: argparse.Namespace) -> int:
    from hil.analysis.drift import (fit_reference_form, fit_state_lines, read_retention,
                                    state_gaussians_at, state_statistics, write_fits)
    from hil.store import Run

    from hil.commands.vera import parse_time

    t_read = parse_time(str(args.t_read))
    run = Run.open(args.run)
    t_s, G_S, state, target = read_retention(run)
    stats = state_statistics(t_s, G_S, state, target)
    ref = fit_reference_form(stats, read_c_uS=args.read_c)
    lines = fit_state_lines(stats)
    gauss = state_gaussians_at(stats, t_read)
    names = write_fits(run, stats, ref, lines, gauss)
    print(f"{len(stats.states)} states, {len(t_s)} snapshots "
          f"({t_s.min():.3g} s to {t_s.max():.3g} s), {int(stats.count.sum())} cells")
    print("reference form (µS; the drift model of VeRA+ §II-A / aihwkit, see docs/references.md):")
    unresolved = ref.unresolved()
    for k, v in ref.as_dict().items():
        note = f"   NOT RESOLVED: {unresolved[k]}" if k in unresolved else ""
        print(f"  {k:12s} = {v: .6g} ± {ref.stderr[k]:.2g}{note}")
    if unresolved:
        print(f"  {len(unresolved)} of {len(ref.as_dict())} coefficients are not resolved by "
              f"{int(stats.count.min())}-{int(stats.count.max())} cells per state and "
              f"{int((t_s > 0).sum())} snapshots; they are written to /fits flagged "
              "'resolved = 0'")
    print(f"per-state Gaussians at t = {gauss[0]:.4g} s (the snapshot nearest, in log time, to "
          f"the requested {t_read:.4g} s; snapshots span {t_s[t_s > 0].min():.3g}-{t_s.max():.3g} s):")
    for k in range(len(stats.states)):
        print(f"  state {stats.states[k]:3d}: target {stats.target_G_S[k]*1e6:8.3f} µS  "
              f"mean {gauss[1][k]*1e6:8.3f} µS  std {gauss[2][k]*1e6:7.3f} µS")
    print(f"wrote {len(names)} datasets to {args.run}:/fits (drift_*)")
    if (args.plot or "").lower() != "none":
        from hil.analysis.drift_plot import plot_drift
        png = Path(args.plot) if args.plot else Path(args.run).with_name(
            Path(args.run).stem + "_drift.png")
        i = int(np.flatnonzero(t_s == gauss[0])[0])
        plot_drift(stats, ref, G_S[i], state, gauss[0], png)
        print(f"plot: {png}")
    return 0
