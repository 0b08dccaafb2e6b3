"""The fused map passes of `IsppEngine` (`pulse_maps`, `count_mask`, `decide_rows` with
``g_out``; `protocols.ispp_kernel`) and the row-parallel plan kernels make exactly the
decisions of the per-cell numpy path, for any number of numba threads."""
from __future__ import annotations

import numba
import numpy as np
import pytest

from hil.plan_kernel import all_finite, level_lines, masked_codes, masked_extremes
from protocols.ispp import IsppEngine, Ladder
from protocols.ispp_kernel import gather_verified, verify_counts

STATE = ("active", "converged", "stuck", "n_pulses", "level", "direction", "streak", "g_ref",
         "g_last", "pulsed")


def _engine(seed: int, shape: tuple[int, int]) -> IsppEngine:
    rng = np.random.default_rng(seed)
    target = rng.uniform(2e-6, 40e-6, shape)
    target[rng.random(shape) < 0.1] = np.nan
    return IsppEngine(target, 0.02 * np.nan_to_num(target), Ladder(7.0, 1.0, 12.5),
                      Ladder(3.0, 0.5, 8.0), max_pulses=15, stuck_after=4, settle=0.5, aim=0.1)


def _read(rng: np.random.Generator, eng: IsppEngine) -> np.ndarray:
    t = np.nan_to_num(eng.target.reshape(eng.shape), nan=20e-6)
    return t * (1 + rng.normal(0, 0.03, t.shape)) + rng.normal(0, 0.3e-6, t.shape)


def _scatter(eng: IsppEngine, per_row: bool) -> tuple[np.ndarray, np.ndarray, tuple]:
    """The per-cell path: `next_pulses`, scattered into maps as the programmer did."""
    up, v_up, down, v_down = eng.next_pulses(per_row)
    mask, amps = np.zeros(eng.shape, bool), np.zeros(eng.shape)
    mask.flat[up], mask.flat[down] = True, True
    amps.flat[up], amps.flat[down] = v_up, -v_down
    return mask, amps, (up, v_up, down, v_down)


@pytest.mark.parametrize("per_row", [True, False])
def test_pulse_maps_and_count_mask_equal_next_pulses(per_row):
    shape = (23, 17)
    a, b = _engine(3, shape), _engine(3, shape)
    rng = np.random.default_rng(5)
    mask, amps = np.ones(shape, bool), np.full(shape, 7.0)     # stale content: overwritten
    for rnd in range(30):
        G = _read(rng, a)
        check = rng.random(shape[0]) < 0.7
        a.decide_rows(None, G, check)
        b.decide_rows(None, G, check)
        p = a.pulse_maps(per_row, mask, amps)
        ref_mask, ref_amps, (up, v_up, down, v_down) = _scatter(b, per_row)
        np.testing.assert_array_equal(mask, ref_mask, err_msg=f"mask round {rnd}")
        np.testing.assert_array_equal(amps, ref_amps, err_msg=f"amps round {rnd}")
        assert int(p.n_up.sum()) == up.size and int(p.n_down.sum()) == down.size
        assert p.v_up_max_V == (v_up.max() if up.size else 0.0)
        assert p.v_down_max_V == (v_down.max() if down.size else 0.0)
        np.testing.assert_array_equal(np.flatnonzero(p.rows_on),
                                      np.unique(np.concatenate([up, down]) // shape[1]))
        a.count_mask(mask, p.rows_on)
        b.count_pulses(np.concatenate([up, down]))
        for k in STATE:
            np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=f"{k} round {rnd}")
    assert a.converged.any() and (a.level > 0).any() and a.stuck.any()


def test_decide_rows_collects_the_verified_reads_in_gather_order():
    shape = (19, 13)
    a, b = _engine(7, shape), _engine(7, shape)
    rng = np.random.default_rng(8)
    for rnd in range(20):
        rows = np.sort(rng.choice(shape[0], size=rng.integers(1, shape[0] + 1), replace=False))
        check = rng.random(rows.size) < 0.5
        G = _read(rng, a)[rows]
        ver = a.active.reshape(shape)[rows] | (a.converged.reshape(shape)[rows] & check[:, None])
        g_out = np.full(a.target.size, np.nan)
        ra = a.decide_rows(rows, G, check, None, g_out)          # counts computed inside
        rb = b.decide_rows(rows, G, check)
        n = int(ver.sum())
        np.testing.assert_array_equal(g_out[:n], G[ver])
        assert ra == rb or (np.isnan(ra) and np.isnan(rb))
        for k in STATE:
            np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=f"{k} round {rnd}")
        for e in (a, b):
            p = e.pulse_maps(True, np.zeros(shape, bool), np.zeros(shape))
            up, _, down, _ = e.next_pulses(True)
            e.count_pulses(np.concatenate([up, down]))
            assert int(p.n_up.sum()) == up.size


def test_verify_counts_and_gather():
    rng = np.random.default_rng(2)
    shape = (9, 6)
    active, converged = rng.random(shape) < 0.3, rng.random(shape) < 0.5
    converged &= ~active
    check = rng.random(shape[0]) < 0.5
    counts = np.empty(shape[0], np.int64)
    covered = verify_counts(active.ravel(), converged.ravel(), check, counts)
    ver = active | (converged & check[:, None])
    np.testing.assert_array_equal(counts, ver.sum(axis=1))
    assert covered == bool(ver.any(axis=0).all())
    rows = np.flatnonzero(counts)
    G = rng.random((rows.size, shape[1]))
    offsets = np.r_[0, np.cumsum(counts[rows])]
    out = np.empty(offsets[-1])
    gather_verified(rows, G, check[rows], active.ravel(), converged.ravel(), offsets, out)
    np.testing.assert_array_equal(out, G[ver[rows]])
    assert not verify_counts(np.zeros(4, bool), np.zeros(4, bool), np.zeros(2, bool), np.empty(2, np.int64))


def test_plan_kernels_match_numpy():
    rng = np.random.default_rng(4)
    amp = np.where(rng.random((37, 29)) < 0.5, rng.integers(7, 13, (37, 29)),
                   -rng.integers(3, 9, (37, 29))).astype(float) + 0.25 * rng.integers(0, 3, (37, 29))
    mask = rng.random(amp.shape) < 0.6
    codes, finite, row_max = masked_codes(amp, mask, 1e-3)
    ref = np.where(mask, np.rint(amp / 1e-3), 0).astype(np.int32)
    np.testing.assert_array_equal(codes, ref)
    assert finite and np.array_equal(row_max, np.abs(ref).max(axis=1))
    pos, neg, n, fin = masked_extremes(amp, mask)
    assert (pos, neg, n, fin) == (amp[mask].max(), -amp[mask].min(), int(mask.sum()), True)
    ups, on_up, downs, on_down = level_lines(codes, int(row_max.max()))
    np.testing.assert_array_equal(ups, np.unique(ref[ref > 0]))
    np.testing.assert_array_equal(downs, np.unique(-ref[ref < 0]))
    for lv, col in zip(ups, on_up.T):
        np.testing.assert_array_equal(col, (ref == lv).any(axis=1))
    for lv, col in zip(downs, on_down.T):
        np.testing.assert_array_equal(col, (ref == -lv).any(axis=1))
    assert all_finite(amp)
    bad = amp.copy()
    bad[3, 4] = np.nan
    assert not all_finite(bad) and masked_codes(bad, mask, 1e-3)[1] is False
    bad_mask = np.zeros_like(mask)
    bad_mask[3, 4] = True
    assert masked_extremes(bad, bad_mask)[3] is False
    assert masked_extremes(bad, ~bad_mask)[3] is True        # only the selected cells count


def test_results_do_not_depend_on_the_number_of_threads(monkeypatch):
    import hil.threads as threads

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one numba thread only")
    monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", 1)     # split even this small array
    shape = (63, 48)
    outs = []
    try:
        for n in (1, 2, numba.config.NUMBA_NUM_THREADS):
            threads.set_kernel_threads(n)
            eng, rng = _engine(11, shape), np.random.default_rng(12)
            mask, amps = np.zeros(shape, bool), np.zeros(shape)
            rel = []
            for _ in range(12):
                rel.append(eng.decide_rows(None, _read(rng, eng), np.ones(shape[0], bool)))
                p = eng.pulse_maps(True, mask, amps)
                eng.count_mask(mask, p.rows_on)
            codes = masked_codes(amps, mask, 1e-3)
            outs.append([getattr(eng, k).copy() for k in STATE] + [np.array(rel), mask.copy(),
                                                                    amps.copy(), codes[0], codes[2]])
    finally:
        threads.set_kernel_threads(None)
    for other in outs[1:]:
        for x, y in zip(outs[0], other):
            np.testing.assert_array_equal(x, y)


def test_fused_programmer_equals_the_per_cell_path(tmp_path, monkeypatch):
    """write_verify with the fused passes (a plain ISPP engine) and with the per-cell path
    (`IsppEngine.fused` forced False): the same results, history and events, both with
    per-cell events and with aggregate rows."""
    from hil.runner import run_protocol
    from hil.store import Run
    from sim_backends import SimBackend

    def run(name, **params):
        run_protocol("write_verify", SimBackend((12, 10), seed=3), tmp_path / name,
                     {"max_pulses": 40, **params}, overwrite=True, progress=False)
        r = Run.open(tmp_path / name)
        names = ("final_G_S", "n_pulses", "converged", "stuck", "history")
        return [np.asarray(r.read_result(k)) for k in names], r.read_events()

    for params in ({"event_cells_max": 4096}, {"event_cells_max": 0},
                   {"event_cells_max": 0, "row_amplitude": "cell"}):
        fused = run("fused.h5", **params)
        with monkeypatch.context() as m:
            m.setattr(IsppEngine, "fused", property(lambda self: False))
            plain = run("plain.h5", **params)
        for x, y in zip(fused[0], plain[0]):
            np.testing.assert_array_equal(x, y)
        for k in fused[1].dtype.names:
            np.testing.assert_array_equal(fused[1][k], plain[1][k], err_msg=k)


def test_fused_is_false_for_a_subclass_that_decides_otherwise():
    from protocols.adaptive import AdaptiveEngine

    eng = _engine(1, (3, 4))
    assert eng.fused
    ad = AdaptiveEngine(eng.target.reshape(3, 4), eng.tol.reshape(3, 4), eng.pot, eng.dep, 10)
    assert not ad.fused
    with pytest.raises(ValueError, match="C-contiguous bool and float64"):
        eng.pulse_maps(True, np.zeros((3, 4), bool), np.zeros((3, 4), np.float32))
