"""Drift: reference statistical model (REFERENCE §5, aihwkit ReRamCMONoiseModel formulas),
per-device correlated trajectories in the 1T1R array, empirical per-state model, virtual time."""
from __future__ import annotations

import time

import numpy as np
import pytest

from hil.backend import Lines
from hil.cards import load_card
from sim_backends import SimBackend
from sim_backends.devices.drift import (EmpiricalDrift, ReferenceDrift, drift_reference,
                                        program_reference)

REF = load_card("drift_reference")
MODEL = ReferenceDrift.from_card(REF)
TIMES = [1.0, 60.0, 3600.0, 86400.0, 7 * 86400.0, 3.15e8]


def test_card_numbers_unchanged():
    assert REF["drift"]["mu_ln"] == -0.08900206
    assert REF["drift"]["sigma_ln"] == 0.04201137 and REF["drift"]["sigma_0"] == 0.41183342
    assert REF["read_noise"]["c"] == 0.0277316483
    assert REF["programming_noise"]["2%"] == [0.0112185, 0.0112903]
    assert (REF["g_min_uS"], REF["g_max_uS"]) == (9.0, 88.2)


@pytest.mark.parametrize("t", TIMES)
def test_reference_model_mean_and_sigma_match_formulas(t):
    rng = np.random.default_rng(0)
    n = 200_000
    g_t = 40.0
    g = drift_reference(np.full(n, g_t), t, MODEL, rng.standard_normal(n), rng.standard_normal(n))
    mu = -0.08900206 * np.log(t)
    s_drift = 0.04201137 * np.log(t) + 0.41183342
    s_read = 0.0277316483 * np.log10(g_t + mu) * np.sqrt(np.log((t + 1e-6) / 2e-6))
    assert g.mean() == pytest.approx(g_t + mu, abs=0.01)
    assert g.std() == pytest.approx(np.hypot(s_drift, s_read), rel=0.02)


def test_programming_noise_formula():
    rng = np.random.default_rng(1)
    g = program_reference(np.full(100_000, 30.0), MODEL, rng.standard_normal(100_000))
    assert g.std() == pytest.approx(0.0112185 + 0.0112903 * 30.0, rel=0.02)
    assert ReferenceDrift.from_card(REF, "0.2%").sigma_prog_uS(30.0) == pytest.approx(
        0.00081107 + 0.00106879 * 30.0)


def test_t_zero_returns_programmed_value_and_clip():
    g = drift_reference(np.array([5.0, 40.0, 100.0]), 0.0, MODEL, np.ones(3), np.ones(3))
    assert np.allclose(g, [9.0, 40.0, 88.2])    # aihwkit: clamp to [g_min, g_max]


def program_hfox(shape=(64, 64), level_S=20e-6, seed=0) -> SimBackend:
    b = SimBackend(shape=shape, array="1t1r", seed=seed)
    tr = b.array.tr
    v_hold = b.device["switching"]["v_hold_V"]
    wl = tr.v_t_V + np.sqrt(2 * level_S * v_hold / tr.beta_A_per_V2)
    b.apply_pulse(Lines(np.full(shape[0], wl), np.full(shape[1], 1.5), source=0.0), 1e-6)
    return b


def test_array_drift_follows_reference_statistics():
    b = program_hfox((128, 128))
    g_prog = b.array.conductance() * 1e6
    for t in (3600.0, 7 * 86400.0):
        b.clock.set(t)
        d = b.read() * 1e6 - g_prog
        assert d.mean() == pytest.approx(MODEL.mu_drift_uS(t), abs=0.05)
        assert d.std() == pytest.approx(
            np.hypot(MODEL.sigma_drift_uS(t), MODEL.sigma_read_uS(g_prog.mean(), t)), rel=0.1)


def test_per_device_trajectory_is_correlated():
    """One fixed drift draw per device: reads at 1 day and 1 week are strongly correlated."""
    b = program_hfox((64, 64))
    b.clock.set(86400.0)
    g1 = b.read()
    b.clock.set(7 * 86400.0)
    g2 = b.read()
    assert np.corrcoef(g1.ravel(), g2.ravel())[0, 1] > 0.8


def test_ten_year_retention_run_takes_seconds():
    b = program_hfox((256, 256))
    t0 = time.perf_counter()
    maps = []
    for t in np.geomspace(1.0, 3.15e8, 20):
        b.wait(t - b.clock.now())
        maps.append(b.read())
    assert time.perf_counter() - t0 < 10.0
    assert b.clock.now() == pytest.approx(3.15e8)
    assert np.mean(maps[-1]) < np.mean(maps[0])      # mean drift is downward (mu_ln < 0)


def test_reprogramming_restarts_the_drift_clock():
    b = program_hfox((4, 4))
    b.wait(1e6)
    t_before = b.array.t_prog_s.copy()
    b.pulse_cells(np.ones((4, 4), bool), -2.0, 1e-6)
    assert np.all(b.array.t_prog_s > t_before)


def test_no_relaxation_inside_a_write_verify_loop():
    """The ln t fit starts at 1 s: a read 1 ms after programming is the programmed value
    up to read noise."""
    b = program_hfox((64, 64))
    g_prog = b.array.conductance() * 1e6
    b.wait(1e-3)
    d = b.read() * 1e6 - g_prog
    assert abs(d.mean()) < 0.01 and d.std() < 0.1


def test_empirical_model_from_data_and_in_array():
    rng = np.random.default_rng(3)
    levels = np.array([5.0, 10.0, 20.0, 40.0])
    target = np.repeat(levels, 200)
    shift = np.repeat([-0.2, -0.5, -0.8, -1.5], 200)
    measured = target + shift + rng.normal(0, 0.3, target.size)
    model = EmpiricalDrift.from_data(target, measured, t_meas_s=7 * 86400.0)
    assert np.allclose(model.mean_uS, [-0.2, -0.5, -0.8, -1.5], atol=0.06)
    assert np.allclose(model.std_uS, 0.3, rtol=0.15)
    g = model.apply(np.full(10000, 20.0), 7 * 86400.0, rng.standard_normal(10000))
    assert g.mean() == pytest.approx(20.0 + model.mean_uS[2], abs=0.02)
    b = program_hfox((32, 32))
    b.array.use_drift(model)
    g_prog = b.array.conductance() * 1e6
    b.clock.set(7 * 86400.0)
    d = b.read() * 1e6 - g_prog
    assert d.mean() == pytest.approx(-0.8, abs=0.1)


def test_side_by_side_with_aihwkit_if_installed():
    """Same targets and times through aihwkit 1.1.0 ReRamCMONoiseModel (skipped without it)."""
    reram = pytest.importorskip("aihwkit.inference.noise.reram")   # imports torch only if present
    import torch
    m = reram.ReRamCMONoiseModel(g_max=88.2, g_min=9.0, acceptance_range=2)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n = 100_000
    for g_t in (20.0, 50.0):
        ga_p = m.apply_programming_noise_to_conductance(torch.full((n,), g_t))
        go_p = program_reference(np.full(n, g_t), MODEL, rng.standard_normal(n))
        for t in (1.0, 3600.0, 7 * 86400.0, 3.15e8):
            ga = m.apply_drift_noise_to_conductance(ga_p, None, t).numpy()
            go = drift_reference(go_p, t, MODEL, rng.standard_normal(n), rng.standard_normal(n))
            assert go.mean() == pytest.approx(ga.mean(), abs=0.02)
            assert go.std() == pytest.approx(ga.std(), rel=0.02)
