"""`IsppEngine.decide_rows` (fused pass, `protocols.ispp_kernel`) makes exactly the
decisions of the per-cell numpy path `IsppEngine.decide` on the same reads."""
from __future__ import annotations

import numpy as np

from protocols.ispp import IsppEngine, Ladder

STATE = ("active", "converged", "stuck", "n_pulses", "level", "direction", "streak", "g_ref",
         "g_last", "pulsed")


def _engine(rng, shape, stuck_after):
    target = rng.uniform(2e-6, 40e-6, shape)
    target[rng.random(shape) < 0.1] = np.nan
    return IsppEngine(target, 0.02 * np.nan_to_num(target), Ladder(7.0, 1.0, 12.0),
                      Ladder(3.0, 1.0, 8.0), max_pulses=12, stuck_after=stuck_after,
                      settle=0.5, aim=0.1)


def test_decide_rows_equals_decide_cell_for_cell():
    rng = np.random.default_rng(0)
    shape = (30, 24)
    for stuck_after in (0, 3):
        a, b = _engine(np.random.default_rng(1), shape, stuck_after), \
            _engine(np.random.default_rng(1), shape, stuck_after)
        for rnd in range(25):
            # some rows only, converged cells of some rows re-checked
            rows = np.sort(rng.choice(shape[0], size=rng.integers(1, shape[0] + 1), replace=False))
            if rnd % 5 == 0:
                rows = np.arange(shape[0])
            check = rng.random(rows.size) < 0.5
            t = np.nan_to_num(a.target.reshape(shape)[rows], nan=20e-6)
            G = t * (1 + rng.normal(0, 0.02, t.shape)) + rng.normal(0, 0.3e-6, t.shape)
            ra = a.decide_rows(None if rows.size == shape[0] else rows, G, check)
            # the per-cell path on the same cells
            blk_act = b.active.reshape(shape)[rows]
            blk_conv = b.converged.reshape(shape)[rows] & check[:, None]
            pos = np.flatnonzero(blk_act | blk_conv)
            idx = rows[pos // shape[1]] * shape[1] + pos % shape[1]
            b.decide(idx, G.reshape(-1)[pos])
            tv = b.target[idx]
            rb = np.mean(np.abs(b.g_last[idx] - tv) / np.maximum(tv, 1e-30)) if idx.size else np.nan
            for k in STATE:
                np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=f"{k} round {rnd}")
            assert a.n_reopened == b.n_reopened
            np.testing.assert_allclose(ra, rb, rtol=1e-12)
            # pulse the cells due, as the programmer does
            for e in (a, b):
                up, _, down, _ = e.next_pulses(per_row=bool(rnd % 2))
                e.count_pulses(np.concatenate([up, down]))
        assert a.converged.any() and (a.level > 0).any()
