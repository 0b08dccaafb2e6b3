"""Protocol lifecycle with card presets: parameters held once, validate() only validates, setup()
builds the state, Retention composes the programming phase (issue 12, item 7)."""
from __future__ import annotations

import numpy as np

from protocols.iv_sweep import IvSweep
from protocols.mtt_readout import MttReadout
from protocols.programming import ArrayProgrammer
from protocols.retention import Retention
from protocols.write_verify import WriteVerify
from sim_backends import SimBackend


def test_parameters_are_held_once():
    wv = WriteVerify(SimBackend((2, 2)))
    assert wv.values is vars(wv.p)                     # one storage, no copy to re-synchronise
    wv.p.tol = 0.05
    assert wv.values["tol"] == 0.05
    assert wv.p.v_p_start_V == 7.0 and wv.values["width_s"] == 2e-3     # presets from the card


def test_validate_only_validates_and_setup_builds():
    wv = WriteVerify(SimBackend((2, 2)))
    prog, target = wv.prog, wv.target
    wv.validate()
    assert wv.prog is prog and wv.target is target     # validate built nothing new
    iv = IvSweep(SimBackend((2, 2)))
    before = dict(iv.values)
    iv.validate()
    assert iv.values == before and iv.p.mode == "transfer" and iv.p.v_max_V == 8.0
    m = MttReadout(SimBackend((2, 4)))
    m.validate()
    assert m.G_plus.shape == (22, 4) and m.p.v_read_H_V == [1.4]     # 2 x 2 units, 11 points x 2


def test_retention_composes_the_programming_phase():
    params = {"cells": "0:1,0:3", "target": "random", "seed": 3, "n_snapshots": 3}
    r = Retention(SimBackend((2, 4), seed=1), **params)
    wv = WriteVerify(SimBackend((2, 4), seed=1), **{k: v for k, v in params.items() if k != "n_snapshots"})
    np.testing.assert_array_equal(r.target, wv.target)
    np.testing.assert_array_equal(r.state, wv.state)
    assert isinstance(r.prog, ArrayProgrammer) and r.prog.backend is r.backend
    # its own parameters carry the card presets (the old copy of WriteVerify's left them None)
    assert r.p.v_p_start_V == 7.0 and r.p.width_s == 2e-3 and r.values is vars(r.p)
