"""Weight <-> conductance mappings (numpy; SI siemens).

Orientation: a layer weight W (out_features, in_features) is stored with inputs on rows and
outputs on columns, so a map has ``in_features`` rows.  Column layouts:

- `DifferentialMapping`: columns 2j (G+) and 2j+1 (G-) hold output j;
  W = w_max * (G+ - G-) / (G_max - G_min).
- `ReferenceMapping`: one device per weight around the mid conductance, plus one reference
  column (last) programmed to G_ref = (G_min + G_max)/2 and subtracted row by row:
  W = w_max * (G - G_ref,row) / ((G_max - G_min)/2).  The measured reference cancels
  common-mode drift of a row.
- `MTTMapping` (MTT Eq 14): columns 2k (G_A+) and 2k+1 (G_A-) form MTT unit (r, k) exactly as
  `Backend.mtt_read` reads it; the active device holds G_e,min + |W_h|(G_e,max - G_e,min),
  the other stays at G_e,min; W_h = sign * (max(G+, G-) - G_e,min)/(G_e,max - G_e,min),
  sign from which device is larger (the sign of I_ts).  W_b = I_ts / I_ts,max (Eq 15).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from hil.errors import ParameterError

KINDS = ("differential", "reference", "mtt")


def _check_range(g_min_S: float, g_max_S: float) -> None:
    if not (np.isfinite(g_min_S) and np.isfinite(g_max_S) and 0 <= g_min_S < g_max_S):
        raise ParameterError(f"conductance range g_min_S={g_min_S!r}, g_max_S={g_max_S!r}: "
                             "need 0 <= g_min_S < g_max_S")


def _check_w(W: np.ndarray, w_max: float) -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2:
        raise ParameterError(f"weight matrix must be 2-D (out, in), got shape {W.shape}")
    if not w_max > 0:
        raise ParameterError(f"w_max={w_max!r}: must be > 0")
    return np.clip(W, -w_max, w_max)


@dataclass(frozen=True)
class DifferentialMapping:
    """Two devices per weight (G+ in column 2j, G- in 2j+1)."""

    g_min_S: float
    g_max_S: float
    kind = "differential"
    col_group = 2

    def __post_init__(self) -> None:
        _check_range(self.g_min_S, self.g_max_S)

    def map_shape(self, out_features: int, in_features: int) -> tuple[int, int]:
        """Shape of the conductance map of an (out, in) weight."""
        return in_features, 2 * out_features

    def encode(self, W: np.ndarray, w_max: float) -> np.ndarray:
        """Target conductances for W (out, in); |W| above w_max is clipped."""
        W = _check_w(W, w_max).T / w_max
        dg = self.g_max_S - self.g_min_S
        G = np.empty((W.shape[0], 2 * W.shape[1]))
        G[:, 0::2] = self.g_min_S + np.clip(W, 0, None) * dg
        G[:, 1::2] = self.g_min_S + np.clip(-W, 0, None) * dg
        return G

    def decode(self, G: np.ndarray, w_max: float) -> np.ndarray:
        """Weights (out, in) from a (measured) conductance map."""
        G = np.asarray(G, dtype=np.float64)
        return (w_max * (G[:, 0::2] - G[:, 1::2]) / (self.g_max_S - self.g_min_S)).T


@dataclass(frozen=True)
class ReferenceMapping:
    """One device per weight plus a reference column (the last) at mid conductance."""

    g_min_S: float
    g_max_S: float
    kind = "reference"
    col_group = 1

    def __post_init__(self) -> None:
        _check_range(self.g_min_S, self.g_max_S)

    @property
    def g_ref_S(self) -> float:
        """Reference conductance (mid range)."""
        return 0.5 * (self.g_min_S + self.g_max_S)

    def map_shape(self, out_features: int, in_features: int) -> tuple[int, int]:
        """Shape of the conductance map of an (out, in) weight (+1 reference column)."""
        return in_features, out_features + 1

    def encode(self, W: np.ndarray, w_max: float) -> np.ndarray:
        """Target conductances: weights then the reference column."""
        W = _check_w(W, w_max).T / w_max
        half = 0.5 * (self.g_max_S - self.g_min_S)
        G = np.empty((W.shape[0], W.shape[1] + 1))
        G[:, :-1] = self.g_ref_S + W * half
        G[:, -1] = self.g_ref_S
        return G

    def decode(self, G: np.ndarray, w_max: float) -> np.ndarray:
        """Weights (out, in); each row's measured reference is subtracted."""
        G = np.asarray(G, dtype=np.float64)
        half = 0.5 * (self.g_max_S - self.g_min_S)
        return (w_max * (G[:, :-1] - G[:, -1:]) / half).T


@dataclass(frozen=True)
class MTTMapping:
    """MTT hidden-weight mapping (Eq 14) with G_e,min / G_e,max; hidden weights in [-1, 1]."""

    g_min_S: float
    g_max_S: float
    kind = "mtt"
    col_group = 2

    def __post_init__(self) -> None:
        _check_range(self.g_min_S, self.g_max_S)

    def map_shape(self, out_features: int, in_features: int) -> tuple[int, int]:
        """Shape of the conductance map of an (out, in) weight: one MTT unit per weight."""
        return in_features, 2 * out_features

    def encode(self, W: np.ndarray, w_max: float = 1.0) -> np.ndarray:
        """Target conductances of W_h (out, in) (``w_max`` is the hidden bound, 1)."""
        W = _check_w(W, w_max).T / w_max
        dg = self.g_max_S - self.g_min_S
        active = self.g_min_S + np.abs(W) * dg
        G = np.full((W.shape[0], 2 * W.shape[1]), self.g_min_S)
        G[:, 0::2] = np.where(W >= 0, active, self.g_min_S)
        G[:, 1::2] = np.where(W < 0, active, self.g_min_S)
        return G

    def decode(self, G: np.ndarray, w_max: float = 1.0) -> np.ndarray:
        """Eq 14: hidden weights (out, in) from measured G_A+ / G_A-."""
        G = np.asarray(G, dtype=np.float64)
        gp, gn = G[:, 0::2], G[:, 1::2]
        mag = np.clip((np.maximum(gp, gn) - self.g_min_S) / (self.g_max_S - self.g_min_S), 0, None)
        return (w_max * np.where(gp >= gn, mag, -mag)).T

    @staticmethod
    def binary_from_currents(I_ts_A: np.ndarray, I_ts_max_A: float) -> np.ndarray:
        """Eq 15: W_b = I_ts / I_ts,max, for a (rows=in, units=out) current map -> (out, in)."""
        if not I_ts_max_A > 0:
            raise ParameterError(f"I_ts_max_A={I_ts_max_A!r}: must be > 0")
        return (np.asarray(I_ts_A, dtype=np.float64) / I_ts_max_A).T


AnyMapping = DifferentialMapping | ReferenceMapping | MTTMapping


def make_mapping(kind: str, g_min_S: float, g_max_S: float) -> AnyMapping:
    """Mapping by name: ``differential``, ``reference`` or ``mtt``."""
    classes = {"differential": DifferentialMapping, "reference": ReferenceMapping,
               "mtt": MTTMapping}
    if kind not in classes:
        raise ParameterError(f"mapping {kind!r} unknown; allowed: {', '.join(KINDS)}")
    return classes[kind](float(g_min_S), float(g_max_S))


def range_from_card(card: Mapping[str, Any]) -> tuple[float, float]:
    """The (g_low_S, g_high_S) window write-verify programs by default for this device
    (`protocols.levels.default_levels`: the card's [presets.levels], ECRAM 2.5-40 uS, RRAM 5-40 uS)."""
    from protocols.levels import default_levels

    _, lo, hi = default_levels(dict(card))
    return float(lo), float(hi)
