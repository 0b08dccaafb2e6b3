"""End to end on scikit-learn digits through the CLI, CI-sized (the documented demo uses the
paper's defaults: 100 instances, x1.5 steps, 3 epochs per level; see docs/vera-plus.md)."""
from __future__ import annotations

import json

import pytest
import torch

from hil.cli import main as hil_main
from hil.nn.vera import load_checkpoint

torch.set_num_threads(2)


@pytest.mark.slow
def test_digits_train_eval_plot(tmp_path, capsys):
    ck = tmp_path / "digits.pt"
    assert hil_main(["vera", "train", "--out", str(ck), "--width", "8", "--float-epochs", "5",
                     "--qat-epochs", "1", "--epochs", "1", "--instances", "4",
                     "--factor", "1e5", "--tolerance", "3", "--mapping-scale", "tensor",
                     "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Algorithm 1 needed" in out and "drift-free accuracy" in out
    model, meta = load_checkpoint(ck)
    assert model.n_sets >= 1 and len(model.schedule_t_s) == model.n_sets
    assert meta["meta"]["drift"]["kind"] == "reference"
    js, png = tmp_path / "acc.json", tmp_path / "acc.png"
    assert hil_main(["vera", "eval", str(ck), "--times", "1s,10y", "--instances", "4",
                     "--json", str(js), "--plot", str(png), "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "| 10y |" in table
    res = json.loads(js.read_text())
    free = res["drift_free"]
    plain10, comp10 = res["uncompensated"][-1], res["compensated"][-1]
    assert free > 85.0
    assert plain10["mean"] < free - 20.0  # uncompensated 10-year accuracy falls clearly below
    assert comp10["mean"] > plain10["mean"] + 10.0 and comp10["set"] == model.n_sets - 1
    assert png.stat().st_size > 10_000


def test_vera_cli_errors(tmp_path, capsys):
    assert hil_main(["vera", "eval", str(tmp_path / "none.pt")]) == 2
    assert "cannot read VeRA+ checkpoint" in capsys.readouterr().err
    assert hil_main(["vera", "train", "--horizon", "ten years", "--out", str(tmp_path / "x")]) == 2
    assert "time 'ten years' not understood" in capsys.readouterr().err
    assert hil_main(["vera", "train", "--instances", "0", "--out", str(tmp_path / "x")]) == 2
    assert "--instances 0 must be >= 1" in capsys.readouterr().err
    assert hil_main(["vera", "train", "--drift", str(tmp_path / "run.h5"),
                     "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
