"""MTT transfer functions (Eq 4/7/11/16/17), metaplastic optimizer, hidden-weight quantization
and programming noise."""
import numpy as np
import pytest
import torch

from hil.analysis.mtt_fit import transfer_eq7, transfer_eq11
from hil.errors import ParameterError
from hil.nn.bnn import BNN, ProgrammingNoise, hidden_levels, quantize_hidden
from hil.nn.metaplastic import MetaplasticAdam, f_meta
from hil.nn.mtt_transfer import TransferParams, resolve, transfer, w_b_limit

torch.set_num_threads(1)


def test_published_constants_eq16_eq17():
    e = TransferParams.published("ecram")
    assert (e.A_p, e.B_p, e.A_n, e.B_n) == (41.36, 41.62, 44.67, 44.45)
    r = TransferParams.published("rram")
    assert (r.A_p, r.B_p, r.A_n, r.B_n) == (63.61, 63.67, 70.03, 67.44)
    assert min(r.A_p, r.B_p, r.A_n, r.B_n) > 50          # "all fit parameters > 50"
    # Eq 16 by hand at W_h = +1, -1, 0 and 0.5
    w = transfer(torch.tensor([1.0, -1.0, 0.0, 0.5], dtype=torch.float64), e)
    assert w[0] == pytest.approx(2 * (42.36 / 43.62 - 0.5))
    assert w[1] == pytest.approx(-2 * ((44.67 + 1) / (44.45 + 2) - 0.5))
    assert w[2] == 0.0
    assert w[3] == pytest.approx(2 * ((41.36 * 0.5 + 1) / (41.62 * 0.5 + 2) - 0.5))
    assert w_b_limit(e) == pytest.approx((float(w[0]), float(w[1])))


@pytest.mark.parametrize("kind", ["ecram", "rram", "ideal"])
def test_transfer_matches_numpy_fit_module_and_is_monotone(kind):
    p = TransferParams.published(kind)
    wh = np.linspace(-1, 1, 401)
    ours = transfer(torch.tensor(wh), p).numpy()
    np.testing.assert_allclose(ours, transfer_eq7(wh, p.A_p, p.B_p, p.A_n, p.B_n), atol=1e-12)
    assert np.all(np.diff(ours) >= 0)
    # Eq 17's negative branch has A_n > B_n, so it overshoots -1 slightly (-1.046 at W_h = -1)
    assert np.all(np.abs(ours) < (1.05 if kind == "rram" else 1.0))


def test_ideal_K_and_sign():
    assert resolve("ideal:50").A_p == 50.0
    assert TransferParams.published("ideal").A_p == 20.0     # card: K >= 20 saturates (Fig. S11)
    s = transfer(torch.tensor([-0.3, 0.0, 0.2]), resolve("sign"))
    assert s.tolist() == [-1.0, 1.0, 1.0]
    big = transfer(torch.tensor([0.5]), resolve("ideal:1e6"))
    assert float(big) == pytest.approx(1.0, abs=1e-5)


def test_ternary_eq11_dead_zone_and_shift():
    p = TransferParams.published("ecram", r=0.2)
    wh = torch.tensor([-0.5, -0.2, -0.1, 0.0, 0.15, 0.2, 0.6], dtype=torch.float64)
    wt = transfer(wh, p)
    assert wt[1:6].abs().max() == 0.0
    b = TransferParams.published("ecram")
    assert wt[-1] == pytest.approx(float(transfer(torch.tensor(0.4, dtype=torch.float64), b)))
    assert wt[0] == pytest.approx(float(transfer(torch.tensor(-0.3, dtype=torch.float64), b)))
    np.testing.assert_allclose(wt.numpy(), transfer_eq11(wh.numpy(), b.A_p, b.B_p, b.A_n, b.B_n, 0.2))
    zero = transfer(torch.tensor([0.1, 0.3]), resolve("sign", r=0.2))
    assert zero.tolist() == [0.0, 1.0]


def test_bad_parameters_are_named():
    with pytest.raises(ParameterError, match="A_p"):
        TransferParams(-1.0, 1.0, 1.0, 1.0)
    with pytest.raises(ParameterError, match="radius"):
        TransferParams.published("ecram", r=1.5)
    with pytest.raises(ParameterError, match="allowed: ecram, rram, ideal, sign"):
        resolve("pcm")
    with pytest.raises(ParameterError, match="ideal:K"):
        resolve("ideal:big")


def test_f_meta_and_metaplastic_adam_attenuates_only_shrinking_updates():
    assert float(f_meta(torch.tensor(0.0), 12)) == 1.0
    assert float(f_meta(torch.tensor(0.5), 12)) < 1e-4

    def one_step(m, grad):
        p = torch.nn.Parameter(torch.tensor([0.3]))
        opt = MetaplasticAdam([{"params": [p], "meta": True}], lr=0.01, m=m)
        p.grad = torch.tensor([grad])
        opt.step()
        return float(p.detach()) - 0.3

    shrink_plain, shrink_meta = one_step(0.0, +1.0), one_step(12.0, +1.0)
    assert shrink_plain == pytest.approx(-0.01, rel=1e-3)
    assert shrink_meta == pytest.approx(-0.01 * float(f_meta(torch.tensor(0.3), 12)), rel=1e-3)
    assert one_step(12.0, -1.0) == pytest.approx(one_step(0.0, -1.0))    # growth unattenuated
    with pytest.raises(ParameterError, match="m="):
        MetaplasticAdam([torch.nn.Parameter(torch.zeros(1))], m=-1)


def test_hidden_quantization_3_bits_in_pm1():
    lv = hidden_levels(3)
    assert len(lv) == 8 and float(lv[0]) == -1 and float(lv[-1]) == 1
    q = quantize_hidden(torch.linspace(-1.5, 1.5, 1001), 3)
    assert set(np.round(q.numpy(), 6)) <= set(np.round(lv.numpy(), 6))
    with pytest.raises(ParameterError, match="bits"):
        hidden_levels(0)


def test_programming_noise_relative_statistics():
    g = torch.Generator().manual_seed(0)
    w = torch.full((20000,), 5 / 7)
    clean = ProgrammingNoise(0.0).apply(w, g)
    assert torch.equal(clean, w)
    noisy = ProgrammingNoise(0.2, "relative", g_min_ratio=0.05).apply(w, g)
    g_active = 0.05 + (5 / 7) * 0.95
    # std of W follows from the relative conductance error of the active device
    assert float(noisy.std()) == pytest.approx(0.2 * g_active / 0.95, rel=0.1)
    assert float((noisy > 0).double().mean()) == 1.0
    fs = ProgrammingNoise(0.3, "full_scale").apply(torch.full((20000,), 1 / 7), g)
    assert 0.05 < float((fs < 0).double().mean()) < 0.5                  # sign flips happen
    with pytest.raises(ParameterError, match="noise mode"):
        ProgrammingNoise(0.1, "absolute")


def test_bnn_forward_and_straight_through_gradient():
    torch.manual_seed(0)
    net = BNN((4, 8, 3), "ecram")
    x = torch.randn(16, 4)
    out = net(x)
    assert out.shape == (16, 3)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.hidden_parameters())
    lin = net.binary[0]
    np.testing.assert_allclose(lin.binary_weight().numpy(),
                               transfer(lin.level, net.params).numpy())
    with pytest.raises(ParameterError, match="sizes"):
        BNN((4,), "ecram")


def test_transfer_from_mtt_readout_run(tmp_path):
    from hil.runner import run_protocol
    from sim_backends import SimBackend

    path = run_protocol("mtt_readout", SimBackend((1, 4), seed=0), tmp_path / "mr.h5",
                        {"n_points": 5, "g_high_S": 45e-6}, progress=False)
    p = resolve(str(path))
    assert p.kind.startswith("fit:")
    assert 10 < p.A_p < 100 and 10 < p.A_n < 100
    wb = transfer(torch.tensor([1.0, -1.0]), p)
    assert 0.85 < float(wb[0]) < 1 and -1 < float(wb[1]) < -0.85
    wv = run_protocol("write_verify", SimBackend((2, 2), seed=0), tmp_path / "wv.h5",
                      {"target": "uniform:3", "max_pulses": 5}, progress=False)
    with pytest.raises(ParameterError, match="mtt_readout"):
        resolve(str(wv))


def test_programming_only_rewrites_changed_levels_and_in_situ_syncs_hidden():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    net = BNN((6, 5), "ecram")
    lin = net.binary[0]
    assert net.program(ProgrammingNoise(0.2), g, force=True) == 30
    before = lin.device.clone()
    assert net.program(ProgrammingNoise(0.2), g) == 0          # nothing changed level
    with torch.no_grad():
        lin.hidden[0, 0] = 0.9
    assert net.program(ProgrammingNoise(0.2), g) == 1
    assert torch.equal(lin.device[1:], before[1:])
    assert float(lin.hidden.detach()[0, 0]) == pytest.approx(0.9)        # digital accumulator kept
    with torch.no_grad():
        lin.hidden[0, 1] = -0.9
    net.program(ProgrammingNoise(0.2, in_situ=True), g)
    assert float(lin.hidden.detach()[0, 1]) == float(lin.device[0, 1])
    assert float(lin.hidden.detach()[0, 1]) != pytest.approx(-0.9)
