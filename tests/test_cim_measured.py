"""CIM analyses on this framework's own run files: error model, sensitivity, partition, MTT energy.

The run files are produced here by `hil run write_verify` / `hil run retention` + `hil fit` on
small simulated arrays (in-process CLI, seconds).
"""
import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from hil.cli import main as hil
from hil.cim.error_model import ErrorModel
from hil.cim.layers import layer_shapes
from hil.cim.mtt_energy import FOUR_MB, advantage, digital_per_weight_J, load_energy_card, mtt_run_energy
from hil.cim.partition import (SOLVERS, build_problem, measure, partition, restrict, solve_exact,
                               solve_exhaustive, solve_greedy)
from hil.cim.sensitivity import layer_sensitivity, rank_correlation
from hil.cim.units import default_units
from hil.errors import RunFileError
from hil.store import Run

RRAM_STATION = """[backend]
type = "sim"
array = "1t1r"
device = "rram_hfox_1t1r"
rows = 8
cols = 8
seed = 0
"""


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # many tiny forward passes: thread start-up dominates on a shared 2-core machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("cim_runs")
    st = d / "rram.toml"
    st.write_text(RRAM_STATION)
    out = {"ecram": d / "ecram_wv.h5", "rram": d / "rram_loose.h5", "ret": d / "rram_ret.h5"}
    assert hil(["run", "write_verify", "-o", str(out["ecram"]), "--no-progress"]) == 0
    # RRAM with a loose write-verify (10 % of the range): larger measured errors, so the
    # network tests see drops well above one test sample
    assert hil(["run", "write_verify", "--station", str(st), "-o", str(out["rram"]),
                "--set", "tol=0.1", "--no-progress"]) == 0
    assert hil(["run", "retention", "--station", str(st), "-o", str(out["ret"]),
                "--set", "n_snapshots=6", "--no-progress"]) == 0
    assert hil(["fit", str(out["ret"]), "--plot", "none"]) == 0
    return out


@pytest.fixture(scope="module")
def net(digits_mlp_trained):
    m, s = digits_mlp_trained
    return copy.deepcopy(m), (s.x_test, s.y_test)


def test_error_model_pool_is_the_runs_measured_error(runs):
    run = Run.open(runs["ecram"])
    tgt, fin = run.read_result("target_G_S"), run.read_result("final_G_S")
    em = ErrorModel.from_write_verify(runs["ecram"])
    assert em.prog_mode == "relative"                        # ECRAM: tolerance on the target
    assert em.prog_errors.numel() == np.isfinite(tgt).sum()
    assert em.prog_sigma == pytest.approx(float(np.nanstd((fin - tgt) / tgt, ddof=1)), rel=1e-5)
    rr = ErrorModel.from_write_verify(runs["rram"])
    assert rr.prog_mode == "range"                           # RRAM: tolerance on the range
    w = torch.randn(16, 12)
    a = em.perturb_weight(w, torch.Generator().manual_seed(3))
    b = em.perturb_weight(w, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == w.shape and not torch.equal(a, w)
    # the weight error follows the measured conductance error: |Δw| ≲ a few σ of w_max
    rel = (a - w).abs().max() / w.abs().max()
    assert 0 < rel < 10 * em.prog_sigma + 1e-3
    with pytest.raises(RunFileError, match="needs a write_verify run"):
        ErrorModel.from_write_verify(runs["ret"])


def test_drift_from_the_fit_shifts_weights_with_time(runs):
    em = ErrorModel.from_write_verify(runs["rram"])
    w = torch.rand(64, 32) * 2 - 1
    errs = []
    for t in (1.0, 3.15e7):
        d = em.with_drift(runs["ret"], t)
        errs.append(float((d.perturb_weight(w, torch.Generator().manual_seed(0)) - w).std()))
    assert errs[1] > errs[0] > 0


def test_sensitivity_ranking_is_stable_across_seeds(runs, net):
    model, data = net
    em = ErrorModel.from_write_verify(runs["rram"])
    a = layer_sensitivity(model, data, em, n=30, root_seed=0, groups=4, progress=False)
    b = layer_sensitivity(model, data, em, n=30, root_seed=1, groups=4, progress=False)
    rho = rank_correlation(a, b)
    print(f"sensitivity rank correlation (Spearman, 8 kernel groups, n=30): {rho:.3f}")
    assert rho > 0.5
    assert all(s.n == 30 and s.std_drop >= 0 for s in a)


def test_partition_respects_budget_on_measured_accuracy(runs, net):
    model, data = net
    em = ErrorModel.from_write_verify(runs["rram"])
    p = build_problem(model, data, layer_shapes(model, (1, 8, 8)), default_units(), em,
                      groups=2, n=20, progress=False)
    budget = 0.0045
    # exact ILP == exhaustive enumeration; greedy never beats it; gap reported
    ex, en, gr = solve_exact(p, budget), solve_exhaustive(p, budget), solve_greedy(p, budget)
    ce, cn, cg = (p.totals(c)["cost"] for c in (ex, en, gr))
    assert ce == pytest.approx(cn, rel=1e-9)
    assert cg >= ce * (1 - 1e-9)
    print(f"greedy vs exact energy gap: {100 * (cg / ce - 1):.2f} %")
    r = partition(model, data, p, budget, em, n=20)
    assert r.measured_mean <= budget                          # measured, not predicted
    assert len(r.measured_drop) == 20
    again = measure(model, data, p, r.choice, em, n=20)       # the same instances
    assert np.array_equal(again, r.measured_drop)
    # the heterogeneous partition is no more expensive than all-SRAM / all-digital
    for kind in ("sram-cim", "digital"):
        q = restrict(p, kind)
        base = partition(model, data, q, budget, em, n=20)
        assert base.measured_mean <= budget
        assert r.totals["energy_J"] <= base.totals["energy_J"] * (1 + 1e-9)
    assert set(SOLVERS) == {"exact", "greedy", "exhaustive"}


def test_mtt_energy_ratio_from_a_real_run_file(runs):
    card = load_energy_card()
    e = mtt_run_energy(runs["ecram"], card)
    run = Run.open(runs["ecram"])
    assert e.mean_pulses == pytest.approx(run.dataset_attrs("results/convergence_rate")["mean_pulses"])
    # ECRAM pulse energy = I_gate · Σ|V|·width over the logged pulses, per cell
    ev = run.read_events()
    pulses = ev[ev["op"] == 1]
    by_hand = card["mtt"]["ecram_gate_current_A"] * float(
        np.sum(np.abs(pulses["V_V"].astype(float)) * pulses["width_s"])) / e.n_cells
    assert e.pulse_J == pytest.approx(by_hand, rel=1e-6)
    ratios = [advantage(e, n, card) for n in (2 ** 10, 2 ** 16, 2 ** 20, FOUR_MB)]
    assert all(b > a for a, b in zip(ratios, ratios[1:]))     # Fig. 7k: grows with N
    assert ratios[-1] > 1
    rr = mtt_run_energy(runs["rram"], card)
    r_rram = advantage(rr, FOUR_MB, card)
    print(f"4 Mb advantage: ECRAM {ratios[-1]:.2f}x (paper 25.51x), RRAM {r_rram:.2f}x "
          f"(paper 4.84x); digital {digital_per_weight_J(card)['total'] * 1e9:.2f} nJ/weight")
    assert math.isfinite(r_rram) and r_rram > 1
