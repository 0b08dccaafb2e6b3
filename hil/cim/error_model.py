"""Device error statistics for a memristor-CIM layer, from this framework's own run files.

An :class:`ErrorModel` turns a weight tensor into one hardware instance of it:

1. map weights onto differential conductance pairs inside the measured level range
   (:class:`hil.nn.drift.WeightMapping`, ``kind="pair"``, per output channel);
2. **programming error**: every device's conductance gets an error drawn (bootstrap) from
   the final errors a ``write_verify`` run measured — relative to the target when the run's
   tolerance was relative to the target (ECRAM), in units of the level range when it was
   relative to the range (RRAM) — stuck and unconverged cells included, as measured;
3. **drift** at ``t_s`` from a retention fit (``hil fit`` → :class:`hil.nn.drift.StateDrift`),
   or the reference model;
4. **read noise**: relative Gaussian ``read_sigma_rel``;
5. map the pair back to a weight.

:meth:`ErrorModel.parametric` builds the same pipeline from a Gaussian relative programming
error, for comparisons with textbook noise.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hil.errors import ParameterError, RunFileError
from hil.nn.drift import DriftSampler, WeightMapping


@dataclass(frozen=True)
class ErrorModel:
    """Measured (or parametric) device errors applied to weights; picklable."""

    g_min_S: float
    g_max_S: float
    prog_errors: torch.Tensor | None = None   # bootstrap pool (float64)
    prog_mode: str = "relative"               # "relative" (to target) | "range" (to g_max - g_min)
    prog_sigma_rel: float = 0.0               # parametric Gaussian relative error (if no pool)
    drift: DriftSampler | None = None
    t_s: float = 0.0
    read_sigma_rel: float = 0.0
    source: str = "parametric"

    def __post_init__(self) -> None:
        if not 0 <= self.g_min_S < self.g_max_S:
            raise ParameterError(f"ErrorModel needs 0 <= g_min_S < g_max_S "
                                 f"(got {self.g_min_S}, {self.g_max_S})")
        if self.prog_mode not in ("relative", "range"):
            raise ParameterError(f"prog_mode {self.prog_mode!r}; allowed: 'relative', 'range'")
        for name in ("prog_sigma_rel", "read_sigma_rel", "t_s"):
            if getattr(self, name) < 0:
                raise ParameterError(f"ErrorModel.{name}={getattr(self, name)} must be >= 0")

    # ---- constructors -----------------------------------------------------------------
    @classmethod
    def parametric(cls, prog_sigma_rel: float = 0.02, read_sigma_rel: float = 0.0,
                   g_min_S: float = 1e-6, g_max_S: float = 50e-6, **kw: Any) -> "ErrorModel":
        """Gaussian relative programming (and read) error, no run file."""
        return cls(g_min_S, g_max_S, prog_sigma_rel=prog_sigma_rel,
                   read_sigma_rel=read_sigma_rel, source="parametric", **kw)

    @classmethod
    def from_write_verify(cls, path: str | Path, *, read_sigma_rel: float | None = None,
                          **kw: Any) -> "ErrorModel":
        """Programming-error pool from a finished ``write_verify`` run file."""
        from hil.store import Run

        run = Run.open(path)
        attrs = run.attrs
        if attrs.get("protocol") != "write_verify":
            raise RunFileError(f"{str(path)!r} is a {attrs.get('protocol')!r} run; "
                               "the programming error needs a write_verify run")
        target = np.asarray(run.read_result("target_G_S"), dtype=np.float64)
        final = np.asarray(run.read_result("final_G_S"), dtype=np.float64)
        levels = np.asarray(run.read_result("levels_G_S"), dtype=np.float64)
        mask = np.isfinite(target) & np.isfinite(final)
        if not mask.any():
            raise RunFileError(f"{str(path)!r}: no programmed cells in /results/target_G_S")
        tol_ref = (attrs.get("params") or {}).get("tol_ref") or "target"
        err = final[mask] - target[mask]
        g_lo, g_hi = float(levels.min()), float(levels.max())
        if tol_ref == "range":
            pool, mode = err / (g_hi - g_lo), "range"
        else:
            pool, mode = err / target[mask], "relative"
        device = attrs.get("device") or {}
        if read_sigma_rel is None:  # the card's read noise: what the verify reads saw
            read_sigma_rel = float((device.get("noise", {}) if isinstance(device, dict) else {})
                                   .get("read_rel_sigma", 0.0))
        return cls(g_lo, g_hi, prog_errors=torch.as_tensor(pool), prog_mode=mode,
                   read_sigma_rel=read_sigma_rel,
                   source=f"write_verify {Path(path).name} ({mask.sum()} cells)", **kw)

    def with_drift(self, fit_path: str | Path, t_s: float, model: str = "lines") -> "ErrorModel":
        """Add drift at ``t_s`` from the ``/fits`` of a retention run (``hil fit`` output).

        ``model="lines"``: per-state offset and spread linear in ln t (uses ``t_s``);
        ``"gauss"``: the per-state Gaussians at the fit's read time (``t_s`` informational).
        """
        from dataclasses import replace

        from hil.nn.drift import state_drift_from_run

        if not (np.isfinite(t_s) and t_s >= 0):
            raise ParameterError(f"drift time t_s={t_s!r} must be a finite time >= 0 s")
        sampler = state_drift_from_run(fit_path, model=model)
        return replace(self, drift=sampler, t_s=float(t_s),
                       source=f"{self.source} + drift {Path(fit_path).name} at {t_s:g} s")

    # ---- statistics -------------------------------------------------------------------
    @property
    def prog_sigma(self) -> float:
        """Std of the programming error (relative or in range units, see ``prog_mode``)."""
        if self.prog_errors is not None:
            return float(self.prog_errors.std())
        return self.prog_sigma_rel

    def describe(self) -> dict[str, Any]:
        """Summary for provenance attributes."""
        return {"source": self.source, "prog_mode": self.prog_mode, "prog_sigma": self.prog_sigma,
                "pool_size": 0 if self.prog_errors is None else int(self.prog_errors.numel()),
                "read_sigma_rel": self.read_sigma_rel, "t_s": self.t_s,
                "drift": type(self.drift).__name__ if self.drift is not None else "none",
                "g_min_S": self.g_min_S, "g_max_S": self.g_max_S}

    # ---- sampling ---------------------------------------------------------------------
    def perturb_conductance(self, G_S: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """One instance of programmed conductances ``G_S`` (any shape)."""
        G = G_S.to(torch.float64)
        if self.prog_errors is not None:
            pool = self.prog_errors.to(G.device, torch.float64)
            e = pool[torch.randint(pool.numel(), G.shape, generator=gen, device=G.device)]
            G = G + (e * G if self.prog_mode == "relative" else e * (self.g_max_S - self.g_min_S))
        elif self.prog_sigma_rel > 0:
            G = G * (1 + self.prog_sigma_rel * torch.randn(G.shape, generator=gen, dtype=G.dtype,
                                                            device=G.device))
        if self.drift is not None:
            G = self.drift.sample(G, self.t_s, gen).to(torch.float64)
        if self.read_sigma_rel > 0:
            G = G * (1 + self.read_sigma_rel * torch.randn(G.shape, generator=gen, dtype=G.dtype,
                                                            device=G.device))
        return G.clamp(min=0.0).to(G_S.dtype)

    def perturb_weight(self, w: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """One hardware instance of weight tensor ``w`` (same shape and dtype, no grad)."""
        mapping = WeightMapping(self.g_min_S, self.g_max_S, kind="pair", per_channel=True)
        with torch.no_grad():
            G, params = mapping.to_conductance(w.to(torch.float64))
            return mapping.to_weight(self.perturb_conductance(G, gen), params).to(w.dtype)
