"""MTT Fig. 5h-l: the 2x3x1 XOR BNN trained with the ECRAM transfer function (Eq 16), its
hidden weights write-verified into MTT units of a simulated H-1E1T array, binary weights
read back as I_ts (Eq 15): measured accuracy >= 98 %."""
import numpy as np
import pytest
import torch

from hil.errors import ParameterError
from hil.nn.bnn_hw import run_on_array, train_xor, write_xor_run, xor_data
from hil.store import Run
from sim_backends import SimBackend

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def xor_model():
    model, acc, _ = train_xor(epochs=25, restarts=6, seed=3)
    assert acc >= 0.99
    return model


def test_xor_on_simulated_mtt_array(xor_model, tmp_path, capsys):
    x, y = xor_data(400, seed=1)
    backend = SimBackend((8, 8), seed=3)
    res = run_on_array(xor_model, backend, x, y, tmp_path / "wv.h5", (2.245e-6, 45e-6))
    assert res.accuracy_software >= 0.98
    assert res.accuracy_measured >= 0.98
    assert res.extra["converged"] == 1.0
    for wm, ws in zip(res.w_b_measured, res.w_b_software):
        assert np.all(np.sign(wm) == np.sign(ws))
        assert np.max(np.abs(wm - ws)) < 0.1
    # the hidden weights read back with Eq 14 sit on the 3-bit grid within write-verify error
    for wh, lin in zip(res.w_h_measured, xor_model.binary):
        np.testing.assert_allclose(wh, lin.level.double().numpy(), atol=0.05)
    out = write_xor_run(tmp_path / "xor.h5", res, backend, {"seed": 0})
    run = Run.open(out)
    assert run.attrs["protocol"] == "bnn_xor" and run.status == "complete"
    acc = run.read_result("accuracy")
    assert acc[1] == pytest.approx(res.accuracy_measured)
    assert Run.open(res.write_verify_run).attrs["protocol"] == "write_verify"
    from hil.nn.bnn_plot import plot_xor
    assert plot_xor(out, tmp_path / "xor.png").stat().st_size > 5000
    # issue 18 item 7: `hil plot` and `hil show` read bnn_xor files (not a protocol)
    from hil.plotting import plot_run
    assert plot_run(out, tmp_path / "view.png").read_bytes()[:4] == b"\x89PNG"
    from hil.cli import main
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "summary unavailable" not in shown
    assert f"/results/accuracy [1]: [{acc[0]:.4f}".rstrip("0") in shown


def test_xor_needs_room_on_the_array(xor_model, tmp_path):
    x, y = xor_data(8, seed=1)
    with pytest.raises(ParameterError, match="arrays"):
        run_on_array(xor_model, SimBackend((2, 4), seed=0), x, y, tmp_path / "wv.h5",
                     (2.245e-6, 45e-6))
