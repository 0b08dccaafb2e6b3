"""Conductance levels, target maps and time schedules shared by the programming protocols.

Pure functions on numpy arrays: no backend, no file.  Published defaults live in the device
cards (``[presets.levels]``): ECRAM holds 16 distinct states (MTT Fig. 3i); the HfOx 1T1R
drift study programs 8 levels from 5 to 40 µS (VeRA+ §IV-F).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hil.errors import ParameterError

TARGET_FORMS = ("random", "checkerboard", "ramp", "uniform", "FILE.npy")


def device_kind(device: dict[str, Any]) -> str:
    """The device family (`hil.families`) of a card: its mandatory ``kind``; ParameterError for
    a missing or unknown kind (never a guess from the name)."""
    from hil.families import family_of

    return family_of(device).kind


def _find(device: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    """First of ``keys`` found in the card, at top level or in any first-level table."""
    tables = [device] + [v for v in device.values() if isinstance(v, dict)]
    for key in keys:
        for t in tables:
            if isinstance(t.get(key), (int, float)):
                return float(t[key])
    return None


def card_g_range(device: dict[str, Any]) -> tuple[float, float]:
    """Operating conductance range (G_min, G_max) in S named by the device card.

    ECRAM cards give ``[conductance] g_S`` (per square) and ``floor_fraction`` with the
    ``[geometry]``: G_on = g·W/L (MTT Eq 1), G_min = G_on·floor_fraction.  Other cards name
    ``g_min_S``/``g_max_S`` (or g_off_S/g_on_S) at top level or in a first-level table.
    """
    cond, geo = device.get("conductance", {}), device.get("geometry", {})
    if isinstance(cond, dict) and "g_S" in cond and "floor_fraction" in cond:
        w_l = float(geo.get("width_m", 1.0)) / float(geo.get("length_m", 1.0)) if geo else 1.0
        g_on = float(cond["g_S"]) * w_l
        return g_on * float(cond["floor_fraction"]), g_on
    lo = _find(device, ("g_min_S", "G_min_S", "g_off_S", "g_low_S"))
    hi = _find(device, ("g_max_S", "G_max_S", "g_on_S", "g_high_S"))
    if lo is None or hi is None or not 0 <= lo < hi:
        raise ParameterError(
            f"device card {device.get('name', '?')!r} names no usable conductance range "
            f"(g_min_S={lo}, g_max_S={hi}); pass g_low_S and g_high_S explicitly")
    return lo, hi


def default_levels(device: dict[str, Any]) -> tuple[int, float, float]:
    """(n_levels, g_low_S, g_high_S) published for this device: the card's ``[presets.levels]``
    (ECRAM: 16 states 2.5-40 µS, MTT Fig. 3i; HfOx RRAM: 8 levels 5-40 µS, VeRA+ §IV-F)."""
    from hil.cards import preset

    return (int(preset(device, "levels.n_levels")), float(preset(device, "levels.g_low_S")),
            float(preset(device, "levels.g_high_S")))


def level_values(n_levels: int, g_low_S: float, g_high_S: float) -> np.ndarray:
    """``n_levels`` equally spaced conductances from ``g_low_S`` to ``g_high_S`` inclusive."""
    if int(n_levels) < 1:
        raise ParameterError(f"n_levels={n_levels} must be >= 1")
    if not 0 < g_low_S <= g_high_S:
        raise ParameterError(
            f"level range g_low_S={g_low_S} S .. g_high_S={g_high_S} S must satisfy 0 < low <= high")
    if n_levels == 1:
        return np.array([g_low_S], dtype=float)
    return np.linspace(g_low_S, g_high_S, int(n_levels))


def balanced_states(mask: np.ndarray, n_states: int, rng: np.random.Generator) -> np.ndarray:
    """State index per cell (int32, -1 outside ``mask``): every state gets an equal share
    (±1) of the selected cells, in a random arrangement."""
    state = np.full(mask.shape, -1, dtype=np.int32)
    n = int(mask.sum())
    idx = np.arange(n) % n_states
    rng.shuffle(idx)
    state[mask] = idx
    return state


def target_map(spec: str, mask: np.ndarray, levels: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Target map from a text spec: ``(state int32, target_G_S float64)``; -1/NaN outside mask.

    Forms: ``random`` (balanced random levels), ``checkerboard`` (lowest/highest level),
    ``ramp`` (level rises along the columns), ``uniform:K`` (every cell level K), or the
    path of a ``.npy`` file holding a (rows, cols) map of target conductances in S.
    """
    text = str(spec).strip()
    shape = mask.shape
    n = len(levels)
    rr, cc = np.indices(shape)
    if text.endswith(".npy"):
        return _target_from_file(text, mask, levels)
    if text == "random":
        state = balanced_states(mask, n, rng)
    elif text == "checkerboard":
        state = np.where((rr + cc) % 2 == 0, 0, n - 1).astype(np.int32)
    elif text == "ramp":
        state = (cc * n // shape[1]).astype(np.int32)
    elif text.startswith("uniform:"):
        try:
            k = int(text.split(":", 1)[1])
        except ValueError:
            k = -1
        if not 0 <= k < n:
            raise ParameterError(f"target={spec!r}: level must be an integer in 0..{n - 1}")
        state = np.full(shape, k, dtype=np.int32)
    else:
        raise ParameterError(f"target={spec!r} not understood; forms: {', '.join(TARGET_FORMS)} "
                             "(uniform:K with K a level index)")
    state = np.where(mask, state, -1).astype(np.int32)
    target = np.where(state >= 0, levels[np.clip(state, 0, n - 1)], np.nan)
    return state, target


def _target_from_file(path: str, mask: np.ndarray,
                      levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = Path(path)
    if not p.is_file():
        raise ParameterError(f"target file {path!r} does not exist")
    try:
        arr = np.load(p, allow_pickle=False)
    except ValueError as exc:
        raise ParameterError(f"target file {path!r} is not a numpy .npy array: {exc}") from None
    if arr.shape != mask.shape:
        raise ParameterError(f"target file {path!r} has shape {arr.shape}; the array is {mask.shape}")
    arr = np.asarray(arr, dtype=float)
    sel = mask & np.isfinite(arr)
    if np.any(arr[sel] <= 0):
        raise ParameterError(f"target file {path!r} holds conductances <= 0 S; targets must be > 0 S")
    target = np.where(sel, arr, np.nan)
    # nearest published level as the state index (for statistics per state)
    state = np.full(mask.shape, -1, dtype=np.int32)
    state[sel] = np.abs(arr[sel][:, None] - levels[None, :]).argmin(axis=1)
    return state, target


def log_times(t_first_s: float, horizon_s: float, n: int) -> np.ndarray:
    """``n`` log-spaced read times from ``t_first_s`` to ``horizon_s`` (both included)."""
    if not t_first_s > 0:
        raise ParameterError(f"t_first_s={t_first_s} s must be > 0 for a log-spaced schedule")
    if not horizon_s >= t_first_s:
        raise ParameterError(f"horizon_s={horizon_s} s must be >= t_first_s={t_first_s} s")
    if int(n) < 1:
        raise ParameterError(f"n_snapshots={n} must be >= 1")
    if n == 1:
        return np.array([float(horizon_s)])
    return np.geomspace(t_first_s, horizon_s, int(n))
