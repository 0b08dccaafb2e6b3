"""Torch drift samplers: reference-model statistics, per-state model, mapping, errors."""
from __future__ import annotations

import math

import pytest
import torch

from hil.cards import load_card
from hil.errors import ParameterError
from hil.nn.drift import (ReferenceDrift, StateDrift, WeightMapping, drift_weights,
                          make_sampler)

torch.set_num_threads(2)
N = 200_000


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_card_coefficients_are_read_in_uS():
    card = load_card("drift_reference")
    m = ReferenceDrift.from_card()
    assert m.mu_ln_uS == card["drift"]["mu_ln"]
    assert m.sigma_0_uS == card["drift"]["sigma_0"]
    assert (m.prog_c0_uS, m.prog_c1) == tuple(card["programming_noise"]["2%"])
    assert ReferenceDrift.from_card(acceptance="0.2%").prog_c1 == card["programming_noise"]["0.2%"][1]


@pytest.mark.parametrize("t_s", [1.0, 3600.0, 86400.0 * 365 * 10])
def test_reference_drift_mean_and_spread(t_s):
    m = ReferenceDrift.from_card(d2d_sigma_rel=0.0)
    g_uS = 40.0
    G = torch.full((N,), g_uS * 1e-6, dtype=torch.float64)
    out = m.sample(G, t_s, _gen()) * 1e6
    sig_prog = m.prog_c0_uS + m.prog_c1 * g_uS
    sig_drift = m.sigma_ln_uS * math.log(t_s) + m.sigma_0_uS
    sig_read = m.read_c_uS * math.log10(g_uS) * math.sqrt(math.log((t_s + 1e-6) / 2e-6))
    expect_std = math.sqrt(sig_prog ** 2 + sig_drift ** 2 + sig_read ** 2)
    expect_mean = g_uS + m.mu_ln_uS * math.log(t_s)
    assert abs(out.mean().item() - expect_mean) < 4 * expect_std / math.sqrt(N)
    assert out.std().item() == pytest.approx(expect_std, rel=0.01)


def test_ten_year_numbers_from_reference():
    m = ReferenceDrift.from_card()
    t = 10 * 365 * 86400.0
    assert m.mean_shift_uS(t) == pytest.approx(-0.08900206 * math.log(t))
    assert m.sigma_drift_uS(t) == pytest.approx(0.04201137 * math.log(t) + 0.41183342)
    assert m.mean_shift_uS(t) == pytest.approx(-1.742, abs=1e-3)


def test_device_to_device_multiplicative_spread_and_clip():
    m = ReferenceDrift(programming_noise=False, d2d_sigma_rel=0.05)
    G = torch.full((N,), 50e-6, dtype=torch.float64)
    out = m.sample(G, 0.0, _gen(1))
    assert (out / G).std().item() == pytest.approx(0.05, rel=0.02)
    hi = m.sample(torch.full((1000,), 88e-6), 1.0, _gen(2))
    assert hi.max().item() <= m.g_max_uS * 1e-6 + 1e-12
    assert hi.min().item() >= m.g_min_uS * 1e-6 - 1e-12


def test_batched_any_shape_reproducible_and_dtype():
    m = ReferenceDrift.from_card()
    G = torch.rand(4, 3, 5, 5, dtype=torch.float32) * 70e-6 + 10e-6
    a, b = m.sample(G, 100.0, _gen(7)), m.sample(G, 100.0, _gen(7))
    assert a.shape == G.shape and a.dtype == torch.float32 and torch.equal(a, b)
    assert not torch.equal(a, m.sample(G, 100.0, _gen(8)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_sampler_stays_on_device():  # pragma: no cover - needs a GPU
    G = torch.full((1000,), 40e-6, device="cuda")
    assert ReferenceDrift.from_card().sample(G, 10.0).device == G.device


def test_state_drift_statistics_and_interpolation():
    tgt = torch.tensor([10e-6, 20e-6, 40e-6], dtype=torch.float64)
    mean = tgt + torch.tensor([-1e-6, -2e-6, -3e-6], dtype=torch.float64)
    std = torch.tensor([0.5e-6, 1.0e-6, 2.0e-6], dtype=torch.float64)
    sd = StateDrift.at_time(tgt, mean, std, t_s=604800.0)
    for k in range(3):
        out = sd.sample(torch.full((N,), float(tgt[k]), dtype=torch.float64), 604800.0, _gen(k))
        assert out.mean().item() == pytest.approx(mean[k].item(), abs=4 * std[k].item() / math.sqrt(N))
        assert out.std().item() == pytest.approx(std[k].item(), rel=0.01)
    m, s = sd.moments(torch.tensor([30e-6, 5e-6, 90e-6], dtype=torch.float64), 1.0)
    assert m.tolist() == pytest.approx([27.5e-6, 4e-6, 87e-6])  # midway, held below/above
    assert s.tolist() == pytest.approx([1.5e-6, 0.5e-6, 2e-6])


def test_state_drift_time_dependent_lines():
    sd = StateDrift(torch.tensor([20e-6]), torch.tensor([0.0]), torch.tensor([0.4e-6]),
                    offset_ln_G_S=torch.tensor([-0.1e-6]), std_ln_G_S=torch.tensor([0.05e-6]))
    m, s = sd.moments(torch.tensor([20e-6], dtype=torch.float64), math.e ** 10)
    assert m.item() == pytest.approx(19e-6) and s.item() == pytest.approx(0.9e-6)


def test_weight_mapping_round_trip_and_drift_weights():
    w = torch.randn(64, 32)
    mp = WeightMapping()
    G, params = mp.to_conductance(w)
    assert G.min().item() == pytest.approx(9e-6) and G.max().item() == pytest.approx(88.2e-6)
    assert torch.allclose(mp.to_weight(G, params), w, atol=1e-5)
    assert torch.allclose(drift_weights(w, 1.0, make_sampler("none")), w, atol=1e-5)
    wd = drift_weights(w, 3.15e8, ReferenceDrift.from_card(), generator=_gen())
    assert wd.shape == w.shape and not torch.allclose(wd, w)


def test_errors_name_bad_values():
    m = ReferenceDrift.from_card()
    with pytest.raises(ParameterError, match="t_s=-1"):
        m.sample(torch.ones(3) * 1e-5, -1.0)
    with pytest.raises(ParameterError, match="'5%'.*allowed"):
        ReferenceDrift.from_card(acceptance="5%")
    with pytest.raises(ParameterError, match="std0_G_S has 2 entries"):
        StateDrift(torch.tensor([1e-5, 2e-5, 3e-5]), torch.zeros(3), torch.zeros(2))
    with pytest.raises(ParameterError, match="'bogus'"):
        make_sampler("bogus")


def _formula_S(m: ReferenceDrift, G_S: torch.Tensor, t: float, gen: torch.Generator) -> torch.Tensor:
    """The class docstring's formula, out of place, term by term (the reference numbers)."""
    def n(like):
        return torch.randn(like.shape, generator=gen, dtype=like.dtype)
    g = G_S * 1e6
    g = g + (m.prog_c0_uS + m.prog_c1 * g) * n(g)
    if t > 0:
        g = g + m.mean_shift_uS(t) + m.sigma_drift_uS(t) * n(g)
        g = g + m.read_c_uS * torch.log10(g.clamp(min=1e-3)) * m.read_factor(t) * n(g)
    g = g * (1.0 + m.d2d_sigma_rel * n(g))
    return g.clamp(m.g_min_uS, m.g_max_uS) / 1e6


@pytest.mark.parametrize("t_s", [0.0, 1.0, 3.15e8])
def test_in_place_and_fused_paths_are_the_formula_bit_for_bit(t_s):
    m = ReferenceDrift.from_card()
    G = torch.rand(3, 50_001, generator=_gen(1)) * 79e-6 + 9e-6
    want = _formula_S(m, G, t_s, _gen(4))
    out, scratch = torch.empty_like(G), tuple(torch.empty_like(G) for _ in range(3))
    fused = m.sample(G, t_s, _gen(4), out=out, scratch=scratch)   # contiguous float32: fused
    assert fused is out and torch.equal(fused, want)
    torch_ops = m.sample_uS(G * 1e6, t_s, _gen(4)) / 1e6            # the in-place torch ops
    assert torch.equal(torch_ops, want)
    g64 = m.sample(G.double(), t_s, _gen(4))                       # float64: torch ops, in place
    assert g64.dtype == torch.float64                              # (float64 normals differ)
    assert abs(float(g64.mean()) - float(want.double().mean())) < 0.01 * float(want.mean())
    assert torch.equal(G, torch.rand(3, 50_001, generator=_gen(1)) * 79e-6 + 9e-6)  # input kept


@pytest.mark.parametrize("prog,t_s,d2d", [(True, 3.15e8, 0.01), (False, 3.15e8, 0.01),
                                          (True, 0.0, 0.01), (True, 3.15e8, 0.0),
                                          (False, 0.0, 0.0), (True, 0.0, 0.0)])
def test_fused_threads_change_no_bit(prog, t_s, d2d, monkeypatch):
    """The fused path (its last draw in chunks on the second kernel thread, the pass in
    blocks) gives the numbers of the in-place torch ops and of itself on one kernel thread,
    for every noise term on or off; 70_001 cells take the threaded path (>=
    PARALLEL_MIN_WORK), in chunks and blocks that do not line up, with ragged ends."""
    numba = pytest.importorskip("numba")
    from hil.nn import drift_fused as fz
    from hil.threads import set_kernel_threads
    monkeypatch.setattr(fz, "CHUNK", 4096 * 3)
    monkeypatch.setattr(fz, "BLOCK", 5000)
    m = ReferenceDrift.from_card(programming_noise=prog, d2d_sigma_rel=d2d)
    G = torch.rand(70_001, generator=_gen(2)) * 79e-6 + 9e-6
    want = m.sample_uS(G * 1e6, t_s, _gen(6)) / 1e6
    try:
        got = {}
        for k in (1, 2):
            set_kernel_threads(k)
            got[k] = m.sample(G, t_s, _gen(6), scratch=tuple(torch.empty_like(G) for _ in range(3)))
    finally:
        set_kernel_threads(None)
    for k, v in got.items():
        assert torch.equal(v, want), f"{k} kernel thread(s)"


def test_fused_path_keeps_torch_thread_count():
    """The kernel threads' first use (numba's OpenMP layer) must not reset torch's count."""
    import subprocess
    import sys
    code = ("import torch; torch.set_num_threads(1)\n"
            "from hil.nn.drift import ReferenceDrift\n"
            "ReferenceDrift.from_card().sample(torch.full((70_001,), 40e-6), 1.0)\n"
            "assert torch.get_num_threads() == 1, torch.get_num_threads()\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("n", [16, 17, 31, 48, 4101, 12_288, 12_303, 12_304, 70_001])
@pytest.mark.parametrize("size", [16, 4096])
def test_chunked_draws_are_one_draw(n, size):
    """torch's CPU normal_ draws uniforms in order and Box-Mullers blocks of 16 (the last
    16 values redrawn when the length is not a multiple of 16): chunks of a multiple of 16,
    the last at least 16 long, give one whole draw's numbers and leave the same state."""
    pytest.importorskip("numba")
    from hil.nn.drift_fused import chunks
    parts = chunks(n, size)
    assert parts[0][0] == 0 and parts[-1][1] == n and parts[-1][1] - parts[-1][0] >= 16
    assert all((j1 - j0) % 16 == 0 for j0, j1 in parts[:-1])
    whole, gw, gc = torch.empty(n), _gen(9), _gen(9)
    whole.normal_(generator=gw)
    pieces = torch.empty(n)
    for j0, j1 in parts:
        pieces[j0:j1].normal_(generator=gc)
    assert torch.equal(whole, pieces)
    assert torch.equal(torch.randn(5, generator=gw), torch.randn(5, generator=gc))


def test_fused_in_place_on_the_targets():
    """``out=G`` (n4 is drawn into ``out`` before G is read: a temporary takes it)."""
    m = ReferenceDrift.from_card()
    G = torch.rand(70_001, generator=_gen(3)) * 79e-6 + 9e-6
    want = m.sample(G, 3.15e8, _gen(5))
    Gc = G.clone()
    assert m.sample(Gc, 3.15e8, _gen(5), out=Gc) is Gc and torch.equal(Gc, want)
