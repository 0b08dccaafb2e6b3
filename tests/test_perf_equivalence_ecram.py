"""The fused ECRAM kernels (`ecram_kernels`, `fastmath`, `normals`) against the numpy formulas they
replace: per pulse and per read to float32 rounding, and the outcome statistics of a whole
write-verify run (bit-identity is given up: polynomial exp/log, an inverse-CDF normal)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from sim_backends import SimBackend
from sim_backends.arrays.h1e1t import H1E1TArray
from sim_backends.devices import ecram
from sim_backends.devices.normals import normals_from_bits, standard_normal
from sim_backends.devices.faults import apply_read_faults
from sim_backends.devices.h1e1t_cell import gate_voltage, selector_conductance


class NumpyH1E1T(H1E1TArray):
    """The pre-kernel numpy implementation of the row phase and the read (reference)."""

    def read(self, rows=None, cols=None, v_read_V=None):
        ix = self.ix(rows, cols)
        dev = self.dev.take(ix)
        g = ecram.read_noise(ecram.conductance(self._x_now(ix), dev), self.params, self.rng)
        if not self.faults.any:
            return g
        g_on = dev.g_on_S.astype(np.float64)
        return apply_read_faults(g, self.faults, ix, g_on, g_on * dev.floor)

    def _row_phase(self, rows, target, level_V, potentiate, width_s, t_s=None):
        if isinstance(target, tuple):       # (plan code map, signed code per row)
            target = target[0][rows] == np.asarray(target[1])[:, None]
        index = (slice(None), slice(None)) if rows.size == self.shape[0] else (rows, slice(None))
        t_col = None if t_s is None else np.asarray(t_s, np.float64).reshape(-1, 1)
        x_now, fac = self._x_and_factor(index, t_col)
        g_e = ecram.conductance(x_now, self.dev.take(index))
        f32 = np.float32
        lv = np.asarray(level_V, f32)
        lv = lv.reshape(-1, 1) if lv.ndim else lv
        if potentiate:
            eg, ed, tg_t, tg_o = lv, f32(self.v_d_V), f32(0.0), f32(self.v_ss_V)
        else:
            eg, ed, tg_t, tg_o = f32(0.0), lv, f32(self.v_ss_V), f32(0.0)
        g_t = selector_conductance(tg_t, ed, f32(0.0), self.sel)
        g_o = selector_conductance(tg_o, ed, f32(0.0), self.sel)
        g_sel = np.where(target, g_t, g_o) * self.ref_beta_rel[index]
        v = gate_voltage(eg, ed, f32(0.0), np.where(target, tg_t, tg_o), g_sel, g_e, self.sel.v_t_V)
        self._update(index, x_now, v, width_s, fac=fac, t_s=t_col)


def _pair(shape=(24, 40), seed=4, sigma=None, faults=None):
    a = SimBackend(shape=shape, seed=seed, faults=faults)
    b = SimBackend(shape=shape, seed=seed, faults=faults)
    b.array = NumpyH1E1T(shape, a.array.card, seed=seed, clock=b.clock, faults=faults)
    for s in (a, b):
        if sigma is not None:
            s.array.params = dataclasses.replace(s.array.params, c2c_sigma=sigma)
    return a, b


def test_row_phase_matches_numpy_formulas_without_noise():
    a, b = _pair(sigma=0.0, faults={"dead_cols": [5]})
    rng = np.random.default_rng(0)
    for k in range(12):
        mask = rng.random(a.shape) < 0.4
        amp = np.where(rng.random(a.shape) < 0.5, rng.choice([7.0, 9.0, 12.0], a.shape),
                       -rng.choice([3.0, 5.0, 8.0], a.shape))
        a.pulse_cells(mask, amp, 2e-3)
        b.pulse_cells(mask, amp, 2e-3)
        if k % 4 == 3:
            a.wait(50.0)
            b.wait(50.0)
    # float32 rounding: 1 - (1 - x) e^-d cancels for small x and doses (~1e-7 in x per
    # half-select pulse, both implementations alike), and depression multiplies what is
    # left: a few 1e-6 in x (~1e-10 S) after 12 mixed pulses
    np.testing.assert_allclose(a.array.x, b.array.x, rtol=2e-5, atol=5e-6)
    np.testing.assert_array_equal(a.array.t_prog_s, b.array.t_prog_s)   # same programming events
    assert a.array._t_prog_uniform == b.array._t_prog_uniform
    assert np.all(a.array.x[:, 5] == b.array.x[:, 5])                       # dead line: untouched


def test_row_phase_noise_enters_as_the_lognormal_factor(monkeypatch):
    """With the same normal draws z, the kernel's cycle-to-cycle factor is
    exp(sigma z - sigma^2 / 2), as `ecram.apply_dose`."""
    a, b = _pair(shape=(16, 32), sigma=0.1)
    z = np.random.default_rng(9).standard_normal(a.shape, dtype=np.float32)
    a.array.kernel_noise = False     # the kernel takes z from the (substituted) buffer
    monkeypatch.setattr(a.array.scratch, "normal", lambda rng, shape: z[:shape[0]].copy())
    monkeypatch.setattr(ecram, "_lognormal", lambda rng, shape, sigma: np.exp(
        np.float32(sigma) * z[:shape[0]] - np.float32(0.5 * sigma * sigma)))
    mask = np.ones(a.shape, bool)
    for amp in (10.0, 12.0, -6.0, 11.0):
        a.pulse_cells(mask, amp, 2e-3)
        b.pulse_cells(mask, amp, 2e-3)
    np.testing.assert_allclose(a.array.x, b.array.x, rtol=2e-5, atol=5e-6)


def test_read_matches_numpy_formulas_with_the_same_draws(monkeypatch):
    a, b = _pair(shape=(20, 30), sigma=0.0, faults={"stuck_on": [[1, 2]], "dead_rows": [3]})
    mask = np.random.default_rng(2).random(a.shape) < 0.5
    for s in (a, b):
        s.pulse_cells(mask, 11.0, 2e-3)
        s.wait(1e3)
    b.array.x[:] = a.array.x            # the same state (the pulse paths round differently)
    z = np.random.default_rng(3).standard_normal(a.shape, dtype=np.float32)
    a.array.kernel_noise = False
    monkeypatch.setattr(a.array.scratch, "normal", lambda rng, shape: z[:shape[0], :shape[1]].copy())

    class Draws:       # hands the numpy path the same normal draws
        def standard_normal(self, shape, dtype):
            return z[:shape[0], :shape[1]].copy()

    b.array.rng = Draws()
    for rows, cols in ((None, None), ([0, 3, 7], None), ([1, 4], [2, 9, 11])):
        ga, gb = a.read(rows, cols), b.read(rows, cols)
        np.testing.assert_allclose(ga, gb, rtol=1e-6, atol=1e-15)


def test_read_cell_is_the_one_cell_read():
    """Single-cell reads (the `TI` path) give the values and the random stream of
    ``read([r], [c])`` exactly, faults included."""
    faults = {"stuck_on": [[1, 1]], "stuck_off": [[2, 0]], "dead_cols": [3]}
    a, b = SimBackend((5, 5), seed=1, faults=faults), SimBackend((5, 5), seed=1, faults=faults)
    for s in (a, b):
        s.pulse_cells(np.eye(5, dtype=bool), 9.0, 2e-3)
    cells = [(r, c) for r in range(5) for c in range(5)] * 20
    assert [a.read([r], [c], 0.1)[0, 0] for r, c in cells] == [b.read_cell(r, c, 0.1) for r, c in cells]
    assert a.read().tolist() == b.read().tolist()          # streams still in step
    r1 = SimBackend((4, 4), array="1t1r", seed=2), SimBackend((4, 4), array="1t1r", seed=2)
    assert [r1[0].read([1], [2])[0, 0] for _ in range(5)] == [r1[1].read_cell(1, 2) for _ in range(5)]
    with pytest.raises(Exception, match="outside"):
        b.read_cell(5, 0)


def test_fast_normal_is_standard_normal_and_resumable():
    rng = np.random.default_rng(11)
    z = standard_normal(rng, np.empty(200_000, np.float32))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert stats.kstest(z[:50_000].astype(float), "norm").pvalue > 1e-3
    assert abs(np.mean(np.abs(z) > 3) - 2 * stats.norm.sf(3)) < 7e-4       # the tails are there
    state = rng.bit_generator.state
    z1 = standard_normal(rng, np.empty(1001, np.float32)).copy()
    rng.bit_generator.state = state
    assert np.array_equal(z1, standard_normal(rng, np.empty(1001, np.float32)))
    # every 24-bit grid point maps to its normal quantile
    k = np.arange(0, 2 ** 24, 16411, dtype=np.uint32)
    out = np.empty(k.size, np.float32)
    normals_from_bits(k << np.uint32(8), out)
    ref = stats.norm.ppf((k.astype(float) + 0.5) * 2.0 ** -24)
    assert np.max(np.abs(out - ref)) < 2e-6


def test_write_verify_outcome_statistics_match_the_numpy_path(tmp_path):
    """Same protocol, same seed, kernel vs numpy reference array: the same convergence,
    pulse and final-error statistics (not bit-identical draws)."""
    from hil.runner import run_protocol
    from hil.store import Run
    res = {}
    for name, (a, b) in (("pair", _pair(shape=(32, 32), seed=0)),):
        for tag, s in (("kernel", a), ("numpy", b)):
            out = run_protocol("write_verify", s, tmp_path / f"{tag}.h5", {}, progress=False)
            res[tag] = Run.open(out)
    ka, na = (res[t].dataset_attrs("results/convergence_rate") for t in ("kernel", "numpy"))
    assert float(ka["rate_working"]) >= 0.999 and float(na["rate_working"]) >= 0.999
    assert abs(float(ka["mean_pulses"]) - float(na["mean_pulses"])) < 0.05 * float(na["mean_pulses"])
    pk, pn = (res[t].read_result("n_pulses").ravel() for t in ("kernel", "numpy"))
    assert stats.ks_2samp(pk, pn).pvalue > 1e-3
    ek, en = (res[t].read_result("rel_error").ravel() for t in ("kernel", "numpy"))
    assert stats.ks_2samp(ek, en).pvalue > 1e-3
