"""`hil cim cost|sensitivity|partition` end to end (in-process CLI, small inputs)."""
import pytest
import torch
from torch import nn

from hil.cim.report import read_inputs
from hil.cli import main as hil
from hil.nn.datasets import load_digits_split
from hil.nn.validate_models import mlp, save_model
from hil.store import Run


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("cim_cli")
    wv = d / "wv.h5"
    assert hil(["run", "write_verify", "-o", str(wv), "--no-progress"]) == 0
    torch.manual_seed(0)
    s = load_digits_split()
    m = mlp([64, 16, 10])
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(120):
        opt.zero_grad()
        nn.functional.cross_entropy(m(s.x_train), s.y_train).backward()
        opt.step()
    ckpt = save_model(d / "mlp.pt", m.eval(), "mlp", {"sizes": [64, 16, 10]})
    return d, wv, ckpt


def test_cost_writes_results_with_provenance_and_a_plot(inputs, capsys):
    d = inputs[0]
    out = d / "cost.h5"
    assert hil(["cim", "cost", "resnet20", "-o", str(out), "--no-progress"]) == 0
    assert "rram_imc_22nm" in capsys.readouterr().out
    run = Run.open(out)
    a = run.attrs
    assert a["protocol"] == "cim_cost" and a["status"] == "complete"
    assert a["params"]["model"] == "resnet20"
    e = run.read_result("rram_imc_22nm/energy_J")
    assert len(e) == 20 and run.dataset_attrs("results/rram_imc_22nm/energy_J")["units"] == "J"
    # int4 on the RRAM unit: 40.55 M MACs × 2 ops / 209 TOPS/W
    assert run.read_result("rram_imc_22nm/total_energy_J") == pytest.approx(40_551_040 * 2 / 209e12)
    assert out.with_suffix(".png").stat().st_size > 1000


def test_sensitivity_and_partition_from_a_run_file(inputs, capsys):
    d, wv, ckpt = inputs
    s_out, p_out = d / "sens.h5", d / "part.h5"
    assert hil(["cim", "sensitivity", str(ckpt), "--from-run", str(wv), "--n", "4",
                "--groups", "2", "-o", str(s_out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "Spearman rank correlation" in text
    r = Run.open(s_out)
    assert len(r.read_result("drop_mean")) == 4
    assert read_inputs(s_out)[0]["protocol"] == "write_verify"
    assert hil(["cim", "partition", str(ckpt), "--budget", "1%", "--from-run", str(wv),
                "--n", "4", "-o", str(p_out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "energy saved" in text and "greedy vs exact" in text
    r = Run.open(p_out)
    assert r.read_result("measured_drop").mean() <= 0.01
    # the budget is checked on the upper confidence bound, stored beside the mean
    assert r.read_result("measured_drop_ucb") <= 0.01
    assert r.read_result("measured_drop_mean") <= r.read_result("measured_drop_ucb")
    assert "upper bound z=1.6449" in text
    assert p_out.with_suffix(".png").is_file()


def test_energy_command_reads_the_run_file(inputs, capsys):
    d, wv, _ = inputs
    out = d / "energy.h5"
    assert hil(["cim", "energy", str(wv), "-o", str(out)]) == 0
    assert "at 4 Mb (paper 25.51x)" in capsys.readouterr().out
    r = Run.open(out)
    trend = r.read_result("wv/advantage_trend")
    assert (trend[1:] > trend[:-1]).all()
    assert read_inputs(out)[0]["protocol"] == "write_verify"


def test_bad_budget_is_one_clear_error(inputs, capsys):
    d, wv, ckpt = inputs
    assert hil(["cim", "partition", str(ckpt), "--budget", "abc", "--from-run", str(wv)]) == 2
    assert "--budget 'abc'" in capsys.readouterr().err
