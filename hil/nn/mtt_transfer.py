"""MTT weight transfer functions W_b = f(W_h) in torch (MTT Eq 4, 7, 11, 16, 17).

The published constants live in one place, the device card ``data/devices/mtt_transfer.toml``;
`TransferParams.published(name)` reads them.  `TransferParams.from_run(path)` takes the Eq 7
parameters fitted from an ``mtt_readout`` run file (fit by ``hil.analysis.mtt_fit``).

All functions work elementwise on tensors of any shape and are differentiable (they are
smooth except at W_h = 0 and, for the ternary form, at |W_h| = r).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from hil.cards import load_card
from hil.errors import ParameterError

CARD = "mtt_transfer"
KINDS = ("ecram", "rram", "ideal", "sign")


@dataclass(frozen=True)
class TransferParams:
    """Eq 7 parameters (positive magnitudes; the negative branch uses |W_h|) and dead-zone r.

    ``kind`` is ``"sign"`` for the ideal sign function (A/B unused), otherwise a label.
    ``r`` > 0 turns the function into the ternary form of Eq 11.
    """

    A_p: float
    B_p: float
    A_n: float
    B_n: float
    r: float = 0.0
    kind: str = "eq7"

    def __post_init__(self) -> None:
        if self.kind != "sign":
            for name in ("A_p", "B_p", "A_n", "B_n"):
                value = getattr(self, name)
                if not value > 0:
                    raise ParameterError(f"MTT transfer parameter {name}={value!r}: must be > 0")
        if not 0.0 <= self.r < 1.0:
            raise ParameterError(f"ternary radius r={self.r!r}: allowed 0 <= r < 1")

    @classmethod
    def published(cls, kind: str = "ecram", r: float = 0.0, K: float | None = None
                  ) -> "TransferParams":
        """Published constants: ``ecram`` (Eq 16), ``rram`` (Eq 17), ``ideal`` (Eq 4 with K,
        default K from the card) or ``sign``."""
        if kind not in KINDS:
            raise ParameterError(f"transfer function {kind!r} unknown; allowed: {', '.join(KINDS)}")
        if kind == "sign":
            return cls(1.0, 1.0, 1.0, 1.0, r=r, kind="sign")
        card = load_card(CARD)
        if kind == "ideal":
            k = float(card["ideal"]["K"] if K is None else K)
            return cls(k, k, k, k, r=r, kind="ideal")
        sec = card[kind]
        return cls(float(sec["A_p"]), float(sec["B_p"]), float(sec["A_n"]), float(sec["B_n"]),
                   r=r, kind=kind)

    @classmethod
    def from_run(cls, path: str | Path, r: float = 0.0, bias_index: int = 0) -> "TransferParams":
        """Eq 7 parameters fitted from an ``mtt_readout`` run file: its ``/fits/eq7`` row
        ``bias_index`` (one row per bias point, columns A_p, B_p, A_n, B_n; written by the
        protocol with `hil.analysis.mtt_fit.fit_eq7`)."""
        a_p, b_p, a_n, b_n = fitted_params(path, bias_index)
        return cls(a_p, b_p, a_n, b_n, r=r, kind=f"fit:{Path(path).name}[{bias_index}]")

    def with_radius(self, r: float) -> "TransferParams":
        """Same function with a ternary dead zone of radius ``r`` (Eq 11)."""
        return replace(self, r=r)


def fitted_params(path: str | Path, bias_index: int = 0) -> tuple[float, float, float, float]:
    """(A_p, B_p, A_n, B_n) from ``/fits/eq7`` of an ``mtt_readout`` run file."""
    import numpy as np

    from hil.store import Run

    run = Run.open(path)
    protocol = run.attrs.get("protocol")
    if protocol != "mtt_readout":
        raise ParameterError(f"{str(path)!r} is a {protocol!r} run; transfer parameters come "
                             "from an mtt_readout run (hil run mtt_readout)")
    fit = np.atleast_2d(run.read_fit("eq7"))
    if not 0 <= bias_index < fit.shape[0]:
        raise ParameterError(f"bias_index={bias_index}: {str(path)!r} has {fit.shape[0]} bias points")
    row = fit[bias_index]
    if not np.all(np.isfinite(row)):
        raise ParameterError(f"{str(path)!r}: the Eq 7 fit at bias point {bias_index} failed ({row})")
    return tuple(float(v) for v in row[:4])


def resolve(spec: str | TransferParams, r: float = 0.0) -> TransferParams:
    """``"ecram"``, ``"rram"``, ``"ideal"``, ``"ideal:K"``, ``"sign"``, a path to an
    mtt_readout run file (``*.h5``), or ready `TransferParams`."""
    if isinstance(spec, TransferParams):
        return spec.with_radius(r) if r else spec
    if spec.startswith("ideal:"):
        try:
            k = float(spec.split(":", 1)[1])
        except ValueError:
            raise ParameterError(f"transfer {spec!r}: expected ideal:K with K a number") from None
        return TransferParams.published("ideal", r=r, K=k)
    if spec.endswith((".h5", ".hdf5")):
        return TransferParams.from_run(spec, r=r)
    return TransferParams.published(spec, r=r)


def _branch(x: torch.Tensor, a: float, b: float) -> torch.Tensor:
    """2*((a*x + 1)/(b*x + 2) - 0.5) for x >= 0 (Eq 7 positive branch)."""
    return 2.0 * ((a * x + 1.0) / (b * x + 2.0) - 0.5)


def transfer(w_h: torch.Tensor, p: TransferParams) -> torch.Tensor:
    """Binary (r = 0, Eq 7/16/17/4) or ternary (r > 0, Eq 11) inference weight from W_h."""
    mag = w_h.abs() - p.r
    if p.kind == "sign":
        out = torch.sign(w_h)
        return torch.where(mag > 0, out, torch.zeros_like(out)) if p.r > 0 else \
            torch.where(w_h >= 0, torch.ones_like(out), -torch.ones_like(out))
    x = mag.clamp(min=0.0)
    pos = _branch(x, p.A_p, p.B_p)
    neg = -_branch(x, p.A_n, p.B_n)
    out = torch.where(w_h >= 0, pos, neg)
    if p.r > 0:
        out = torch.where(mag > 0, out, torch.zeros_like(out))
    return out


def w_b_limit(p: TransferParams) -> tuple[float, float]:
    """(W_b at W_h = +1, W_b at W_h = -1): the largest binary weights the unit gives."""
    w = transfer(torch.tensor([1.0, -1.0], dtype=torch.float64), p)
    return float(w[0]), float(w[1])
