"""Bit-width search on the digits MLP: exhaustive front against an independent brute force,
RL and HAWQ regret against the exhaustive optimum, determinism, HDF5/plot output."""
from __future__ import annotations

import argparse

import h5py
import numpy as np
import pytest
import torch

from hil.cim.crossbar import crossbar_latency_s
from hil.cim.error_model import ErrorModel
from hil.cim.search.compare import regret
from hil.cim.search.objective import Budget
from hil.cim.search.pareto import pareto_front
from hil.cim.search.problem import build_problem, train_search_model, with_crossbar
from hil.cim.search.searchers import baselines, hawq, rl
from hil.cim.search.quantize import TensorBatches
from hil.cim.units import load_unit
from hil.nn.datasets import load_dataset
from hil.nn.train import train_epochs

torch.set_num_threads(1)

#: stated regret bounds (relative extra latency vs the exhaustive optimum at the budget)
RL_REGRET = 0.25   # DDPG, 80 episodes (20 random warm-up), ~8 % of the 729 configurations
HAWQ_REGRET = 0.10


@pytest.fixture(scope="module")
def trained():
    return train_search_model("digits-mlp5", seed=0, epochs=8)


@pytest.fixture(scope="module")
def unit():
    return with_crossbar(load_unit("rram_imc_22nm"), 32, 32)


@pytest.fixture(scope="module")
def problem(trained, unit):
    # 3 free layers x (3 weight x 3 input widths) = 729 configurations; compute latency
    # (weights resident) so both widths matter; measured-style relative programming error
    return build_problem(trained, unit, w_bits=(2, 4, 8), a_bits=(2, 4, 8),
                         error_model=ErrorModel.parametric(0.02), n_instances=3, seed=0,
                         eval_size=180, latency="compute")


@pytest.fixture(scope="module")
def exhaustive(problem):
    ob = problem.objective()
    return ob, baselines.exhaustive(ob, Budget(max_loss_pp=1.0))


def _manual_forward(model, x, config, ranges):
    """Independent PTQ forward of the MLP: per-channel weight and per-tensor input
    quantization written out, no hil quantizer classes."""
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    h = x.flatten(1)
    for k, (lin, (wb, ab)) in enumerate(zip(linears, config)):
        amax, signed = ranges[k]
        qmax = 2 ** (ab - 1) - 1 if signed else 2 ** ab - 1
        qmin = -qmax if signed else 0
        s = amax / qmax
        h = torch.clamp(torch.round(h / s), qmin, qmax) * s
        w = lin.weight.detach()
        wq = 2 ** (wb - 1) - 1
        ws = w.abs().amax(1, keepdim=True) / wq
        h = h @ (torch.clamp(torch.round(w / ws), -wq, wq) * ws).T + lin.bias.detach()
        if k < len(linears) - 1:
            h = torch.relu(h)
    return h


def test_exhaustive_front_is_correct_on_a_tiny_network(unit):
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 12), torch.nn.ReLU(),
                                torch.nn.Linear(12, 10))
    split = load_dataset("digits")
    train_epochs(model, TensorBatches(split.x_train, split.y_train, 64, 0), 3, lr=1e-2)
    model.eval()
    p = build_problem((model, split), unit, w_bits=(2, 8), a_bits=(2, 8), pin_ends=False,
                      error_model=None, eval_size=120)
    ob = p.objective()
    res = baselines.exhaustive(ob, Budget(max_loss_pp=2.0))
    evals = res.info["evaluations"]
    assert len(evals) == 16 and res.evaluated == 16
    # independent scores: manual quantized forward, crossbar formula per layer
    x, y = split.x_test[:120], split.y_test[:120]
    calib = split.x_train[:256].flatten(1)
    with torch.no_grad():
        h1 = torch.relu(model[1](calib))
    ranges = [(float(calib.abs().max()), False), (float(h1.abs().max()), False)]
    lat, acc = [], []
    for ev in evals:
        with torch.no_grad():
            a = int((_manual_forward(model, x, ev.config, ranges).argmax(1) == y).sum()) / len(y)
        assert ev.acc_mean == pytest.approx(a, abs=1e-12)
        hand = sum(crossbar_latency_s(s, unit, w, b) for s, (w, b) in zip(p.space.layers, ev.config))
        assert ev.latency_s == pytest.approx(hand, rel=1e-12)
        lat.append(hand)
        acc.append(a)
    front = {evals[i].config for i in pareto_front([e.latency_s for e in evals],
                                                   [e.acc_mean for e in evals])}
    brute = {evals[i].config for i in range(16)
             if not any(lat[j] <= lat[i] and acc[j] >= acc[i] and (lat[j] < lat[i] or acc[j] > acc[i])
                        for j in range(16))}
    assert front == brute
    # the pick: fastest configuration within 2 pp of INT8
    ref = acc[[e.config for e in evals].index(((8, 8), (8, 8)))]
    ok = [i for i in range(16) if 100 * (ref - acc[i]) <= 2.0 + 1e-9]
    assert res.pick.latency_s == pytest.approx(min(lat[i] for i in ok))


def test_rl_and_hawq_within_stated_regret_of_exhaustive(problem, exhaustive):
    ob, ex = exhaustive
    budget = Budget(max_loss_pp=1.0)
    assert ex.feasible and ex.evaluated == problem.space.size == 729
    int8 = ob.latency_int8_s
    assert int8 / ex.pick.latency_s > 1.5  # mixed precision pays on this cost model
    h = hawq.search(ob, budget, probe=problem.probe, seed=0)
    r = rl.search(ob, budget, seed=0, episodes=80, warmup=20, sigma_decay=0.97)
    for res, bound in ((h, HAWQ_REGRET), (r, RL_REGRET)):
        assert res.feasible, res.searcher
        assert 0.0 <= regret(res.pick, ex.pick, ob, budget) <= bound, res.searcher
        assert res.evaluated < 0.15 * problem.space.size
    # a latency budget: HAWQ solves one ILP; the pick fits and is near the exhaustive best
    lb = Budget(max_latency_ratio=0.6)
    ex_l = ob.best(ex.info["evaluations"], lb)
    h_l = hawq.search(ob, lb, probe=problem.probe, seed=0)
    assert h_l.feasible and h_l.evaluated == 1
    assert regret(h_l.pick, ex_l, ob, lb) <= 1.5  # pp of accuracy
    # RL with a latency budget: HAQ's bit lowering keeps every episode within it
    r_l = rl.search(ob, lb, seed=0, episodes=20, warmup=10)
    assert r_l.feasible and all(lat <= 0.6 * int8 * (1 + 1e-12) for _, lat, _ in r_l.trace)
    assert regret(r_l.pick, ex_l, ob, lb) <= 3.0


def test_qat_mode_is_seeded_and_learns(problem):
    from hil.cim.search.objective import Objective

    def qat():
        return Objective(problem.space, problem.net, problem.eval_data, problem.cost,
                         problem.error_model, 2, 0, "qat",
                         train=(problem.split.x_train, problem.split.y_train), qat_epochs=1)

    cfg = ((8, 8), (2, 2), (2, 2), (2, 2), (8, 8))
    a, b = qat().evaluate(cfg), qat().evaluate(cfg)
    np.testing.assert_array_equal(a.acc, b.acc)
    ptq = problem.objective().evaluate(cfg)
    assert a.acc_mean > ptq.acc_mean  # a fine-tune recovers part of the 2-bit PTQ loss


def test_search_is_deterministic_from_a_seed(problem, exhaustive):
    budget = Budget(max_loss_pp=1.0)
    # the perturbation cache is exact: a cold evaluation equals the warmed one
    warm, _ = exhaustive
    for cfg in (((8, 8), (2, 4), (4, 8), (8, 2), (8, 8)), problem.space.uniform(4)):
        np.testing.assert_array_equal(problem.objective().evaluate(cfg).acc,
                                      warm.evaluate(cfg).acc)
    a = rl.search(problem.objective(), budget, seed=3, episodes=25, warmup=10)
    b = rl.search(problem.objective(), budget, seed=3, episodes=25, warmup=10)
    assert a.pick.config == b.pick.config and a.trace == b.trace
    np.testing.assert_array_equal(a.pick.acc, b.pick.acc)
    c = rl.search(problem.objective(), budget, seed=4, episodes=12, warmup=10)
    assert c.trace != a.trace[:len(c.trace)] or c.pick.config != a.pick.config
    h1 = hawq.search(problem.objective(), budget, probe=problem.probe, seed=0)
    h2 = hawq.search(problem.objective(), budget, probe=problem.probe, seed=0)
    assert h1.pick.config == h2.pick.config and h1.evaluated == h2.evaluated


def test_cli_writes_result_and_plot(trained, tmp_path):
    from hil.cim.search.cli import register
    from hil.nn.validate_models import save_model

    ckpt = save_model(tmp_path / "mlp5.pt", trained[0], "mlp", {"sizes": [64, 96, 64, 48, 32, 10]})
    parser = argparse.ArgumentParser(prog="hil cim")
    register(parser.add_subparsers())
    out = tmp_path / "s.h5"
    args = parser.parse_args(["search", str(ckpt), "--searcher", "greedy,hawq,exhaustive",
                              "--w-bits", "2,8", "--a-bits", "4,8", "--crossbar", "32x32",
                              "--instances", "2", "--eval-size", "120", "--out", str(out),
                              "--no-progress", "--budget", "1.5"])
    assert args.func(args) == 0
    with h5py.File(out) as f:
        assert f.attrs["format"] == "hil-cim-search" and f.attrs["seed"] == 0
        assert set(f["searchers"]) == {"int8", "greedy", "hawq", "exhaustive"}
        assert f["evaluations/latency_s"].attrs["units"] == "s"
        n = f["evaluations/acc"].shape
        assert n[0] >= 64 and n[1] == 2  # all 4^3 configurations, 2 noise instances
        assert f["searchers/exhaustive"].attrs["regret"] == 0.0
        assert f["searchers/int8"].attrs["speedup"] == pytest.approx(1.0)
        assert len(f["pareto/index"]) >= 1
        assert "rram_imc_22nm" in f.attrs["unit"]
    assert (tmp_path / "s.png").stat().st_size > 10_000
