"""Metaplastic continual learning on split/permuted digits, programming-noise sweep, and the
`hil bnn` command on small generated MNIST-family idx files."""
import gzip
import struct

import numpy as np
import pytest
import torch

from hil.cli import main
from hil.errors import ParameterError
from hil.nn.continual import noise_sweep, permuted_tasks, run_continual, split_tasks, standardize
from hil.nn.datasets import load_digits_split

torch.set_num_threads(1)
CFG = dict(hidden=(128,), epochs=6, lr=0.01, seed=0)


@pytest.fixture(scope="module")
def tasks():
    s = load_digits_split()
    return permuted_tasks(s.x_train, s.y_train, s.x_test, s.y_test, 3)


def test_forgetting_without_and_retention_with_metaplasticity(tasks):
    plain = run_continual(tasks, m=0.0, **CFG)
    meta = run_continual(tasks, m=12.0, **CFG)
    for res in (plain, meta):
        assert np.all(np.diag(res.acc) > 0.85)            # every task is learned
    # catastrophic forgetting: task 0 falls to near chance once two more tasks are learned
    assert plain.acc[-1, 0] < plain.acc[0, 0] - 0.5
    earlier_plain, earlier_meta = plain.final[:-1].mean(), meta.final[:-1].mean()
    assert earlier_meta > earlier_plain + 0.15, (plain.acc, meta.acc)
    assert meta.mean_final > plain.mean_final + 0.08


def test_noise_sweep_holds_up_to_20_percent(tasks):
    res = noise_sweep(tasks, [0.0, 0.2], m=12.0, mode="relative", **CFG)
    assert res[0.2].mean_final > res[0.0].mean_final - 0.05
    assert np.all(np.diag(res[0.2].acc) > 0.85)
    hard = noise_sweep(tasks, [0.3], m=12.0, mode="full_scale", **CFG)[0.3]
    assert hard.mean_final < res[0.0].mean_final            # noise is really applied


def test_split_tasks_and_standardize():
    s = load_digits_split()
    ts = split_tasks(s.x_train, s.y_train, s.x_test, s.y_test, groups=((0, 1), (2, 3)))
    assert [t.name for t in ts] == ["split01", "split23"]
    assert set(ts[1].y_train.tolist()) == {0, 1}
    xtr, xte = standardize(np.array([[0.0, 1.0], [0.0, 3.0]]), np.array([[5.0, 2.0]]))
    assert np.all(np.isfinite(xte)) and xte[0, 0] == 5.0     # constant feature only centred
    with pytest.raises(ParameterError, match="group"):
        split_tasks(s.x_train, s.y_train, s.x_test, s.y_test, groups=((0,),))
    with pytest.raises(ParameterError, match="epochs"):
        run_continual(ts, epochs=0)


def _write_idx(path, arr):
    code = {np.uint8: 0x08}[arr.dtype.type]
    head = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(head + arr.tobytes())


def _make_idx_dir(root, seed, n=120):
    rng = np.random.default_rng(seed)
    root.mkdir()
    for split, count in (("train", n), ("t10k", n // 2)):
        y = rng.integers(0, 3, count).astype(np.uint8)
        x = (rng.random((count, 6, 6)) * 60).astype(np.uint8)
        for k in range(3):                      # class k lights up a different block
            x[y == k, 2 * k:2 * k + 2, :] = 250
        _write_idx(root / f"{split}-images-idx3-ubyte.gz", x)
        _write_idx(root / f"{split}-labels-idx1-ubyte.gz", y)


def test_cli_continual_on_generated_idx_files(tmp_path, capsys):
    _make_idx_dir(tmp_path / "setA", 0)
    _make_idx_dir(tmp_path / "setB", 1)
    js = tmp_path / "cl.json"
    rc = main(["bnn", "continual", "--data", f"{tmp_path / 'setA'},{tmp_path / 'setB'}",
               "--hidden", "16", "--epochs", "2", "--threads", "1", "--json", str(js),
               "--plot", str(tmp_path / "cl.png")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "m = 0" in out and "m = 12" in out and "| setA |" in out
    import json
    d = json.loads(js.read_text())
    assert np.array(d["m = 12"]["acc"]).shape == (2, 2)
    assert (tmp_path / "cl.png").stat().st_size > 1000


def test_cli_bad_input(tmp_path, capsys):
    assert main(["bnn", "noise-sweep", "--levels", "0,1.5"]) == 2
    assert "each level must be in 0..1" in capsys.readouterr().err
    assert main(["bnn", "continual", "--data", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


def test_plots_write_pngs(tmp_path):
    from hil.nn.bnn_plot import plot_continual, plot_noise_sweep
    from hil.nn.continual import ContinualResult

    acc = np.array([[0.9, 0.1], [0.5, 0.95]])
    res = {lv: ContinualResult(["a", "b"], acc * (1 - lv), 12.0) for lv in (0.0, 0.1, 0.3)}
    assert plot_noise_sweep(res, tmp_path / "ns.png").stat().st_size > 5000
    assert plot_continual({"m = 0": res[0.0], "m = 12": res[0.1]},
                          tmp_path / "cl.png").stat().st_size > 5000


def test_cli_noise_sweep_small(tmp_path, capsys):
    rc = main(["bnn", "noise-sweep", "--levels", "0,0.3", "--hidden", "16", "--epochs", "1",
               "--n-tasks", "2", "--threads", "1", "--mode", "full_scale",
               "--json", str(tmp_path / "ns.json"), "--plot", str(tmp_path / "ns.png")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "| 30 % |" in out and "| 0 % |" in out
    assert (tmp_path / "ns.png").stat().st_size > 5000
