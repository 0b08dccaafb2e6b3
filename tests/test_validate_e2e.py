"""`hil validate` end to end on simulated RRAM arrays (drift from the REFERENCE §5 model),
`--from-run` on the same file and on a foreign run with maps, and the plots."""
import numpy as np
import pytest
import torch

from hil.cards import load_card
from hil.cli import main
from hil.errors import ParameterError, RunFileError
from hil.nn.datasets import load_digits_split
from hil.nn.mapping import range_from_card
from hil.nn.netmap import NetworkMap
from hil.nn.train import train_epochs
from hil.nn.validate import validate_from_run
from hil.nn.validate_models import load_model, mlp, save_model
from hil.store import Run

torch.set_num_threads(1)

STATION = """[backend]
type = "sim"
array = "1t1r"
device = "rram_hfox_1t1r"
rows = 8
cols = 8
seed = 0
"""


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    split = load_digits_split()
    model = mlp([64, 16, 10])
    train_epochs(model, split.loader(64), 15, lr=1e-2)
    path = tmp_path_factory.mktemp("model") / "mlp.pt"
    return save_model(path, model, "mlp", {"sizes": [64, 16, 10]})


@pytest.fixture(scope="module")
def validated(model_file, tmp_path_factory):
    d = tmp_path_factory.mktemp("val")
    (d / "rram.toml").write_text(STATION)
    rc = main(["validate", str(model_file), "--station", str(d / "rram.toml"),
               "--array-shape", "32x64", "--times", "1s,1d,1y,10y", "--out", str(d / "v.h5"),
               "--no-progress"])
    assert rc == 0
    return d


def test_default_station_arrays_sized_from_the_model(model_file):
    """Issue 18 item 4: without --station the simulated array holds the whole model (the
    embedded 8x8 array would need more arrays than --max-arrays allows)."""
    from hil.commands.validate import model_array_shape

    model, _, _ = load_model(str(model_file))
    shape = model_array_shape(model, "differential")
    assert shape == (64, 2 * 16 + 2 * 10)      # maps 64 x 32 and 16 x 20, side by side
    assert NetworkMap.build(model, "differential", (1e-6, 1e-5), shape, 1).plan.n_arrays == 1
    with pytest.raises(ParameterError, match="arrays"):
        NetworkMap.build(model, "differential", (1e-6, 1e-5), (8, 8), 8)


def test_validate_on_sim_tiles_programs_and_drifts(validated):
    run = Run.open(validated / "v.h5")
    assert run.attrs["protocol"] == "validate" and run.status == "complete"
    net = NetworkMap.from_json(run.dataset_attrs("results/target_G_S")["netmap"])
    assert net.plan.n_arrays == 2                        # layer 1 (64 x 32) is cut in two
    t_s, maps = run.read_maps()
    np.testing.assert_allclose(t_s, [1, 86400, 365 * 86400, 3650 * 86400])
    assert maps.shape == (4, 64, 64)
    acc = run.read_result("accuracy")
    sw = run.dataset_attrs("results/accuracy")["software_accuracy"]
    assert sw > 0.9
    assert abs(acc[0] - sw) <= 0.03                       # t = 1 s: within a few points
    assert acc[-1] <= acc[0]                              # drift costs accuracy
    err = run.read_result("layer_error")
    assert np.all(np.diff(err, axis=0) > 0)               # weight error grows with time
    assert err[0].max() < 0.1
    assert run.read_result("converged").sum() > 0.8 * np.isfinite(run.read_result("target_G_S")).sum()
    for k in (0, 1):                                       # one write-verify run per array
        assert Run.open(validated / f"v.wv{k}.h5").attrs["protocol"] == "write_verify"
    for png in ("v_accuracy.png", "v_scatter.png"):
        assert (validated / png).stat().st_size > 5000


def test_plot_and_show_read_a_validation_run(validated, capsys):
    """Issue 18 item 7: `hil plot` / `hil show` know validate run files (not a protocol)."""
    assert main(["plot", str(validated / "v.h5"), "-o", str(validated / "view.png")]) == 0
    assert (validated / "view.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["show", str(validated / "v.h5")]) == 0
    shown = capsys.readouterr().out
    acc = Run.open(validated / "v.h5").read_result("accuracy")
    assert f"/results/accuracy [1]: [{acc[0]:.4f}".rstrip("0") in shown    # values, not a shape
    assert "unknown protocol" not in shown and "summary unavailable" not in shown


def test_validation_run_feeds_drift_statistics(validated):
    from hil.analysis.drift import read_retention, state_statistics

    t_s, G_S, state, target = read_retention(Run.open(validated / "v.h5"))
    stats = state_statistics(t_s, G_S, state, target)
    assert len(stats.states) >= 8 and stats.mean_G_S.shape[1] == 4
    assert main(["fit", str(validated / "v.h5"), "--plot", "none"]) == 0
    assert any(n.startswith("drift") for n in Run.open(validated / "v.h5").list("fits"))


def test_validate_from_run_reproduces(validated, model_file, capsys):
    rc = main(["validate", str(model_file), "--from-run", str(validated / "v.h5"),
               "--out", str(validated / "v2.h5")])
    assert rc == 0
    a = Run.open(validated / "v.h5").read_result("accuracy")
    b = Run.open(validated / "v2.h5").read_result("accuracy")
    np.testing.assert_allclose(a, b, atol=1 / 360 + 1e-9)   # float32 maps: at most 1 sample
    assert "accuracy" in capsys.readouterr().out


def test_from_run_on_foreign_run_with_lab_like_maps(model_file, tmp_path):
    model, split, _ = load_model(str(model_file))
    card = load_card("rram_hfox_1t1r")
    net = NetworkMap.build(model, "differential", range_from_card(card), (64, 64), max_arrays=1)
    target = net.target_arrays(model)[0]
    run = Run.create(tmp_path / "lab.h5", protocol="retention", params={}, station_text="",
                     backend="lab", device=card, seed=None, shape=(64, 64))
    rng = np.random.default_rng(0)
    clean = np.nan_to_num(target, nan=1e-7)
    for t, sigma in ((10.0, 0.2e-6), (1e5, 3e-6)):
        run.append_map(t, clean + rng.normal(0, sigma, clean.shape))
    run.commit()
    res = validate_from_run(model, split.x_test, split.y_test, tmp_path / "lab.h5",
                            tmp_path / "val.h5")
    assert res.accuracy[0] > res.software_accuracy - 0.03
    assert res.layer_error[1].min() > res.layer_error[0].max()
    small = Run.create(tmp_path / "small.h5", protocol="retention", params={}, station_text="",
                       backend="lab", device=card, seed=None, shape=(8, 8))
    small.append_map(1.0, np.full((8, 8), 1e-5))
    small.commit()
    with pytest.raises(ParameterError, match="only 1 allowed"):
        validate_from_run(model, split.x_test, split.y_test, tmp_path / "small.h5",
                          tmp_path / "val2.h5")
    empty = Run.create(tmp_path / "empty.h5", protocol="retention", params={}, station_text="",
                       backend="lab", device=card, seed=None, shape=(64, 64))
    with pytest.raises(RunFileError, match="no conductance maps"):
        validate_from_run(model, split.x_test, split.y_test, empty.path, tmp_path / "val3.h5")


def test_validate_bad_input(model_file, tmp_path, capsys):
    assert main(["validate", "no-such-model"]) == 2
    assert "built-in" in capsys.readouterr().err
    assert main(["validate", str(model_file), "--array-shape", "big"]) == 2
    assert "ROWSxCOLS" in capsys.readouterr().err
    assert main(["validate", str(model_file), "--times", "1q"]) == 2
    assert "1q" in capsys.readouterr().err
    assert main(["validate", str(model_file), "--array-shape", "8x8", "--max-arrays", "2",
                 "--out", str(tmp_path / "x.h5")]) == 2
    assert "only 2 allowed" in capsys.readouterr().err


def test_real_clock_refuses_year_long_waits(model_file):
    from hil.clock import RealClock
    from hil.nn.validate import validate_on_backends
    from sim_backends import SimBackend

    model, split, _ = load_model(str(model_file))
    backend = SimBackend((64, 64), device="rram_hfox_1t1r", array="1t1r", clock=RealClock())
    with pytest.raises(ParameterError, match="real time"):
        validate_on_backends(model, split.x_test, split.y_test, lambda i: backend, "x.h5",
                             [1.0, 3.15e7], array_shape=(64, 64))
