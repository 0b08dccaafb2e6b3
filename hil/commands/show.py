"""`hil show F`: what a run file holds (provenance, status, history, events, maps, results, fits)."""
from __future__ import annotations

import argparse

#: faults listed in full; more are counted
SHOW_FAULTS = 5
#: results and fits with at most this many values are printed, larger ones by shape
SHOW_VALUES = 16


def _values(data) -> str:  # noqa: ANN001
    """A small dataset's values, compactly (numbers with 4 significant digits)."""
    import numpy as np

    arr = np.asarray(data)
    if arr.dtype.kind in "fc":
        text = np.array2string(arr, precision=4, separator=", ", floatmode="maxprec")
    else:
        text = np.array2string(arr, separator=", ")
    return text.replace("\n", " ")


def _duration(start: str, end: str) -> str:
    """'2026-..Z' to '2026-..Z' as '1 h 02 min 03 s' ('' when a time cannot be read)."""
    from datetime import datetime

    try:
        t0, t1 = (datetime.fromisoformat(x.replace("Z", "+00:00")) for x in (start, end))
    except (TypeError, ValueError):
        return ""
    sec = max(0, round((t1 - t0).total_seconds()))
    h, rest = divmod(sec, 3600)
    m, s = divmod(rest, 60)
    return (f"{h} h {m:02d} min {s:02d} s" if h else f"{m} min {s:02d} s" if m else f"{s} s")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="summarise a run file")
    p.add_argument("file", help="run file (.h5)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from hil.store import PULSE_KINDS, Run
    from protocols.base import get_protocol

    run = Run.open(args.file)
    sizes = run.verify()  # reads every dataset: a checksum mismatch is an error, not data
    a = run.attrs
    t_len = run.dataset_shape("maps/t_s")[0] if "maps/t_s" in sizes else 0
    cp = run.read_checkpoint()
    print(f"file:       {run.path}")
    print(f"protocol:   {a.get('protocol', '?')}   status: {a.get('status', '?')}"
          + (f" ({a['message']})" if a.get("message") else ""))
    print(f"created:    {a.get('created_utc', '?')}   hil {a.get('hil_version', '?')}   "
          f"format v{a.get('format_version', '?')}")
    if a.get("finished_utc"):
        took = _duration(a.get("created_utc", ""), a["finished_utc"])
        print(f"finished:   {a['finished_utc']}" + (f"   duration {took}" if took else ""))
    device = a.get("device") if isinstance(a.get("device"), dict) else {}
    print(f"backend:    {a.get('backend', '?')}   device: {device.get('name', '?')}   "
          f"array: {a['shape'][0]} x {a['shape'][1]}   seed: {a['seed']}")
    params = a.get("params") if isinstance(a.get("params"), dict) else {}
    print("params:     " + ", ".join(f"{k}={v!r}" for k, v in params.items()))
    print(f"events:     {run.n_events()}   maps: {t_len}   last checkpoint step: {cp.get('step', -1)}")
    data = sum(sizes.values())
    size = run.path.stat().st_size
    print(f"size:       {size / 1e6:.2f} MB for {data / 1e6:.2f} MB of datasets; checksums ok")
    pulses = run.read_pulses()
    if len(pulses):
        known = pulses["n"][pulses["n"] >= 0].sum()
        late = pulses["n"][(pulses["kind"] == PULSE_KINDS["unrecorded"]) & (pulses["n"] > 0)].sum()
        unknown = int((pulses["n"] < 0).sum())
        print(f"pulses:     {known} physical pulses in the ledger"
              + (f" ({late} settled from the device counter after an interruption)" if late else "")
              + (f"; {unknown} step(s) with an unknown count" if unknown else ""))
    for h in run.read_history():
        print(f"history:    {h['utc']}  {h['kind']:<9} step {h['step']:>6}  {h['message']}")
    faults = run.read_faults()
    if faults:
        print(f"faults:     {len(faults)} handled during the run" + (", last ones:" if len(faults) > SHOW_FAULTS else ":"))
        for fl in faults[-SHOW_FAULTS:]:
            print(f"            {fl['utc']}  step {fl['step']}: {fl['message']}")
    for group in ("results", "fits"):
        for name in run.list(group):
            ds = run.dataset_attrs(f"{group}/{name}")
            shape = run.dataset_shape(f"{group}/{name}")
            units = f" [{ds['units']}]" if ds.get("units") else ""
            n_values = 1
            for d in shape:
                n_values *= d
            if n_values <= SHOW_VALUES:
                data = run.read_result(name) if group == "results" else run.read_fit(name)
                print(f"/{group}/{name}{units}: {_values(data)}")
            else:
                print(f"/{group}/{name}: shape {shape}{units}")
    from protocols.base import registry

    if a.get("status") == "complete" and a.get("protocol") not in registry():
        pass  # an analysis run file (validate, bnn_xor): its results above are the summary
    elif a.get("status") == "complete":
        try:
            for line in get_protocol(a["protocol"]).summary(run):
                print(line)
        except Exception as exc:  # a summary is a convenience; never fail `show` on it
            print(f"(summary unavailable: {exc})")
    elif a.get("status") == "running":
        from hil.store.lock import writer_active

        if writer_active(run.path):
            print(f"a writer is running now; follow it with: hil watch {run.path}")
        else:  # status says running but nobody writes: the writer died without a word
            print("no process is writing this file: the writer stopped without recording it "
                  "(killed, crashed or power lost); the file holds its last commit and may be "
                  f"resumable with: hil resume {run.path}")
    elif a.get("status") in ("interrupted", "failed"):
        print(f"resume with: hil resume {run.path}")
    return 0
