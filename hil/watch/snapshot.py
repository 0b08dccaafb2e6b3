"""What the live view shows, read from a run file's committed data as plain JSON.

Pure reading through `hil.store.Run` (which opens the file without locks and sees only
committed rows), so watching never disturbs the writer.  Every array is downsampled here
(`hil.watch.downsample`), so the page stays small for a 4 Mb array or a 10-hour run.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from hil.store import OP_NAMES, Run
from hil.watch.downsample import MAX_TRACE_POINTS, block_mean, decimate_minmax

MAX_HISTORY_ROWS = 200
PARAMS_SHOWN = 40


def _finite(x: Any) -> Any:
    """JSON-safe number (NaN/inf -> None)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _list(a: np.ndarray, scale: float = 1.0) -> list[Any]:
    a = np.asarray(a, dtype=np.float64) * scale
    return [None if not math.isfinite(v) else round(v, 6) for v in a.ravel().tolist()]


def _trace(name: str, x: Any, y: Any, *, mode: str = "markers", **extra: Any) -> dict[str, Any]:
    return {"type": "scattergl", "name": name, "x": x, "y": y, "mode": mode,
            "marker": {"size": 3}, **extra}


def events_view(run: Run, n_events: int) -> dict[str, Any] | None:
    """Measured conductance of every event row (downsampled), reads and pulses apart."""
    if n_events == 0:
        return None
    ev = run.read_events()
    traces = []
    for code in np.unique(ev["op"]):
        sel = np.flatnonzero(ev["op"] == code)
        idx, g = decimate_minmax(ev["G_S"][sel] * 1e6, MAX_TRACE_POINTS // 2)
        if idx.size:
            traces.append(_trace(OP_NAMES.get(int(code), str(code)), sel[idx].tolist(), _list(g)))
    if not traces:
        return None
    last = ev["G_S"][np.isfinite(ev["G_S"])]
    return {"id": "events", "title": f"conductance per event ({n_events} events)",
            "traces": traces, "last_G_uS": _finite(last[-1] * 1e6) if last.size else None,
            "layout": {"xaxis": {"title": {"text": "event number"}},
                       "yaxis": {"title": {"text": "G (µS)"}, "type": "log"}}}


def map_view(run: Run, n_maps: int) -> dict[str, Any] | None:
    """The latest conductance snapshot as a heatmap (block-averaged above 192 per side)."""
    if n_maps == 0:
        return None
    t, G = run.read_map(n_maps - 1)
    z, k = block_mean(G * 1e6)
    note = "" if k == 1 else f", {k}×{k}-cell block means"
    return {"id": "map", "title": f"latest map: snapshot {n_maps} at t = {t:.4g} s{note}",
            "traces": [{"type": "heatmap", "z": [_list(r) for r in z], "colorscale": "Viridis",
                        "colorbar": {"title": {"text": "G (µS)"}}}],
            "layout": {"xaxis": {"title": {"text": f"column{'' if k == 1 else ' block'}"}},
                       "yaxis": {"title": {"text": f"row{'' if k == 1 else ' block'}"},
                                 "autorange": "reversed"}}}


def retention_view(run: Run, n_maps: int) -> dict[str, Any] | None:
    """Mean ± std conductance per programmed state vs time after programming (log t)."""
    if n_maps == 0 or "state" not in run.list("results"):
        return None
    state = run.read_result("state")
    ids = np.unique(state[state >= 0])
    if ids.size == 0:
        return None
    t, G = run.read_maps()
    t, G = t[:n_maps], G[:n_maps]
    traces = []
    for s in ids:
        m = state == s
        vals = G[:, m]
        traces.append(_trace(f"state {int(s)}", _list(t), _list(vals.mean(axis=1), 1e6), mode="lines+markers",
                             error_y={"type": "data", "array": _list(vals.std(axis=1), 1e6), "visible": True}))
    return {"id": "retention", "title": f"retention: {ids.size} states, {n_maps} snapshots",
            "traces": traces,
            "layout": {"xaxis": {"title": {"text": "time after programming (s)"}, "type": "log"},
                       "yaxis": {"title": {"text": "G (µS), mean ± std per state"}}}}


def convergence_view(checkpoint: dict[str, Any]) -> dict[str, Any] | None:
    """Write-verify convergence per round from the engine history kept in the checkpoint."""
    from protocols.ispp import HISTORY_COLUMNS

    hist = _find(checkpoint, "history")
    if hist is None:
        return None
    hist = np.asarray(hist, dtype=np.float64).reshape(-1, len(HISTORY_COLUMNS))
    if hist.size == 0:
        return None
    col = {k: i for i, k in enumerate(HISTORY_COLUMNS)}
    n = hist[:, col["n_converged"]] + hist[:, col["n_active"]]
    n_cells = max(float(n.max()), 1.0)
    x = _list(hist[:, col["pulse"]])
    return {"id": "convergence",
            "title": f"write-verify convergence: {100 * hist[-1, col['n_converged']] / n_cells:.2f} % "
                     f"after round {int(hist[-1, col['pulse']])}",
            "traces": [_trace("converged (%)", x, _list(100 * hist[:, col["n_converged"]] / n_cells), mode="lines"),
                       _trace("in progress (%)", x, _list(100 * hist[:, col["n_active"]] / n_cells), mode="lines")],
            "layout": {"xaxis": {"title": {"text": "pulse round"}},
                       "yaxis": {"title": {"text": "cells (%)"}}}}


def _find(d: Any, key: str) -> Any:
    if isinstance(d, dict):
        if key in d and isinstance(d[key], np.ndarray):
            return d[key]
        for v in d.values():
            found = _find(v, key)
            if found is not None:
                return found
    return None


#: extra views per protocol, besides the events trace and the latest map
PROTOCOL_VIEWS: dict[str, tuple[str, ...]] = {
    "retention": ("convergence", "retention"),
    "write_verify": ("convergence",),
    "mtt_readout": ("convergence",),
}


def _history(run: Run) -> list[dict[str, Any]]:
    """The last rows of /history (start, interrupt, fault, resume, complete)."""
    return [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()}
            for row in run.read_history()[-MAX_HISTORY_ROWS:]]


def snapshot(run: Run, *, with_checkpoint: bool = True) -> dict[str, Any]:
    """Everything the page shows, as JSON-able data."""
    a = run.attrs
    n_events, n_maps = run.n_events(), run.n_maps()
    checkpoint = run.read_checkpoint() if with_checkpoint else {}
    step = int(checkpoint.get("step", -1)) if checkpoint else int(a.get("last_step", -1))
    n_steps = a.get("n_steps")
    params = a.get("params") or {}
    views = [v for v in (events_view(run, n_events), map_view(run, n_maps)) if v]
    for name in PROTOCOL_VIEWS.get(str(a.get("protocol")), ()):
        v = convergence_view(checkpoint) if name == "convergence" else retention_view(run, n_maps)
        if v:
            views.append(v)
    last_G = next((v.get("last_G_uS") for v in views if v["id"] == "events"), None)
    device = a.get("device") or {}
    return {
        "file": run.path.name, "protocol": a.get("protocol"), "status": a.get("status"),
        "message": a.get("message", ""), "created_utc": a.get("created_utc"),
        "finished_utc": a.get("finished_utc"), "step": step,
        "n_steps": int(n_steps) if n_steps is not None else None,
        "n_events": n_events, "n_maps": n_maps, "last_G_uS": last_G,
        "provenance": {
            "backend": a.get("backend"), "seed": a.get("seed"), "shape": list(a.get("shape", ())),
            "device": device.get("name") if isinstance(device, dict) else str(device),
            "params": {k: params[k] for k in list(params)[:PARAMS_SHOWN]},
            "station": a.get("station", ""),
        },
        "history": _history(run),
        "views": views,
    }


def to_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, default=_default, allow_nan=False).encode()


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return _finite(obj) if isinstance(obj, np.floating) else obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, bytes):
        return obj.decode(errors="replace")
    raise TypeError(f"cannot encode {type(obj).__name__}")
