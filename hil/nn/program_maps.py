"""Program conductance maps onto backends with the write-verify protocol (via `hil.runner`).

The network code never pulses cells itself: every map goes through
`protocols.write_verify.WriteVerify` run by `hil.runner.run_protocol`, so the run file of
each array holds the per-cell outcomes (``/results``) exactly as ``hil run write_verify``
would, and the lab path is the same as the simulated one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hil.backend import Backend
from hil.errors import ParameterError
from hil.runner import run_protocol
from hil.store import Run


@dataclass
class Programmed:
    """Outcome of programming one array."""

    run_path: Path
    converged: np.ndarray   # bool (rows, cols); False outside the target
    state: np.ndarray       # int32 nearest-level index (-1 outside the target)
    rel_error: np.ndarray   # (G - target)/target after write-verify (NaN outside)
    n_pulses: np.ndarray


def program_map(backend: Backend, target_G_S: np.ndarray, out: str | Path,
                g_range_S: tuple[float, float], *, tol: float = 0.02, tol_ref: str = "target",
                max_pulses: int = 200,
                n_levels: int = 16, station_text: str = "", seed: int | None = None,
                overwrite: bool = False, progress: bool = False,
                extra: dict[str, Any] | None = None) -> Programmed:
    """Write-verify ``target_G_S`` (rows, cols; NaN = leave alone) into run file ``out``
    (the target map is saved beside it as ``<out>.target.npy``, which the run's params name).

    ``tol`` is relative to each cell's target (``tol_ref="target"``) or to the level range
    (``"range"``: the same absolute error everywhere, what matters for a weight).
    ``g_range_S`` is the ladder range the protocol uses (and the level grid the per-cell
    ``state`` index refers to, ``n_levels`` levels); ``extra`` passes further write_verify
    parameters (e.g. ``{"v_p_max_V": 12}``).
    """
    target = np.asarray(target_G_S, dtype=np.float64)
    if target.shape != tuple(backend.shape):
        raise ParameterError(f"target map shape {target.shape} does not match the array "
                             f"{tuple(backend.shape)}")
    finite = np.isfinite(target)
    if not finite.any():
        raise ParameterError("target map has no finite target (nothing to program)")
    if np.any(target[finite] <= 0):
        raise ParameterError("target conductances must be > 0 S")
    lo, hi = float(g_range_S[0]), float(g_range_S[1])
    lo, hi = min(lo, float(np.nanmin(target))), max(hi, float(np.nanmax(target)))
    out = Path(out)
    npy = out.with_name(out.name + ".target.npy")   # kept: the run's params name it (resume)
    np.save(npy, target)
    params = {"target": str(npy), "g_low_S": lo, "g_high_S": hi, "n_levels": n_levels,
              "tol": tol, "tol_ref": tol_ref, "max_pulses": max_pulses, **(extra or {})}
    from hil.station import Station

    station = Station.from_text(station_text) if station_text.strip() else None
    path = run_protocol("write_verify", backend, out, params, station=station,
                        overwrite=overwrite, progress=progress)
    run = Run.open(path)
    if run.status != "complete":
        raise ParameterError(f"write-verify run {str(path)!r} ended {run.status!r}: "
                             f"{run.attrs.get('message', '')}")
    return Programmed(Path(path), run.read_result("converged").astype(bool),
                      run.read_result("state").astype(np.int32), run.read_result("rel_error"),
                      run.read_result("n_pulses"))
