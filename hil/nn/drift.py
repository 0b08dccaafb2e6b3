"""Drift samplers on torch tensors (batched, on the tensor's device).

Two sources of drift statistics, one interface ``sample(G_S, t_s, generator=None) -> G_S``:

- :class:`ReferenceDrift`: the statistical RRAM model of REFERENCE §5 (aihwkit
  ``ReRamCMONoiseModel``, coefficients from the ``drift_reference`` card) plus the
  device-to-device multiplicative Gaussian of VeRA+ Eq 4.
- :class:`StateDrift`: per-programmed-state Gaussians fitted from a retention run
  (``hil.analysis.drift``), the VeRA+ §IV-F "measured drift" model; mean offset and spread
  may be constant (statistics at one read time) or linear in ln t.

The card is in µS; these classes take and return siemens (``G_S``) and convert at the
boundary (``g_uS`` inside).  :class:`WeightMapping` maps weights to conductances the way
aihwkit's single-device converter does (per tensor, affine onto [g_min, g_max]).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from hil.cards import load_card
from hil.errors import ParameterError

US_PER_S = 1e6  # µS per siemens
#: VeRA+ Eq 4 (device-to-device multiplicative Gaussian): the constant was lost in the
#: paper's text extraction; 1 % relative spread unless the card sets [device_to_device].
DEFAULT_D2D_SIGMA_REL = 0.01


class DriftSampler(Protocol):
    """Anything that turns programmed target conductances into drifted ones at time t."""

    def sample(self, G_S: torch.Tensor, t_s: float,
               generator: torch.Generator | None = None) -> torch.Tensor: ...


def _randn(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


def _fusable(g: torch.Tensor, out: torch.Tensor) -> bool:
    """A contiguous float32 CPU tensor without autograd, and numba importable."""
    if not (g.device.type == "cpu" and g.dtype == torch.float32 and out.dtype == torch.float32
            and g.is_contiguous() and out.is_contiguous() and out.shape == g.shape
            and not g.requires_grad and g.numel() > 0):
        return False
    try:
        import hil.nn.drift_fused  # noqa: F401 - numba compiles (or loads its cache) once
    except ImportError:
        return False
    return True


def _check_time(t_s: float) -> float:
    t = float(t_s)
    if not math.isfinite(t) or t < 0:
        raise ParameterError(f"elapsed time t_s={t_s!r} must be a finite number >= 0 s")
    return t


@dataclass(frozen=True)
class ReferenceDrift:
    """REFERENCE §5 drift model; all coefficients in µS (card units), times in s.

    g_prog  = g_T + σ_prog(g_T)·n1,            σ_prog = prog_c0 + prog_c1·g_T
    g_drift = g_prog + µ_ln·ln t + σ_drift(t)·n2,  σ_drift = σ_ln·ln t + σ_0
    g_read  = g_drift + σ_read·n3,   σ_read = c·log10(g_drift)·sqrt(ln((t + t_eps)/t_ref))
    g       = clip(g_read·(1 + σ_d2d·n4), g_min, g_max)           (VeRA+ Eq 4)
    At t = 0 only programming noise applies (as in aihwkit).
    """

    mu_ln_uS: float = -0.08900206
    sigma_ln_uS: float = 0.04201137
    sigma_0_uS: float = 0.41183342
    read_c_uS: float = 0.0277316483
    t_eps_s: float = 1e-6
    t_ref_s: float = 2e-6
    prog_c0_uS: float = 0.0112185
    prog_c1: float = 0.0112903
    g_min_uS: float = 9.0
    g_max_uS: float = 88.2
    d2d_sigma_rel: float = DEFAULT_D2D_SIGMA_REL
    programming_noise: bool = True

    @classmethod
    def from_card(cls, card: str | dict[str, Any] = "drift_reference", *,
                  acceptance: str = "2%", **overrides: Any) -> "ReferenceDrift":
        """Build from a device card (name, path or loaded dict); ``overrides`` win."""
        c = load_card(card) if not isinstance(card, dict) else card
        prog = c.get("programming_noise", {})
        if acceptance not in prog:
            raise ParameterError(
                f"programming-noise acceptance {acceptance!r} not in card; allowed: {sorted(prog)}")
        d, r = c["drift"], c["read_noise"]
        kw: dict[str, Any] = dict(
            mu_ln_uS=d["mu_ln"], sigma_ln_uS=d["sigma_ln"], sigma_0_uS=d["sigma_0"],
            read_c_uS=r["c"], t_eps_s=r["t_eps_s"], t_ref_s=r["t_ref_s"],
            prog_c0_uS=prog[acceptance][0], prog_c1=prog[acceptance][1],
            g_min_uS=c["g_min_uS"], g_max_uS=c["g_max_uS"],
            d2d_sigma_rel=c.get("device_to_device", {}).get("sigma_rel", DEFAULT_D2D_SIGMA_REL))
        kw.update(overrides)
        return cls(**kw)

    # --- closed-form statistics (µS), shared with the fits and the tests -------------
    def mean_shift_uS(self, t_s: float) -> float:
        """Mean conductance shift µ_drift(t) in µS."""
        return self.mu_ln_uS * math.log(t_s) if t_s > 0 else 0.0

    def sigma_drift_uS(self, t_s: float) -> float:
        """Drift spread σ_drift(t) in µS (clamped at 0 for t < ~1e-4 s)."""
        return max(self.sigma_ln_uS * math.log(t_s) + self.sigma_0_uS, 0.0) if t_s > 0 else 0.0

    def read_factor(self, t_s: float) -> float:
        """sqrt(ln((t + t_eps)/t_ref)) of the read-noise term (0 where the log is negative)."""
        return math.sqrt(max(math.log((t_s + self.t_eps_s) / self.t_ref_s), 0.0))

    def sample_uS(self, g_uS: torch.Tensor, t_s: float,
                  generator: torch.Generator | None = None, *, out: torch.Tensor | None = None,
                  scratch: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Drifted conductances in µS for targets ``g_uS`` (any shape, any device).

        Works in place: the result goes to ``out`` (may be ``g_uS`` itself) and the noise
        terms to two ``scratch`` buffers of the same shape and dtype (allocated when not
        given).  The four normal draws are taken in the order of the class docstring, each
        for the whole tensor, and every operation rounds as the formula reads, so a given
        generator state gives the same numbers as the out-of-place formula, bit for bit.
        """
        t = _check_time(t_s)
        g = g_uS.to(torch.float32) if not g_uS.is_floating_point() else g_uS
        out = torch.empty_like(g) if out is None else out
        noise, tmp = scratch if scratch is not None else (torch.empty_like(g), torch.empty_like(g))
        if out is not g:
            out.copy_(g)
        if self.programming_noise:  # g + (c0 + c1·g)·n1
            torch.mul(out, self.prog_c1, out=tmp).add_(self.prog_c0_uS)
            tmp.mul_(noise.normal_(generator=generator))
            out.add_(tmp)
        if t > 0:  # (g + µ_drift) + σ_drift·n2, then + σ_read·n3
            out.add_(self.mean_shift_uS(t))
            out.add_(noise.normal_(generator=generator).mul_(self.sigma_drift_uS(t)))
            torch.clamp(out, min=1e-3, out=tmp).log10_().mul_(self.read_c_uS).mul_(self.read_factor(t))
            out.add_(tmp.mul_(noise.normal_(generator=generator)))
        if self.d2d_sigma_rel > 0:  # g·(1 + σ_d2d·n4)
            out.mul_(noise.normal_(generator=generator).mul_(self.d2d_sigma_rel).add_(1.0))
        return out.clamp_(self.g_min_uS, self.g_max_uS)

    def sample(self, G_S: torch.Tensor, t_s: float,
               generator: torch.Generator | None = None, *, out: torch.Tensor | None = None,
               scratch: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
        """Drifted conductances in siemens for target conductances ``G_S`` in siemens
        (in place into ``out`` / ``scratch`` as :meth:`sample_uS`; three scratch buffers
        let a contiguous float32 CPU tensor take the fused passes of
        `hil.nn.drift_fused`, same draws and same numbers, its last draw overlapped with the
        fused pass on the second kernel thread)."""
        t = _check_time(t_s)
        g = G_S.to(torch.float32) if not G_S.is_floating_point() else G_S
        out = torch.empty_like(g) if out is None else out
        if _fusable(g, out):
            return self._sample_fused(g, t, generator, out, scratch)
        torch.mul(g, US_PER_S, out=out)
        return self.sample_uS(out, t, generator, out=out,
                              scratch=scratch[:2] if scratch else None).div_(US_PER_S)

    def _sample_fused(self, G_S: torch.Tensor, t: float, gen: torch.Generator | None,
                      out: torch.Tensor, scratch: tuple[torch.Tensor, ...] | None) -> torch.Tensor:
        from hil.nn import drift_fused as fz

        bufs = list(scratch or ())[:3]
        bufs += [torch.empty_like(G_S) for _ in range(3 - len(bufs))]
        a, b, c = (x.view(-1) for x in bufs)
        f32 = np.float32
        o = out.view(-1)
        if any(o.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
               for x in (G_S, a, b, c)):   # n4 is drawn into out before G is read
            o = torch.empty_like(o)
        fz.run(G_S.reshape(-1), a, b, c, o, gen,
               (f32(US_PER_S), f32(self.prog_c0_uS), f32(self.prog_c1),
                f32(self.mean_shift_uS(t)), f32(self.sigma_drift_uS(t)), f32(1e-3)),
               (f32(self.read_c_uS), f32(self.read_factor(t)), f32(self.d2d_sigma_rel),
                f32(self.g_min_uS), f32(self.g_max_uS), f32(US_PER_S)),
               self.programming_noise, t > 0, self.d2d_sigma_rel > 0)
        if o.data_ptr() != out.data_ptr():
            out.view(-1).copy_(o)
        return out


@dataclass(frozen=True)
class StateDrift:
    """Per-state Gaussian drift model from fitted statistics (all in siemens).

    For programmed state k with target ``target_G_S[k]``:
    offset_k(t) = offset0_G_S[k] + offset_ln_G_S[k]·ln t,
    std_k(t)    = max(std0_G_S[k] + std_ln_G_S[k]·ln t, 0).
    A target between states gets offset and std interpolated linearly in target
    conductance (held constant beyond the outermost states).  With the ``*_ln`` terms
    zero this is the VeRA+ §IV-F model: one Gaussian per state at the read time.
    """

    target_G_S: torch.Tensor
    offset0_G_S: torch.Tensor
    std0_G_S: torch.Tensor
    offset_ln_G_S: torch.Tensor | None = None
    std_ln_G_S: torch.Tensor | None = None
    t_fit_s: float | None = None  # read time of a fixed-time model (informational)
    g_min_S: float = 0.0
    g_max_S: float = math.inf
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.target_G_S.numel()
        if n < 1:
            raise ParameterError("StateDrift needs at least one programmed state, got 0")
        for name in ("offset0_G_S", "std0_G_S", "offset_ln_G_S", "std_ln_G_S"):
            v = getattr(self, name)
            if v is not None and v.numel() != n:
                raise ParameterError(f"{name} has {v.numel()} entries; expected {n} (one per state)")
        if bool((torch.diff(self.target_G_S) <= 0).any()):
            raise ParameterError("StateDrift.target_G_S must be strictly increasing")

    @classmethod
    def at_time(cls, target_G_S, mean_G_S, std_G_S, t_s: float | None = None,
                **kw: Any) -> "StateDrift":
        """Fixed-time Gaussians from per-state mean and std (arrays in siemens)."""
        tgt = torch.as_tensor(target_G_S, dtype=torch.float64)
        order = torch.argsort(tgt)
        mean = torch.as_tensor(mean_G_S, dtype=torch.float64)[order]
        std = torch.as_tensor(std_G_S, dtype=torch.float64)[order]
        return cls(tgt[order], mean - tgt[order], std, t_fit_s=t_s, **kw)

    def _interp(self, values: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        x = self.target_G_S.to(g.device, torch.float64)
        v = values.to(g.device, torch.float64)
        gd = g.to(torch.float64)
        if x.numel() == 1:
            return v.expand_as(gd).to(g.dtype)
        idx = torch.searchsorted(x, gd.reshape(-1).contiguous()).clamp(1, x.numel() - 1)
        x0, x1, v0, v1 = x[idx - 1], x[idx], v[idx - 1], v[idx]
        w = ((gd.reshape(-1) - x0) / (x1 - x0)).clamp(0.0, 1.0)
        return (v0 + w * (v1 - v0)).reshape(g.shape).to(g.dtype)

    def moments(self, G_S: torch.Tensor, t_s: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std (siemens) of the drifted conductance for targets ``G_S``."""
        t = _check_time(t_s)
        lnt = math.log(t) if t > 0 else 0.0
        off = self.offset0_G_S + (self.offset_ln_G_S * lnt if self.offset_ln_G_S is not None else 0)
        std = self.std0_G_S + (self.std_ln_G_S * lnt if self.std_ln_G_S is not None else 0)
        return G_S + self._interp(off, G_S), self._interp(std.clamp(min=0), G_S)

    def sample(self, G_S: torch.Tensor, t_s: float,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Drifted conductances in siemens (Gaussian per cell around its state's statistics)."""
        mean, std = self.moments(G_S, t_s)
        return (mean + std * _randn(G_S, generator)).clamp(self.g_min_S, self.g_max_S)


@dataclass(frozen=True)
class WeightMapping:
    """Per-tensor weight↔conductance map onto [g_min_S, g_max_S].

    ``kind="single"``: one device per weight, affine w_min → g_min, w_max → g_max (aihwkit's
    ``SingleDeviceConductanceConverter``, which its ReRamCMO model uses).
    ``kind="pair"``: a differential pair per weight, G± = g_min + max(±w, 0)·(g_max − g_min)/max|w|
    and w = (G+ − G−)/scale (aihwkit's ``SinglePairConductanceConverter``); conductances are
    stacked on a new leading axis of size 2.
    ``per_channel=True``: the same map, but each output channel (dim 0) gets its own range
    and scale (a digital per-column scale factor at the periphery, as aihwkit's
    ``weight_scaling_columnwise``), so every channel uses the full conductance window.
    """

    g_min_S: float = 9.0e-6
    g_max_S: float = 88.2e-6
    kind: str = "single"
    per_channel: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("single", "pair"):
            raise ParameterError(f"weight mapping {self.kind!r} unknown; allowed: 'single', 'pair'")
        if not 0 <= self.g_min_S < self.g_max_S:
            raise ParameterError(f"need 0 <= g_min_S < g_max_S (got {self.g_min_S}, {self.g_max_S})")

    def to_conductance(self, w: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Return (G_S, params) with params needed to map back."""
        span = self.g_max_S - self.g_min_S
        if self.per_channel and w.dim() > 1:
            flat = w.reshape(w.shape[0], -1)
            shape = (-1,) + (1,) * (w.dim() - 1)
            amax, w_min = flat.abs().amax(1).reshape(shape), flat.amin(1).reshape(shape)
            w_max = flat.amax(1).reshape(shape)
        else:
            amax, w_min, w_max = w.abs().max(), w.min(), w.max()
        if self.kind == "pair":
            scale = span / amax.clamp(min=1e-12)
            G = torch.stack([w.clamp(min=0), (-w).clamp(min=0)]) * scale + self.g_min_S
            return G, (torch.zeros((), device=w.device), scale)
        scale = span / (w_max - w_min).clamp(min=1e-12)
        return (w - w_min) * scale + self.g_min_S, (w_min, scale)

    def to_weight(self, G_S: torch.Tensor, params: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Inverse of :meth:`to_conductance` applied to (drifted) conductances."""
        w_min, scale = params
        if self.kind == "pair":
            return (G_S[0] - G_S[1]) / scale
        return w_min + (G_S - self.g_min_S) / scale


def drift_weights(w: torch.Tensor, t_s: float, sampler: DriftSampler,
                  mapping: WeightMapping | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """One drifted instance of weight tensor ``w`` after ``t_s`` seconds (no grad)."""
    mapping = mapping or WeightMapping()
    with torch.no_grad():
        G_S, params = mapping.to_conductance(w)
        return mapping.to_weight(sampler.sample(G_S, t_s, generator), params).to(w.dtype)


def make_sampler(kind: str = "reference", **kw: Any) -> DriftSampler:
    """``"reference"`` (card model) or ``"none"`` (identity, for drift-free baselines)."""
    if kind == "reference":
        return ReferenceDrift.from_card(**kw)
    if kind == "none":
        return _NoDrift()
    raise ParameterError(f"drift model {kind!r} unknown; allowed: 'reference', 'none', or a "
                         "StateDrift from hil.analysis.drift.state_drift_from_run")


class _NoDrift:
    def sample(self, G_S: torch.Tensor, t_s: float,
               generator: torch.Generator | None = None) -> torch.Tensor:
        return G_S


def state_drift_from_run(path, model: str = "gauss") -> StateDrift:
    """Per-state drift model from the ``/fits`` that ``hil fit`` wrote into a retention run.

    ``model="gauss"``: one Gaussian per state at the fit's read time (VeRA+ §IV-F);
    ``model="lines"``: mean offset and std linear in ln t per state.
    """
    from hil.store import Run

    run = Run.open(path)
    try:
        target = torch.as_tensor(run.read_fit("drift_state_target_G_S"), dtype=torch.float64)
        if model == "gauss":
            t_read = float(run.dataset_attrs("fits/drift_gauss_mean_G_S")["t_read_s"])
            return StateDrift.at_time(target, run.read_fit("drift_gauss_mean_G_S"),
                                      run.read_fit("drift_gauss_std_G_S"), t_s=t_read,
                                      g_min_S=0.0)
        if model == "lines":
            f = {k: torch.as_tensor(run.read_fit(f"drift_lines_{k}_G_S"), dtype=torch.float64)
                 for k in ("offset0", "offset_ln", "std0", "std_ln")}
            return StateDrift(target, f["offset0"], f["std0"], f["offset_ln"], f["std_ln"])
    except Exception as exc:  # missing fits -> tell the user what to run
        from hil.errors import RunFileError
        if isinstance(exc, RunFileError):
            raise RunFileError(f"{exc}; run `hil fit {path}` first") from exc
        raise
    raise ParameterError(f"fitted drift model {model!r} unknown; allowed: 'gauss', 'lines'")
