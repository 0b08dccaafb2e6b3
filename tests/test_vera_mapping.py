"""Per-channel conductance mapping, keep-the-better set copies, noise-aware backbone training."""
from __future__ import annotations

import pytest
import torch

from hil.errors import ParameterError
from hil.nn.drift import ReferenceDrift, WeightMapping, drift_weights, make_sampler
from hil.nn.models import small_cnn
from hil.nn.quant import QConv2d, QLinear, quantize_model, train_quantized
from hil.nn.vera import VeraPlusModel, load_checkpoint, save_checkpoint

torch.set_num_threads(2)


def _w() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(6, 3, 3, 3, generator=g)
    return w * torch.tensor([1.0, 0.1, 0.5, 2.0, 0.01, 1.0]).reshape(-1, 1, 1, 1)


@pytest.mark.parametrize("kind", ["single", "pair"])
def test_per_channel_mapping_uses_full_window_and_round_trips(kind):
    mp = WeightMapping(kind=kind, per_channel=True)
    w = _w()
    G, params = mp.to_conductance(w)
    assert torch.allclose(mp.to_weight(G, params), w, atol=1e-6 * float(w.abs().max()))
    flat = G.reshape(G.shape[0], w.shape[0], -1) if kind == "pair" else G.reshape(1, 6, -1)
    gmax = flat.amax(dim=(0, 2))  # every output channel reaches g_max
    assert torch.allclose(gmax, torch.full((6,), mp.g_max_S), rtol=1e-5)
    assert float(G.min()) >= mp.g_min_S * (1 - 1e-6)
    # per-tensor: the small channels use only a sliver of the window
    Gt, _ = WeightMapping(kind=kind).to_conductance(w)
    ft = Gt.reshape(-1, 6, 27)
    span_t = ft.amax((0, 2)) - ft.amin((0, 2))
    assert float(span_t[4]) < 0.1 * (mp.g_max_S - mp.g_min_S)


def test_per_channel_mapping_shrinks_drift_noise_of_small_channels():
    s = ReferenceDrift.from_card()
    w = _w()
    gen = torch.Generator().manual_seed(1)
    errs = {}
    for pc in (False, True):
        mp = WeightMapping(per_channel=pc)
        noshift = ReferenceDrift.from_card(mu_ln_uS=0.0)
        d = torch.stack([drift_weights(w, 3.15e8, noshift, mp, gen) for _ in range(20)])
        errs[pc] = float(((d - w)[:, 4].std() / w[4].abs().max()))
    assert errs[True] < 0.2 * errs[False]
    assert s.mu_ln_uS < 0  # the evaluated model keeps its mean drift


def test_mapping_per_channel_survives_checkpoint(tmp_path):
    q = quantize_model(small_cnn(width=4)).eval()
    v = VeraPlusModel(q, 1, 0, WeightMapping(per_channel=True), "positive")
    v.add_set()
    arch = {"name": "small_cnn", "kwargs": {"width": 4}, "input_shape": [1, 8, 8]}
    save_checkpoint(tmp_path / "v.pt", v, arch=arch, quant={"w_bits": 4, "a_bits": 4})
    v2, _ = load_checkpoint(tmp_path / "v.pt")
    assert v2.mapping.per_channel is True


def test_copy_set_overwrites_only_target():
    q = quantize_model(small_cnn(width=4)).eval()
    v = VeraPlusModel(q, 2, 0, projection="positive")
    a, b = v.add_set(), v.add_set()
    with torch.no_grad():
        for layer in v.layers():
            layer.d[a].fill_(0.7)
            layer.b[a].fill_(-0.3)
    v.copy_set(a, b)
    for layer in v.layers():
        assert torch.equal(layer.d[b], layer.d[a]) and torch.equal(layer.b[b], layer.b[a])
        assert layer.d[b] is not layer.d[a]
    with pytest.raises(ParameterError, match="set index 5 not in 0..1"):
        v.copy_set(5, 0)


def test_noise_aware_training_perturbs_forward_only_in_training_and_is_removed():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 1, 8, 8, generator=g), torch.randint(0, 10, (64,), generator=g)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    calls = []

    def noise(w: torch.Tensor) -> torch.Tensor:
        calls.append(w.shape)
        return w + 0.01 * torch.randn_like(w)

    q = train_quantized(small_cnn(width=4), loader, 1, 1, weight_noise=noise, noise_epochs=1)
    layers = [m for m in q.modules() if isinstance(m, (QConv2d, QLinear))]
    assert len(calls) == 4 * len(layers)  # one noisy instance per layer and mini-batch
    assert all(getattr(m, "weight_noise", None) is None for m in layers)
    # hook: noisy forward in train mode, clean gradient (straight-through), none in eval
    m = layers[0]
    m.weight_noise = lambda w: w + 1.0
    m.train()
    xin = torch.rand(2, 1, 8, 8)
    out_noisy = m(xin)
    m.eval()
    out_clean = m(xin)
    assert not torch.allclose(out_noisy, out_clean)
    m.weight_noise = None


def test_cli_noise_epochs_needs_reference_drift_and_non_negative(tmp_path, capsys):
    from hil.cli import main as hil_main

    assert hil_main(["vera", "train", "--noise-epochs", "-1", "--out", str(tmp_path / "x")]) == 2
    assert "--noise-epochs -1 must be >= 0" in capsys.readouterr().err
    assert isinstance(make_sampler("reference"), ReferenceDrift)
