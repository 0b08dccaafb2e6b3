"""Pulse schedules are pure and deterministic."""
import numpy as np
import pytest

from hil.errors import ParameterError
from protocols.pulse_train import pulse_schedule

BASE = dict(n_pot=3, v_pot_V=10.0, width_pot_s=2e-3, n_dep=2, v_dep_V=-7.0, width_dep_s=1e-3)


def test_ltp_ltd_with_cycles():
    amp, w = pulse_schedule("ltp_ltd", **BASE, cycles=2)
    assert amp.tolist() == [10, 10, 10, -7, -7] * 2
    assert w.tolist() == [2e-3, 2e-3, 2e-3, 1e-3, 1e-3] * 2


def test_alternating_puts_leftovers_last():
    amp, _ = pulse_schedule("alternating", **BASE)
    assert amp.tolist() == [10, -7, 10, -7, 10]


def test_random_is_a_seeded_permutation():
    a1, _ = pulse_schedule("random", **BASE, seed=5)
    a2, _ = pulse_schedule("random", **BASE, seed=5)
    a3, _ = pulse_schedule("random", **{**BASE, "n_pot": 50, "n_dep": 50}, seed=6)
    assert a1.tolist() == a2.tolist() and sorted(a1.tolist()) == [-7, -7, 10, 10, 10]
    assert a3.tolist() != sorted(a3.tolist(), reverse=True)


def test_custom():
    amp, w = pulse_schedule("custom", **BASE, amplitudes_V=[5, -3, 6])
    assert amp.tolist() == [5, -3, 6] and w.tolist() == [2e-3, 1e-3, 2e-3]
    with pytest.raises(ParameterError, match="needs amplitudes_V"):
        pulse_schedule("custom", **BASE)
    assert np.all(pulse_schedule("custom", **BASE, amplitudes_V=[1.0], cycles=3)[0] == 1.0)
