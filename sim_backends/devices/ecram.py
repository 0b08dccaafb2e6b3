"""WOx/LiPON ECRAM: pure functions of (ionic state, effective gate-channel voltage, width).

State: x in [0, 1], the normalised Li content of the WOx channel (MTT Fig. 2d,e).
  G(x)   = G_on (f + (1 - f) x),  G_on = g W / L                              (Eq 1)
  dx/dt  = +k_p sinh(V / V0_p) (1 - x)    V > 0   doping, soft bound at x = 1
  dx/dt  = -k_d sinh(|V| / V0_d) x        V < 0   dedoping, soft bound at x = 0
so one pulse of width t at constant V multiplies (1 - x) or x by exp(-dose), dose = k sinh(.) t.
sinh is the high-field ionic hopping law: zero at V = 0 (non-volatile), exponential in |V| for
|V| >> V0 (Fig. 3g,h, Fig. S22c,d), and ΔG grows with width (Fig. 3g,h).  Cycle-to-cycle noise
is a lognormal factor on the dose, so a pulse can never move G the wrong way (Fig. 3e).
Retention at zero bias: x(t) = x_p (1 + t / tau)^(-nu)  (slow Li back-relaxation, Fig. 3i).
All parameters come from the card ``data/devices/ecram_wox_lipon.toml``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim_backends.devices._card import get_card, num


@dataclass(frozen=True)
class EcramParams:
    """Nominal device parameters (SI) read from an ECRAM card."""

    g_on_S: float
    floor_fraction: float
    k0_p_per_s: float
    v0_p_V: float
    k0_d_per_s: float
    v0_d_V: float
    c2c_sigma: float
    read_rel_sigma: float
    read_abs_sigma_S: float
    g_sigma: float
    floor_sigma: float
    k_sigma: float
    nu: float
    tau_s: float
    nu_sigma: float
    #: |dose| above which a pulse counts as a programming event (restarts the relaxation clock)
    programmed_dose: float = 0.0

    @classmethod
    def from_card(cls, card: dict[str, Any] | str) -> "EcramParams":
        c = get_card(card)
        g_on = num(c, "conductance.g_S") * num(c, "geometry.width_m") / num(c, "geometry.length_m")
        return cls(
            g_on_S=g_on, floor_fraction=num(c, "conductance.floor_fraction"),
            k0_p_per_s=num(c, "kinetics.k0_p_per_s"), v0_p_V=num(c, "kinetics.v0_p_V"),
            k0_d_per_s=num(c, "kinetics.k0_d_per_s"), v0_d_V=num(c, "kinetics.v0_d_V"),
            c2c_sigma=num(c, "noise.c2c_sigma"), read_rel_sigma=num(c, "noise.read_rel_sigma"),
            read_abs_sigma_S=num(c, "noise.read_abs_sigma_S"),
            g_sigma=num(c, "variation.g_sigma"), floor_sigma=num(c, "variation.floor_sigma"),
            k_sigma=num(c, "variation.k_sigma"), nu=num(c, "retention.nu"),
            tau_s=num(c, "retention.tau_s"), nu_sigma=num(c, "retention.nu_sigma"),
            programmed_dose=num(c, "retention.programmed_dose", 0.0))


@dataclass
class EcramDevices:
    """Per-device (device-to-device) parameters, float32 arrays of the array's shape."""

    g_on_S: np.ndarray
    floor: np.ndarray
    k_p: np.ndarray      # potentiation prefactor (1/s)
    k_d: np.ndarray      # depression prefactor (1/s)
    nu: np.ndarray       # retention exponent

    def take(self, index: Any) -> "EcramDevices":
        """The devices at ``index`` (any numpy index) as a new EcramDevices."""
        return EcramDevices(self.g_on_S[index], self.floor[index], self.k_p[index],
                            self.k_d[index], self.nu[index])


def _lognormal(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    z = rng.standard_normal(shape, dtype=np.float32)
    return np.exp(np.float32(sigma) * z - np.float32(0.5 * sigma * sigma))


def sample_devices(shape: tuple[int, ...], p: EcramParams,
                   rng: np.random.Generator) -> EcramDevices:
    """Draw device-to-device variation (lognormal around the card's nominal values)."""
    f32 = np.float32
    return EcramDevices(
        g_on_S=f32(p.g_on_S) * _lognormal(rng, shape, p.g_sigma),
        floor=np.minimum(f32(p.floor_fraction) * _lognormal(rng, shape, p.floor_sigma), f32(0.5)),
        k_p=f32(p.k0_p_per_s) * _lognormal(rng, shape, p.k_sigma),
        k_d=f32(p.k0_d_per_s) * _lognormal(rng, shape, p.k_sigma),
        nu=f32(p.nu) * _lognormal(rng, shape, p.nu_sigma))


def conductance(x: np.ndarray, dev: EcramDevices) -> np.ndarray:
    """Channel conductance G (S) of state ``x`` (float32 in, float32 out)."""
    return dev.g_on_S * (dev.floor + (np.float32(1.0) - dev.floor) * x)


def state_from_conductance(g_S: np.ndarray, dev: EcramDevices) -> np.ndarray:
    """Inverse of `conductance`, clipped to [0, 1]."""
    x = (np.asarray(g_S, np.float32) / dev.g_on_S - dev.floor) / (np.float32(1.0) - dev.floor)
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def relaxed_state(x: np.ndarray, t_since_s: np.ndarray | float, dev_nu: np.ndarray,
                  tau_s: float) -> np.ndarray:
    """Retention: x (1 + t / tau)^(-nu) after ``t_since_s`` at zero gate bias."""
    t = np.maximum(np.asarray(t_since_s, dtype=np.float32), np.float32(0.0))
    if not np.any(t):
        return np.asarray(x, dtype=np.float32)
    factor = np.exp(-dev_nu * np.log(np.float32(1.0) + t / np.float32(tau_s)))
    return (x * factor).astype(np.float32)


def retention_factor(t_since_s: np.ndarray | float, dev_nu: np.ndarray,
                     tau_s: float) -> np.ndarray:
    """(1 + t / tau)^(-nu): the fraction of the programmed state left after ``t_since_s``."""
    t = np.maximum(np.asarray(t_since_s, dtype=np.float32), np.float32(0.0))
    return np.exp(-dev_nu * np.log(np.float32(1.0) + t / np.float32(tau_s))).astype(np.float32)


def pulse_dose(v_gc: np.ndarray, width_s: np.ndarray | float, dev: EcramDevices,
               p: EcramParams) -> np.ndarray:
    """Signed ionic dose of one pulse: + potentiation, - depression (float32).

    dose = k sinh(|V| / V0) t with (k, V0) of the potentiation or depression branch."""
    v = np.asarray(v_gc, dtype=np.float32)
    pos = v > 0
    z = np.abs(v) / np.where(pos, np.float32(p.v0_p_V), np.float32(p.v0_d_V))
    ez = np.exp(z)
    sinh = np.float32(0.5) * (ez - np.float32(1.0) / ez)
    k = np.where(pos, dev.k_p, -dev.k_d)
    return (k * sinh * np.float32(width_s)).astype(np.float32)


def apply_dose(x: np.ndarray, dose: np.ndarray, c2c_sigma: float,
               rng: np.random.Generator | None, count: np.ndarray | None = None) -> np.ndarray:
    """New state after a signed dose, with lognormal cycle-to-cycle noise on |dose|.

    Potentiation: 1 - x <- (1 - x) e^-dose; depression: x <- x e^-|dose|.  The noise factor
    is positive, so every pulse moves the state in the direction of its voltage.
    ``count`` (per cell, >= 0): that many identical pulses; same-sign soft-bound updates
    compose exactly (doses add), the sum of ``count`` lognormal factors is drawn as one
    lognormal with the same mean and variance.
    """
    d = np.abs(dose)
    if count is not None:
        n = np.asarray(count, dtype=np.float32)
        d = d * n
        if rng is not None and c2c_sigma > 0:
            s = np.sqrt(np.log1p(np.expm1(np.float32(c2c_sigma ** 2)) / np.maximum(n, 1)))
            d = d * np.exp(s * rng.standard_normal(d.shape, dtype=np.float32) - s * s / 2)
    elif rng is not None and c2c_sigma > 0:
        d = d * _lognormal(rng, d.shape, c2c_sigma)
    decay = np.exp(-d)
    one = np.float32(1.0)
    return np.where(dose > 0, one - (one - x) * decay, x * decay).astype(np.float32)


def update(x: np.ndarray, v_gc: np.ndarray, width_s: np.ndarray | float, dev: EcramDevices,
           p: EcramParams, rng: np.random.Generator | None) -> np.ndarray:
    """State after one pulse of effective gate-channel voltage ``v_gc`` for ``width_s``."""
    return apply_dose(x, pulse_dose(v_gc, width_s, dev, p), p.c2c_sigma, rng)


def read_noise(g_S: np.ndarray, p: EcramParams, rng: np.random.Generator) -> np.ndarray:
    """Measured conductance: G + sqrt((s_rel G)^2 + s_abs^2) N (float64)."""
    g = np.asarray(g_S, dtype=np.float32)
    sigma = np.hypot(np.float32(p.read_rel_sigma) * g, np.float32(p.read_abs_sigma_S))
    noisy = g + sigma * rng.standard_normal(g.shape, dtype=np.float32)
    return noisy.astype(np.float64)
