"""Bit-width search: latency against hand-computed RLMP cases, search space, Pareto front,
ILP, budgets and CLI registration (no training; fast)."""
from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass

import numpy as np
import pytest

from hil.cim.layers import LayerShape
from hil.cim.search.cost import CostModel
from hil.cim.search.objective import Budget
from hil.cim.search.pareto import pareto_front
from hil.cim.search.searchers.hawq import solve_ilp
from hil.cim.search.space import SearchSpace, config_label, parse_bits
from hil.cim.units import load_unit
from hil.errors import ParameterError


@dataclass(frozen=True)
class Unit:
    """A crossbar unit with round numbers (the CrossbarUnit attributes)."""

    rows: int = 128
    cols: int = 128
    cell_bits: int = 2
    dac_bits: int = 2
    differential: bool = False
    t_write_s: float = 1e-6
    t_exec_s: float = 1e-8
    name: str = "hand"


def test_latency_matches_hand_computed_rlmp_cases():
    # layer 300x200, 10 input vectors, w=5, a=3 on 128x128, 2 bit/cell, 2-bit DAC:
    # writes = ceil(300*ceil(5/2)/128) * ceil(200/128) = ceil(900/128)=8 * 2 = 16
    # executes = 10 * 16 * ceil(3/2) = 320;  latency = 16*1e-6 + 320*1e-8 = 19.2e-6 s
    fc = LayerShape("a", "conv", 300, 200, 10)
    small = LayerShape("b", "linear", 64, 10, 1)
    space = SearchSpace.build([small, fc, small], w_bits=(5,), a_bits=(3,))
    cost = CostModel(space, Unit())
    assert cost.layer_latency_s(1, (5, 3)) == pytest.approx(19.2e-6, rel=1e-12)
    # differential pairs double the tiles: writes 32, executes 640 -> 32e-6 + 6.4e-6
    cost_d = CostModel(space, Unit(differential=True))
    assert cost_d.layer_latency_s(1, (5, 3)) == pytest.approx(38.4e-6, rel=1e-12)
    # pinned 8/8 layers of 64x10: writes ceil(64*4/128)*1 = 2, executes 1*2*4 = 8
    # -> 2e-6 + 8e-8 each; the total is the sum over layers
    cfg = space.assemble([(5, 3)])
    assert cost.latency_s(cfg) == pytest.approx(19.2e-6 + 2 * (2e-6 + 8e-8), rel=1e-12)
    # compute-only latency (weights resident): executes * t_x
    cost_c = CostModel(space, Unit(), latency="compute")
    assert cost_c.layer_latency_s(1, (5, 3)) == pytest.approx(320 * 1e-8, rel=1e-12)


def test_latency_on_the_bundled_rram_card_by_hand():
    unit = load_unit("rram_imc_22nm")  # 256x512, 2 bit/cell, 1-bit DAC, differential
    t_w = 256 * unit.mean_pulses * (unit.pulse_width_s + unit.verify_read_s)
    conv = LayerShape("c", "conv", 3 * 9, 16, 32 * 32)
    space = SearchSpace.build([conv, conv, conv])
    cost = CostModel(space, unit)
    # w=8: ceil(27*4/256)=1 * ceil(16/512)=1 -> 1 tile, x2 differential = 2 writes;
    # a=8 with 1-bit inputs: executes = 1024 * 2 * 8 = 16384
    assert cost.layer_latency_s(0, (8, 8)) == pytest.approx(2 * t_w + 16384 * unit.t_exec_s)


def test_search_space_structure_and_errors():
    ly = [LayerShape(f"l{i}", "linear", 32, 32, 1) for i in range(5)]
    sp = SearchSpace.build(ly, w_bits=(2, 4, 6, 8), a_bits=(2, 4, 6, 8))
    assert sp.free == (1, 2, 3) and sp.pinned == (0, 4)
    assert sp.size == 16 ** 3 == 4096 == len(list(sp.configs()))
    assert sp.uniform(4) == ((8, 8), (4, 4), (4, 4), (4, 4), (8, 8))
    assert config_label(sp.uniform(4)) == "8/8 4/4 4/4 4/4 8/8"
    assert len(set(sp.configs())) == sp.size
    with pytest.raises(ParameterError, match="pinned"):
        sp.validate(((4, 4),) * 5)
    with pytest.raises(ParameterError, match="nothing to search"):
        SearchSpace.build(ly[:2])
    assert SearchSpace.build(ly[:2], pin_ends=False).size == 16 ** 2
    assert parse_bits("2-4,8") == (2, 3, 4, 8)
    with pytest.raises(ParameterError, match="2..16"):
        parse_bits("1,4")
    with pytest.raises(ParameterError, match="comma-separated"):
        parse_bits("four")


def test_pareto_front_against_brute_force():
    lat = [1.0, 2.0, 2.0, 3.0, 0.5, 4.0, 3.0]
    acc = [0.5, 0.7, 0.6, 0.7, 0.4, 0.9, 0.8]
    assert pareto_front(lat, acc).tolist() == [4, 0, 1, 6, 5]
    rng = np.random.default_rng(3)
    for _ in range(20):
        lat = rng.integers(0, 6, 40).astype(float)
        acc = rng.integers(0, 6, 40).astype(float)
        front = set(pareto_front(lat, acc).tolist())
        dominated = {i for i in range(40) for j in range(40)
                     if lat[j] <= lat[i] and acc[j] >= acc[i] and (lat[j] < lat[i] or acc[j] > acc[i])}
        # every non-dominated point is on the front, up to exact duplicates (one kept)
        undominated = set(range(40)) - dominated
        assert front <= undominated
        assert {(lat[i], acc[i]) for i in front} == {(lat[i], acc[i]) for i in undominated}


def test_ilp_matches_brute_force():
    rng = np.random.default_rng(0)
    omega = rng.uniform(0, 1, (3, 4))
    lat = rng.uniform(1, 5, (3, 4))
    for limit in (4.0, 6.0, 9.0, 20.0):
        best, arg = np.inf, None
        for combo in itertools.product(range(4), repeat=3):
            if sum(lat[i, c] for i, c in enumerate(combo)) <= limit:
                v = sum(omega[i, c] for i, c in enumerate(combo))
                if v < best:
                    best, arg = v, combo
        got = solve_ilp(omega, lat, limit)
        if arg is None:
            assert got is None
        else:
            assert tuple(got) == arg
    assert solve_ilp(omega, lat, 0.1) is None


def test_budget_validation():
    assert Budget(max_loss_pp=1.0).kind == "accuracy"
    assert Budget(max_latency_ratio=0.5).kind == "latency"
    with pytest.raises(ParameterError, match="exactly one"):
        Budget()
    with pytest.raises(ParameterError, match="exactly one"):
        Budget(1.0, 0.5)
    with pytest.raises(ParameterError, match=">= 0"):
        Budget(max_loss_pp=-1)


def test_cli_registers_search_and_rejects_bad_values(tmp_path):
    from hil.cim.search.cli import register

    parser = argparse.ArgumentParser(prog="hil cim")
    register(parser.add_subparsers())
    args = parser.parse_args(["search", "digits-mlp5", "--searcher", "rl,hawq", "--budget", "0.5"])
    assert args.func.__module__ == "hil.cim.search.cli" and args.budget == 0.5
    bad = parser.parse_args(["search", "digits-mlp5", "--searcher", "annealing"])
    with pytest.raises(ParameterError, match="annealing.*allowed"):
        bad.func(bad)
    both = parser.parse_args(["search", "digits-mlp5", "--budget", "1", "--latency-budget", "0.5"])
    with pytest.raises(ParameterError, match="not both"):
        both.func(both)
    nodata = parser.parse_args(["search", "resnet20", "--out", str(tmp_path / "r.h5")])
    with pytest.raises(ParameterError, match="data"):
        nodata.func(nodata)


def test_hil_cim_search_cost_only_through_the_cli(capsys):
    from hil.cli import main

    assert main(["cim", "search", "resnet20", "--cost-only", "--latency", "compute"]) == 0
    out = capsys.readouterr().out
    assert "uniform INT8" in out and "does not have" in out
    assert main(["cim", "search", "digits-mlp5", "--w-bits", "1,4"]) == 2
    assert "2..16" in capsys.readouterr().err
