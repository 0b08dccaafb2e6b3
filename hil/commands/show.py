"""`hil show F`: what a run file holds (provenance, status, events, maps, results, fits)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="summarise a run file")
    p.add_argument("file", help="run file (.h5)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from hil.store import Run
    from protocols.base import get_protocol

    run = Run.open(args.file)
    a = run.attrs
    t, _ = run.read_maps()
    cp = run.read_checkpoint()
    print(f"file:       {run.path}")
    print(f"protocol:   {a['protocol']}   status: {a['status']}" + (f" ({a['message']})" if a.get("message") else ""))
    print(f"created:    {a['created_utc']}   hil {a['hil_version']}   format v{a['format_version']}")
    print(f"backend:    {a['backend']}   device: {a['device'].get('name', '?')}   "
          f"array: {a['shape'][0]} x {a['shape'][1]}   seed: {a['seed']}")
    print("params:     " + ", ".join(f"{k}={v!r}" for k, v in a["params"].items()))
    print(f"events:     {run.n_events()}   maps: {len(t)}   last checkpoint step: {cp.get('step', -1)}")
    for group in ("results", "fits"):
        for name in run.list(group):
            ds = run.dataset_attrs(f"{group}/{name}")
            shape = run._read(f"{group}/{name}").shape
            print(f"/{group}/{name}: shape {shape}" + (f" [{ds['units']}]" if ds.get("units") else ""))
    if a["status"] == "complete":
        try:
            for line in get_protocol(a["protocol"]).summary(run):
                print(line)
        except Exception as exc:  # a summary is a convenience; never fail `show` on it
            print(f"(summary unavailable: {exc})")
    elif a["status"] in ("interrupted", "failed", "running"):
        print(f"resume with: hil resume {run.path}")
    return 0
