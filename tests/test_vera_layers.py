"""VeRA+ layers: shapes, sharing of A/B, frozen parameters, weight restore before backward."""
from __future__ import annotations

import pytest
import torch
from torch import nn
import torch.nn.functional as F

from hil.errors import ParameterError
from hil.nn.drift import ReferenceDrift, make_sampler
from hil.nn.models import resnet20, small_cnn
from hil.nn.quant import quantize_model, quantize_weight
from hil.nn.schedule import train_set
from hil.nn.vera import VeraPlusLayer, VeraPlusModel, load_checkpoint, save_checkpoint

torch.set_num_threads(2)


def _quantized_cnn(width: int = 4) -> nn.Module:
    torch.manual_seed(0)
    q = quantize_model(small_cnn(width=width))
    q.train()
    with torch.no_grad():
        for m in q.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = None  # cumulative average: BN and activation ranges agree in eval
        for _ in range(5):
            q(torch.rand(16, 1, 8, 8))
    return q.eval()


def _loader(n: int = 32):
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 10, (n,), generator=g)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)


def test_shapes_and_zero_init_is_identity():
    q = _quantized_cnn()
    v = VeraPlusModel(q, rank=2)
    x = torch.rand(5, 1, 8, 8)
    ref = q(x)
    assert torch.allclose(v(x), ref, atol=1e-6)  # programmed = quantized weights
    v.add_set()
    v.select(0)
    assert torch.allclose(v(x), ref, atol=1e-6)  # b starts at 0
    layers = v.layers()
    assert [lay.d[0].shape for lay in layers] == [torch.Size([2])] * 4
    assert [lay.b[0].shape[0] for lay in layers] == [4, 8, 8, 10]
    r = VeraPlusModel(resnet20().eval(), rank=1)
    r.add_set()
    r.select(0)
    assert r(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert len(r.layers()) == 20  # 19 convs + fc (option-A shortcuts have no weights)


def test_programmed_weights_are_the_quantized_ones():
    q = _quantized_cnn()
    v = VeraPlusModel(q)
    w = v.layers()[1].weight
    assert torch.equal(w, quantize_weight(q[3].weight, 4).detach())
    assert all(len(torch.unique(row)) <= 15 for row in w.reshape(w.shape[0], -1))


def test_A_B_shared_by_all_layers_and_sets():
    v = VeraPlusModel(_quantized_cnn(), rank=3, seed=5)
    v.add_set()
    v.add_set()
    A, B = v.shared.A, v.shared.B
    assert A.shape == (3, 8) and B.shape == (10, 3)  # max C_in = 8, max C_out = 10
    for lay in v.layers():
        assert lay._shared is v.shared
        assert lay.A().data_ptr() == A.data_ptr() and lay.B().data_ptr() == B.data_ptr()
        assert lay.A().shape == (3, lay.c_in) and lay.B().shape == (lay.c_out, 3)
    keys = [k for k in v.state_dict() if k.endswith(".A") or k.endswith(".B")]
    assert keys == ["shared.A", "shared.B"]  # stored once
    assert torch.equal(VeraPlusModel(_quantized_cnn(), rank=3, seed=5).shared.A, A)


def test_branch_is_1x1_conv_with_layer_stride():
    conv = nn.Conv2d(3, 6, 3, stride=2, padding=1, bias=False)
    v = VeraPlusModel(nn.Sequential(conv), rank=2)
    v.add_set()
    v.select(0)
    lay: VeraPlusLayer = v.layers()[0]
    with torch.no_grad():
        lay.d[0].copy_(torch.tensor([0.5, -2.0]))
        lay.b[0].copy_(torch.arange(6.0))
    x = torch.rand(2, 3, 9, 9)
    z = torch.einsum("rc,nchw->nrhw", lay.A(), x[:, :, ::2, ::2]) * lay.d[0][None, :, None, None]
    z = torch.einsum("or,nrhw->nohw", lay.B(), z) * lay.b[0][None, :, None, None]
    expect = F.conv2d(x, conv.weight, stride=2, padding=1) + z
    assert torch.allclose(v(x), expect, atol=1e-5)


def test_only_d_and_b_of_the_active_set_get_gradients():
    v = VeraPlusModel(_quantized_cnn())
    v.add_set()
    v.add_set(copy_from=0)
    v.select(1)
    with torch.no_grad():
        for lay in v.layers():
            lay.b[1].fill_(0.1)
    loss = F.cross_entropy(v(torch.rand(4, 1, 8, 8)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    trainable = {id(p) for p in v.set_parameters(1)}
    for name, p in v.named_parameters():
        if id(p) in trainable:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None, name
    assert not v.shared.A.requires_grad and not v.shared.B.requires_grad


def test_drift_injection_forward_drifted_backward_programmed():
    v = VeraPlusModel(_quantized_cnn())
    programmed = [lay.weight.detach().clone() for lay in v.layers()]
    seen = {"forward_drifted": 0, "backward_programmed": 0, "calls": 0}

    def fwd_hook(module, inp, out):
        seen["calls"] += 1
        if any(not torch.equal(lay.weight, w) for lay, w in zip(v.layers(), programmed)):
            seen["forward_drifted"] += 1

        def bwd(grad):
            if all(torch.equal(lay.weight, w) for lay, w in zip(v.layers(), programmed)):
                seen["backward_programmed"] += 1
            return grad
        out.register_hook(bwd)

    h = v.net.register_forward_hook(fwd_hook)
    idx = train_set(v, _loader(), 3.15e8, ReferenceDrift.from_card(), epochs=1)
    h.remove()
    assert seen["calls"] == 4
    assert seen["forward_drifted"] == 4 and seen["backward_programmed"] == 4
    assert all(torch.equal(lay.weight, w) for lay, w in zip(v.layers(), programmed))
    assert any(lay.b[idx].abs().sum() > 0 for lay in v.layers())  # the set trained
    assert not any(p.requires_grad for p in v.set_parameters(idx))  # and is frozen now


def test_drift_restored_even_on_error():
    v = VeraPlusModel(_quantized_cnn())
    w0 = v.layers()[0].weight.clone()
    with pytest.raises(RuntimeError):
        with v.drift_injected(1e6, ReferenceDrift.from_card()):
            assert not torch.equal(v.layers()[0].weight, w0)
            raise RuntimeError("boom")
    assert torch.equal(v.layers()[0].weight, w0)


def test_select_by_time_and_errors(tmp_path):
    v = VeraPlusModel(_quantized_cnn())
    for _ in range(3):
        v.add_set()
    v.schedule_t_s = [1.0, 3600.0, 86400.0]
    assert [v.select_by_time(t) for t in (0.5, 1.0, 7200.0, 1e9)] == [-1, 0, 1, 2]
    with pytest.raises(ParameterError, match="set index 3 not in -1..2"):
        v.select(3)
    with pytest.raises(ParameterError, match="rank=0"):
        VeraPlusModel(_quantized_cnn(), rank=0)
    with pytest.raises(ParameterError, match="projection 'odd'"):
        VeraPlusModel(_quantized_cnn(), projection="odd")
    with pytest.raises(ParameterError, match="no Conv2d or Linear"):
        VeraPlusModel(nn.Sequential(nn.ReLU()))
    # checkpoint round trip keeps sets, schedule and programmed weights
    arch = {"name": "small_cnn", "kwargs": {"width": 4}, "input_shape": [1, 8, 8]}
    save_checkpoint(tmp_path / "v.pt", v, arch=arch, quant={"w_bits": 4, "a_bits": 4})
    v2, _ = load_checkpoint(tmp_path / "v.pt")
    x = torch.rand(3, 1, 8, 8)
    v.select(2), v2.select(2)
    assert v2.n_sets == 3 and v2.schedule_t_s == v.schedule_t_s
    assert torch.allclose(v(x), v2(x))
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ParameterError, match="cannot read VeRA\\+ checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")
    assert make_sampler("none").sample(torch.ones(2), 5.0).tolist() == [1.0, 1.0]
