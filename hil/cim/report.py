"""CIM analysis results as a run file (same provenance as every run: `hil show` reads it).

The file is a :class:`hil.store.Run` with protocol ``cim_<analysis>``, backend ``analysis``,
``params`` = the command's parameters, attrs ``inputs`` (run files used, with their
protocol, seed and creation time) and ``unit_cards`` (the unit cards' parsed contents), and
one ``/results`` dataset per reported quantity (with units).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hil.cim.units import Unit


def _input_provenance(paths: list[str | Path]) -> list[dict[str, Any]]:
    from hil.store import Run

    out = []
    for p in paths:
        a = Run.open(p).attrs
        out.append({"path": str(Path(p).resolve()), "protocol": a.get("protocol"),
                    "seed": a.get("seed"), "created_utc": a.get("created_utc"),
                    "status": a.get("status")})
    return out


def write_analysis(path: str | Path, analysis: str, params: dict[str, Any],
                   results: dict[str, tuple[Any, str] | tuple[Any, str, dict]], *,
                   inputs: list[str | Path] = (), units: list[Unit] = (),
                   seed: int | None = None, overwrite: bool = False) -> Path:
    """Create ``path`` and write ``results`` {name: (data, units[, attrs])}."""
    from dataclasses import asdict

    from hil.store import Run

    cards = [{k: v for k, v in asdict(u).items() if k != "formats"} | {
        "formats": {f: asdict(x) for f, x in u.formats.items()}} for u in units]
    run = Run.create(path, protocol=f"cim_{analysis}", params=params, station_text="",
                     backend="analysis", device={}, seed=seed, shape=(1, 1), overwrite=overwrite,
                     attrs={"inputs": _input_provenance(list(inputs)), "unit_cards": cards})
    with run.writing():  # one writer session: all results land in one atomic commit
        for name, spec in results.items():
            data, unit = spec[0], spec[1]
            extra = spec[2] if len(spec) > 2 else {}
            if isinstance(data, (list, tuple)) and data and isinstance(data[0], str):
                data = np.array(data, dtype="S")
            run.write_result(name, data, unit, **extra)
        run.commit()
        run.set_status("complete")
    return Path(path)


def read_inputs(path: str | Path) -> list[dict[str, Any]]:
    """The ``inputs`` provenance of an analysis file (run files it was computed from)."""
    import json

    from hil.store import Run

    raw = Run.open(path).attrs.get("inputs", "[]")
    return json.loads(raw) if isinstance(raw, str) else list(raw)
