"""Row/block-split ECRAM kernels (`hil.threads.split_run`) and the in-kernel PCG64 normal
stream: bit for bit the one-thread code and numpy's ``random_raw`` stream, for any thread
count, in forked children too."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numba
import numpy as np
import pytest

from sim_backends import SimBackend
import hil.threads as threads
from hil.threads import set_kernel_threads
from sim_backends.devices import ecram_kernels, normals
from sim_backends.devices.normals import pcg64_advance, standard_normal

#: thread counts to compare (the machine may allow only one)
THREADS = sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)})


@pytest.fixture
def restore_threads(monkeypatch):
    """Every call split (threshold 0) while the test sets thread counts; restored after."""
    monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", 0)
    yield
    set_kernel_threads(None)


def _raw_normals(rng: np.random.Generator, n: int) -> np.ndarray:
    """The reference stream: ``random_raw`` words through `normals_from_bits`' worker on
    this thread."""
    out = np.empty(n, np.float32)
    bits = rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)
    normals._bits_blocks(0, -(-n // normals._NBLOCK), bits, out)    # one thread
    return out


@pytest.mark.parametrize("n", [0, 1, 2, 3, 2047, 2048, 4095, 4096, 4097, 100_001, 300_000])
def test_pcg64_normals_are_the_random_raw_stream(n, restore_threads):
    for threads in THREADS:
        set_kernel_threads(threads)
        a, b = np.random.default_rng(n), np.random.default_rng(n)
        for g in (a, b):    # leave a buffered 32-bit word, which random_raw keeps
            g.integers(0, 7, dtype=np.uint32)
        got = standard_normal(a, np.empty(n, np.float32))
        assert got.tobytes() == _raw_normals(b, n).tobytes()
        assert a.bit_generator.state == b.bit_generator.state
        assert np.array_equal(a.integers(0, 2 ** 32, 9, dtype=np.uint32),
                              b.integers(0, 2 ** 32, 9, dtype=np.uint32))


def test_pcg64_advance_is_numpys_jump():
    g = np.random.PCG64(3)
    mask = (1 << 64) - 1
    for delta in (0, 1, 2, 12345, 2 ** 40 + 3, 2 ** 64 - 1):
        st = g.state["state"]
        s, inc = st["state"], st["inc"]
        h, lo = pcg64_advance(np.uint64(s >> 64), np.uint64(s & mask), np.uint64(inc >> 64),
                              np.uint64(inc & mask), np.uint64(delta))
        g.advance(delta)
        assert (int(h) << 64) | int(lo) == g.state["state"]["state"]


def test_other_bit_generators_draw_through_random_raw(restore_threads):
    for threads in THREADS:     # `normals_from_bits` split over the threads
        set_kernel_threads(threads)
        a = np.random.Generator(np.random.Philox(5))
        b = np.random.Generator(np.random.Philox(5))
        got = standard_normal(a, np.empty(100_001, np.float32))
        assert got.tobytes() == _raw_normals(b, 100_001).tobytes()
        assert a.bit_generator.random_raw() == b.bit_generator.random_raw()   # still in step


def _kernel_inputs(rows_n: int = 37, cols_n: int = 1500, n: int = 23, seed: int = 0):
    g = np.random.default_rng(seed)
    f = np.float32
    shape = (rows_n, cols_n)
    arrays = dict(x=g.random(shape, f), t_prog=g.random(shape) * 10,
                  nu=g.random(shape, f) * f(0.2), g_on=(g.random(shape, f) + f(0.5)) * f(1e-6),
                  floor=g.random(shape, f) * f(0.1), k_p=g.random(shape, f) * f(3),
                  k_d=g.random(shape, f) * f(3), beta=g.random(shape, f) + f(0.5),
                  dead_rows=g.random(rows_n) < 0.1, dead_cols=g.random(cols_n) < 0.05)
    rows = np.sort(g.choice(rows_n, n, replace=False)).astype(np.int64)
    codes = np.where(g.random(shape) < 0.5, np.int32(7), np.int32(-3))
    lines = ((g.random(n) * 3).astype(f), (g.random(n) * 2).astype(f),
             (g.random(n) * 1e-4).astype(f), (g.random(n) * 1e-5).astype(f),
             (g.random(n) * 2).astype(f), g.random(n).astype(f))
    consts = (f(3.0), f(0.3), f(0.4), f(2e-3), f(0.1), f(0.005), f(1e-3))
    return arrays, rows, codes, lines, 10 + g.random(n) * 5, consts


def _noises(shape: tuple[int, int], seed: int = 5):
    """The (noise, z, pcg) kernel arguments of ``shape`` normal draws, the same values from
    a buffer (`standard_normal`) and drawn in the kernel (PCG64 words)."""
    from sim_backends.devices.ecram_kernels import NO_PCG, NO_Z, NOISE_ARRAY, NOISE_PCG
    z = standard_normal(np.random.default_rng(seed), np.empty(shape, np.float32))
    pcg = normals.pcg64_reserve(np.random.default_rng(seed), z.size)
    return (NOISE_ARRAY, z, NO_PCG), (NOISE_PCG, NO_Z, pcg)


def test_row_phase_and_read_are_the_same_serial_or_parallel(restore_threads):
    """Any thread count, the noise from a buffer or drawn in the kernel, targets as a 0/1
    map or a plan's code map: the same bits."""
    arrays, rows, codes, lines, now, consts = _kernel_inputs()
    code = np.full(rows.size, 7, np.int32)
    mask = (codes[rows] == 7).astype(np.int32)   # the same targets as a 0/1 map
    forms = ((codes, rows, code), (mask, np.arange(rows.size), np.ones(rows.size, np.int32)))
    results = []
    for threads in THREADS:
        for form in forms:
            for noise in _noises((rows.size, 1500)):
                set_kernel_threads(threads)
                a = {k: v.copy() for k, v in arrays.items()}
                n_prog = ecram_kernels.row_phase(*a.values(), rows, *form, *lines, *noise, now,
                                                 *consts)
                results.append((n_prog, a["x"].tobytes(), a["t_prog"].tobytes()))
    a = {k: v.copy() for k, v in arrays.items()}      # the worker alone, on this thread
    n_prog = ecram_kernels._pulse_rows(0, rows.size, *a.values(), rows, *forms[0], *lines,
                                       *_noises((rows.size, 1500))[0], now, *consts)
    results.append((n_prog, a["x"].tobytes(), a["t_prog"].tobytes()))
    assert results[0][0] > 0 and all(r == results[0] for r in results)
    for r, c, all_cols in ((np.arange(37), np.arange(1500), True),
                           (np.array([3, 1, 30]), np.arange(1500), True),
                           (np.array([3, 1, 30]), np.array([5, 1499, 0, 7]), False)):
        outs, n_noise = [], 2 if all_cols else 1     # in-kernel draws: whole rows only
        for threads in THREADS:
            for noise in _noises((37, 1500))[:n_noise]:
                set_kernel_threads(threads)
                if noise[1].size:       # the buffer: its first len(r) rows, len(c) columns
                    noise = (noise[0], noise[1][:r.size, :c.size].copy(), noise[2])
                out = np.empty((r.size, c.size))
                ecram_kernels.read(arrays["x"], arrays["t_prog"], arrays["nu"], arrays["g_on"],
                                   arrays["floor"], r, c, all_cols, *noise, 12.5,
                                   np.float32(3.0), np.float32(0.01), np.float32(1e-9), out)
                outs.append(out.tobytes())
        assert len(outs) == len(THREADS) * n_noise
        assert all(o == outs[0] for o in outs)


def _write_verify_state(tmp_path, tag: str, kernel_noise: bool) -> tuple[bytes, bytes, dict]:
    from hil.runner import run_protocol
    b = SimBackend((48, 48), seed=3, faults={"dead_cols": [5]})
    b.array.kernel_noise = kernel_noise
    run_protocol("write_verify", b, tmp_path / f"{tag}.h5", {}, progress=False)
    return b.array.x.tobytes(), b.array.t_prog_s.tobytes(), b.array.rng.bit_generator.state


def test_write_verify_is_the_same_serial_or_parallel(tmp_path, monkeypatch, restore_threads):
    """Every kernel call split on the most threads (threshold 0) with the noise drawn in
    the kernels, or every one on one thread with the noise from the buffer: the same array
    state and random stream after a whole write-verify run."""
    set_kernel_threads(max(THREADS))
    par = _write_verify_state(tmp_path, "par", True)
    monkeypatch.setattr(threads, "PARALLEL_MIN_WORK", 1 << 62)
    assert _write_verify_state(tmp_path, "ser", False) == par


def test_a_forked_child_splits_kernels_too(restore_threads):
    """A forked child has none of its parent's threads: it makes its own pool and gets the
    same values."""
    set_kernel_threads(max(THREADS))
    out = np.empty(300_001, np.float32)
    expect = standard_normal(np.random.default_rng(8), out).copy()     # the pool exists
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # pragma: no cover (child)
        code = 1
        try:
            os.close(r)
            got = standard_normal(np.random.default_rng(8), np.empty_like(out))
            with os.fdopen(w, "wb") as f:
                pickle.dump(got, f)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        got = pickle.load(f)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert got.tobytes() == expect.tobytes()


def test_kernel_threads_keep_torch_thread_count():
    """The kernel threads never start numba's OpenMP layer, which shares libgomp with torch
    and would reset torch's thread count (and slow torch's ops): torch set to one thread
    stays at one after a split kernel call."""
    code = ("import torch; torch.set_num_threads(1)\n"
            "assert torch.get_num_threads() == 1\n"  # (torch's OpenMP in use)
            "import numpy as np\n"
            "from hil.threads import kernel_threads\n"
            "from sim_backends.devices.normals import standard_normal\n"
            "assert kernel_threads() == 2\n"
            "standard_normal(np.random.default_rng(0), np.empty(300_000, np.float32))\n"
            "assert torch.get_num_threads() == 1, torch.get_num_threads()\n")
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, NUMBA_NUM_THREADS="2"))


def test_set_kernel_threads_names_bad_values():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="allowed: an integer >= 1"):
            set_kernel_threads(bad)
