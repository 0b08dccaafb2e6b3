"""Drift statistics from retention runs (pure numpy fits; HDF5 I/O at the bottom).

A retention run holds conductance maps ``/maps/G_S`` (n_snapshots, rows, cols) read at
``/maps/t_s`` seconds after programming, the per-cell target ``/results/target_G_S`` and
the programmed state index ``/results/state`` (-1 = not programmed).  From it we get

- per state k and snapshot i: mean and std of G (:func:`state_statistics`);
- the REFERENCE §5 form fitted to them (:func:`fit_reference_form`):
  mean_k(t) - target_k = a_k + µ_ln·ln t,
  std_k(t)² = s_k² + (σ_ln·ln t + σ_0)² + c²·log10(g_k/µS)²·ln((t + t_eps)/t_ref),
  with s_k = p0 + p1·g_k the time-independent (programming) spread;
- per-state lines in ln t for mean offset and std (:func:`fit_state_lines`), and the
  per-state Gaussian at a chosen read time (:func:`state_gaussians_at`), the VeRA+ §IV-F
  measured-data model.
All conductances in siemens; the reference coefficients are reported in µS too (card units).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from hil.errors import ParameterError, RunFileError

US = 1e-6  # siemens per µS
T_EPS_S, T_REF_S = 1e-6, 2e-6  # read-noise time constants of the reference model (card)


@dataclass
class StateStats:
    """Per-state statistics vs time. Arrays (K,) or (K, n_snapshots); siemens, seconds."""

    states: np.ndarray
    target_G_S: np.ndarray
    t_s: np.ndarray
    mean_G_S: np.ndarray
    std_G_S: np.ndarray
    count: np.ndarray


@dataclass
class ReferenceFit:
    """REFERENCE §5 coefficients fitted to a run (µS, like the card) and fit quality."""

    mu_ln_uS: float
    sigma_ln_uS: float
    sigma_0_uS: float
    read_c_uS: float
    prog_c0_uS: float
    prog_c1: float
    offset_uS: np.ndarray  # per-state intercept a_k of the mean shift
    rms_mean_resid_uS: float
    rms_std_resid_uS: float
    stderr: dict[str, float]  # 1-σ standard errors from the fit Jacobian (µS; prog_c1: 1)

    def as_dict(self) -> dict[str, float]:
        """Scalar coefficients by name."""
        return {k: float(getattr(self, k)) for k in (
            "mu_ln_uS", "sigma_ln_uS", "sigma_0_uS", "read_c_uS", "prog_c0_uS", "prog_c1")}

    def unresolved(self) -> dict[str, str]:
        """Coefficients the data do not determine, each with the reason (empty: all resolved).

        A coefficient is not resolved when its 1-σ standard error is at least its magnitude
        (the data are equally consistent with zero) or when it is not finite; a fixed
        coefficient (standard error exactly 0 because it was held) counts as resolved."""
        out: dict[str, str] = {}
        for name, value in self.as_dict().items():
            err = self.stderr.get(name, np.nan)
            if not (np.isfinite(value) and np.isfinite(err)):
                out[name] = "the fit did not converge for it"
            elif err > 0 and err >= abs(value):
                out[name] = (f"standard error {err:.2g} >= |value| {abs(value):.2g}: the data are "
                             "as consistent with 0; measure more cells per state or more snapshots")
        return out


def state_statistics(t_s: np.ndarray, G_S: np.ndarray, state: np.ndarray,
                     target_G_S: np.ndarray, min_cells: int = 2) -> StateStats:
    """Mean and std (ddof=1) of G per programmed state and snapshot."""
    t_s, G_S = np.asarray(t_s, float), np.asarray(G_S, float)
    state, target_G_S = np.asarray(state), np.asarray(target_G_S, float)
    if G_S.ndim != 3 or G_S.shape[0] != t_s.shape[0]:
        raise ParameterError(f"maps must be (n_snapshots, rows, cols) matching t_s; got "
                             f"G_S {G_S.shape}, t_s {t_s.shape}")
    if state.shape != G_S.shape[1:] or target_G_S.shape != G_S.shape[1:]:
        raise ParameterError(f"state {state.shape} and target {target_G_S.shape} must match the "
                             f"map shape {G_S.shape[1:]}")
    states = np.unique(state[state >= 0])
    if states.size == 0:
        raise ParameterError("no programmed cells (every /results/state is -1)")
    flat = G_S.reshape(G_S.shape[0], -1)
    tgt, st = target_G_S.ravel(), state.ravel()
    means, stds, counts, targets = [], [], [], []
    for k in states:
        sel = st == k
        n = int(sel.sum())
        if n < min_cells:
            raise ParameterError(f"state {k} has {n} cells; need at least {min_cells}")
        g = flat[:, sel]  # NaN reads (unreadable cells) are left out
        means.append(np.nanmean(g, axis=1))
        stds.append(np.nanstd(g, axis=1, ddof=1))
        counts.append(n)
        targets.append(float(np.nanmedian(tgt[sel])))
    order = np.argsort(targets)
    return StateStats(states[order], np.asarray(targets)[order], t_s,
                      np.asarray(means)[order], np.asarray(stds)[order], np.asarray(counts)[order])


def _positive_times(stats: StateStats) -> np.ndarray:
    keep = stats.t_s > 0
    if keep.sum() < 3:
        raise ParameterError(f"need at least 3 snapshots at t > 0 s to fit drift; got {keep.sum()}")
    return keep


def fit_reference_form(stats: StateStats, t_eps_s: float = T_EPS_S, t_ref_s: float = T_REF_S,
                       read_c_uS: float | None = None) -> ReferenceFit:
    """Fit the reference model's form to per-state statistics (see module docstring).

    Identifiability: from marginal statistics the drift terms (µ_ln, σ_ln, σ_0) and the
    slope p1 of the static spread are well determined; the read-noise coefficient c and
    the static offset p0 are small, nearly collinear contributions (c²·lg²·ln(t/t_ref)
    looks like σ_0² plus a σ_ln·σ_0 cross term), so their standard errors are large unless
    many cells are measured.  Pass ``read_c_uS`` to hold c fixed (e.g. from a separate
    repeated-read measurement or the card).
    """
    keep = _positive_times(stats)
    lnt = np.log(stats.t_s[keep])
    g_uS = stats.target_G_S / US
    dm = (stats.mean_G_S[:, keep] - stats.target_G_S[:, None]) / US  # (K, n)
    K, n = dm.shape
    # mean: common slope, per-state intercept -> ordinary least squares
    X = np.zeros((K * n, K + 1))
    X[:, 0] = np.tile(lnt, K)
    X[np.arange(K * n), 1 + np.repeat(np.arange(K), n)] = 1.0
    coef, *_ = np.linalg.lstsq(X, dm.ravel(), rcond=None)
    mu_ln, offsets = float(coef[0]), coef[1:]
    mean_resid = dm.ravel() - X @ coef
    # spread: nonlinear least squares on std, weighted by the std's sampling error
    std = stats.std_G_S[:, keep] / US
    w = np.sqrt(2.0 * (stats.count[:, None] - 1)) / np.maximum(std, 1e-12)
    lg2 = np.log10(np.maximum(g_uS, 1e-3))[:, None] ** 2
    R = np.maximum(np.log((stats.t_s[keep] + t_eps_s) / t_ref_s), 0.0)[None, :]

    def full(p: np.ndarray) -> np.ndarray:
        return p if read_c_uS is None else np.insert(p, 2, read_c_uS)

    def model(p: np.ndarray) -> np.ndarray:
        s_ln, s_0, c, p0, p1 = full(p)
        s_prog = p0 + p1 * g_uS[:, None]
        return np.sqrt(s_prog ** 2 + (s_ln * lnt[None, :] + s_0) ** 2 + c ** 2 * lg2 * R)

    p_init = np.array([0.05, max(float(std.min()), 1e-3), 0.01, 0.0, 0.005])
    if read_c_uS is not None:
        p_init = np.delete(p_init, 2)
    res = least_squares(lambda p: ((model(p) - std) * w).ravel(), p_init, method="lm",
                        x_scale="jac", max_nfev=2000)
    J = res.jac
    chi2 = float(np.sum(res.fun ** 2)) / max(res.fun.size - res.x.size, 1)
    cov = np.linalg.pinv(J.T @ J) * chi2
    err = full(np.sqrt(np.clip(np.diag(cov), 0, None)))
    if read_c_uS is not None:
        err[2] = 0.0
    s_ln, s_0, c, p0, p1 = full(res.x)
    if s_0 < 0:  # (σ_ln L + σ_0)² is symmetric under a joint sign flip
        s_ln, s_0 = -s_ln, -s_0
    if p0 + p1 * g_uS.mean() < 0:
        p0, p1 = -p0, -p1
    # OLS standard error of the common mean slope
    dof = max(mean_resid.size - X.shape[1], 1)
    mu_err = float(np.sqrt(np.sum(mean_resid ** 2) / dof * np.linalg.pinv(X.T @ X)[0, 0]))
    names = ("sigma_ln_uS", "sigma_0_uS", "read_c_uS", "prog_c0_uS", "prog_c1")
    stderr = {"mu_ln_uS": mu_err, **{k: float(e) for k, e in zip(names, err)}}
    return ReferenceFit(mu_ln, float(s_ln), float(s_0), abs(float(c)), float(p0), float(p1),
                        offsets, float(np.sqrt(np.mean(mean_resid ** 2))),
                        float(np.sqrt(np.mean((model(res.x) - std) ** 2))), stderr)


@dataclass
class StateLines:
    """Per-state lines in ln t (siemens): offset = a + b·ln t, std = s0 + s1·ln t."""

    target_G_S: np.ndarray
    offset0_G_S: np.ndarray
    offset_ln_G_S: np.ndarray
    std0_G_S: np.ndarray
    std_ln_G_S: np.ndarray


def fit_state_lines(stats: StateStats) -> StateLines:
    """Least-squares line in ln t for each state's mean offset and std (t > 0 only)."""
    keep = _positive_times(stats)
    X = np.stack([np.ones(keep.sum()), np.log(stats.t_s[keep])], axis=1)
    off = (stats.mean_G_S[:, keep] - stats.target_G_S[:, None]).T
    (a, b), *_ = np.linalg.lstsq(X, off, rcond=None)
    (s0, s1), *_ = np.linalg.lstsq(X, stats.std_G_S[:, keep].T, rcond=None)
    return StateLines(stats.target_G_S.copy(), a, b, s0, s1)


def state_gaussians_at(stats: StateStats, t_s: float) -> tuple[float, np.ndarray, np.ndarray]:
    """(t_used_s, mean_G_S (K,), std_G_S (K,)) at the snapshot nearest ``t_s`` in log time."""
    if not np.isfinite(t_s) or t_s <= 0:
        raise ParameterError(f"read time t_s={t_s!r} must be > 0 s")
    pos = np.flatnonzero(stats.t_s > 0)
    if pos.size == 0:
        raise ParameterError("run has no snapshot at t > 0 s")
    i = pos[np.argmin(np.abs(np.log(stats.t_s[pos]) - np.log(t_s)))]
    return float(stats.t_s[i]), stats.mean_G_S[:, i].copy(), stats.std_G_S[:, i].copy()


# --- HDF5 ------------------------------------------------------------------------------

def read_retention(run) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(t_s, G_S, state, target_G_S) from an open :class:`hil.store.Run`."""
    try:
        state = np.asarray(run.read_result("state"))
        target = np.asarray(run.read_result("target_G_S"))
    except RunFileError as exc:
        raise RunFileError(f"{exc}: not a retention run (need /maps/G_S, /maps/t_s, "
                           "/results/state, /results/target_G_S)") from exc
    t_s, G_S = run.read_maps()
    if len(t_s) == 0:
        raise RunFileError(f"{str(run.path)!r} has no conductance maps (/maps/G_S is empty)")
    return np.asarray(t_s), np.asarray(G_S), state, target


def analyse_run(run, t_read_s: float = 7 * 86400.0) -> tuple[StateStats, ReferenceFit,
                                                            StateLines, tuple]:
    """Statistics, reference fit, per-state lines and Gaussians at ``t_read_s`` of a run."""
    stats = state_statistics(*read_retention(run))
    return (stats, fit_reference_form(stats), fit_state_lines(stats),
            state_gaussians_at(stats, t_read_s))


def write_fits(run, stats: StateStats, ref: ReferenceFit, lines: StateLines,
               gauss: tuple[float, np.ndarray, np.ndarray]) -> list[str]:
    """Write everything to the run's ``/fits`` (with units); return the names written."""
    t_used, g_mean, g_std = gauss
    items = [
        ("drift_state", stats.states.astype(np.int32), "1", {}),
        ("drift_state_target_G_S", stats.target_G_S, "S", {}),
        ("drift_state_count", stats.count.astype(np.int64), "1", {}),
        ("drift_t_s", stats.t_s, "s", {}),
        ("drift_state_mean_G_S", stats.mean_G_S, "S", {"axes": "state, snapshot"}),
        ("drift_state_std_G_S", stats.std_G_S, "S", {"axes": "state, snapshot"}),
        ("drift_lines_offset0_G_S", lines.offset0_G_S, "S", {"model": "offset = a + b ln(t/s)"}),
        ("drift_lines_offset_ln_G_S", lines.offset_ln_G_S, "S", {}),
        ("drift_lines_std0_G_S", lines.std0_G_S, "S", {"model": "std = s0 + s1 ln(t/s)"}),
        ("drift_lines_std_ln_G_S", lines.std_ln_G_S, "S", {}),
        ("drift_gauss_mean_G_S", g_mean, "S", {"t_read_s": t_used}),
        ("drift_gauss_std_G_S", g_std, "S", {"t_read_s": t_used}),
        ("drift_reference_offset_G_S", ref.offset_uS * US, "S", {}),
    ]
    coeffs = ref.as_dict()
    names = list(coeffs)
    unresolved = ref.unresolved()
    items.append(("drift_reference", np.array([coeffs[k] for k in names]), "uS (prog_c1: 1)",
                  {"names": ",".join(names),
                   "model": "VeRA+ §II-A drift model (aihwkit ReRamCMONoiseModel)",
                   "stderr": [ref.stderr[k] for k in names],
                   "resolved": [int(k not in unresolved) for k in names],
                   "unresolved_reasons": {k: unresolved[k] for k in names if k in unresolved},
                   "rms_mean_resid_uS": ref.rms_mean_resid_uS,
                   "rms_std_resid_uS": ref.rms_std_resid_uS, **coeffs}))
    for name, arr, units, attrs in items:
        run.write_fit(name, np.asarray(arr), units, **attrs)
    return [i[0] for i in items]
