"""The LTP/LTD nonlinearity fit recovers the parameters of synthetic curves."""
import numpy as np
import pytest

from hil.analysis.nonlinearity import NonlinearityFit, fit_nonlinearity
from hil.errors import ParameterError


@pytest.mark.parametrize("direction, A, B, G0", [("ltp", 45.0, 40e-6, 0.1e-6), ("ltd", 25.0, 38e-6, 42e-6),
                                                 ("ltp", 400.0, 10e-6, 1e-6)])
def test_fit_recovers_parameters(direction, A, B, G0):
    true = NonlinearityFit(A, B, G0, direction, 0.0)
    G = true.predict(np.arange(1, 181)) * (1 + 0.002 * np.random.default_rng(1).standard_normal(180))
    fit = fit_nonlinearity(G, direction)
    assert fit.A_pulses == pytest.approx(A, rel=0.05)
    assert fit.B_S == pytest.approx(B, rel=0.05)
    assert fit.rmse_S < 0.01 * B


def test_bad_input():
    with pytest.raises(ParameterError, match="direction='up'"):
        fit_nonlinearity(np.ones(10), "up")
    with pytest.raises(ParameterError, match=">= 4 finite"):
        fit_nonlinearity(np.array([1.0, np.nan, 2, 3, 4]), "ltp")
