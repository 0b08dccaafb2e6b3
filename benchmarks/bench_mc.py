"""Monte-Carlo evaluation throughput: today's vmap chunks vs the engine's loop and vectorized
schemes (and, with --compile, a torch.compile'd forward), the Ray backend's per-task
overhead and bytes per task, and the drift sampler against its 4-draw RNG floor.

Run: python benchmarks/bench_mc.py [--instances 100] [--rounds 3] [--compile] [--no-ray]
     python -m pytest -m bench benchmarks/bench_mc.py -s      (a short version)

Every ratio is measured in this script, schemes interleaved round by round on the same
instances; figures are medians over rounds, wall time and process CPU time (the machine is
shared: the load average is printed).  "old" is the EVALSTATS path of commit 462508a, pinned
below (one generator for all instances, ``torch.func.vmap`` over chunks of 25, the STE
rounding of the activation quantizer), so the comparison does not move when the package does.

Drift sampler (--sampler-only runs just that part), 2026-12-02 on the shared 2-CPU box, load
0.6-0.8, torch threads 1, 2 kernel threads: in place, preallocated 1.06x the 4-randn floor in
wall time (on 1 kernel thread 1.13x), 1.19x in CPU time; with the second core busy the wall
gain goes (1.1-1.2x).  Same run, MC: loop 116 inst/s, 4.55x the old vmap as it runs (default
allocator, 25.5/s), 1.90x the old path with freed memory kept; digits CNN loop 253/s.
Before `hil.threads` stopped starting numba's OpenMP layer (which shares libgomp with torch)
every torch figure here was 1.2-1.8x lower once a kernel had run in the process (the floor
33 M samples/s against 60 M).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import pytest
import torch

from hil.nn.datasets import load_dataset
from hil.nn.drift import ReferenceDrift, WeightMapping
from hil.nn.mc import InstanceSpec, evaluate
from hil.nn.mc.local import InstanceEvaluator, fastest_scheme
from hil.nn.mc.metrics import accuracy
from hil.nn.mc.perturb import FixedWeights, drift_perturb
from hil.nn.models import build
from hil.nn.quant import train_quantized
from hil.nn.validate_models import mlp
from hil.nn.vera import VeraPlusModel

T_10Y_S = 3.15e8


# --- the pinned old path (hil/nn/schedule.py at 462508a) ---------------------------------
def old_drifted_instances(model, t_s, sampler, n, generator):
    out = {}
    with torch.no_grad():
        for name, m in model.named_modules():
            if hasattr(m, "branch"):
                G, params = model.mapping.to_conductance(m.weight)
                Gd = sampler.sample(G.unsqueeze(0).expand(n, *G.shape).contiguous(), t_s, generator)
                out[f"{name}.weight"] = torch.stack(
                    [model.mapping.to_weight(Gd[i], params) for i in range(n)]).to(m.weight.dtype)
    return out


def old_instance_accuracies(model, x, y, weights, chunk=25):
    from torch.func import functional_call, vmap

    n = next(iter(weights.values())).shape[0]
    accs = []
    # enable_grad: the activation quantizer takes its STE path, as every forward did then
    with torch.no_grad(), torch.enable_grad():
        for i in range(0, n, chunk):
            part = {k: v[i:i + chunk] for k, v in weights.items()}
            pred = vmap(lambda p: functional_call(model, p, (x,)).argmax(1))(part)
            accs.append((pred == y).double().mean(1).cpu() * 100.0)
    return torch.cat(accs).numpy()


def old_eval_stats(model, x, y, t_s, sampler, n, seed=0, chunk=25):
    g = torch.Generator().manual_seed(seed)
    accs = [old_instance_accuracies(model, x, y,
                                    old_drifted_instances(model, t_s, sampler, min(chunk, n - i), g),
                                    chunk) for i in range(0, n, chunk)]
    return np.concatenate(accs)


def old_sample_uS(s: ReferenceDrift, g, t, gen):
    def rn(like):
        return torch.randn(like.shape, generator=gen, dtype=like.dtype)
    g = g + (s.prog_c0_uS + s.prog_c1 * g) * rn(g)
    g = g + s.mean_shift_uS(t) + s.sigma_drift_uS(t) * rn(g)
    g = g + s.read_c_uS * torch.log10(g.clamp(min=1e-3)) * s.read_factor(t) * rn(g)
    g = g * (1.0 + s.d2d_sigma_rel * rn(g))
    return g.clamp(s.g_min_uS, s.g_max_uS)


# --- helpers ------------------------------------------------------------------------------
def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def med(xs):
    return statistics.median(xs)


def load_note() -> str:
    la = os.getloadavg()
    return f"load average {la[0]:.1f} / {la[1]:.1f} / {la[2]:.1f} on {os.cpu_count()} CPUs"


def vera_model(data, epochs: tuple[int, int]):
    torch.manual_seed(0)
    net = build("small_cnn", n_classes=10, in_channels=1, width=16)
    q = train_quantized(net, data.loader(64), epochs[0], epochs[1])
    return VeraPlusModel(q, 1, 0, WeightMapping(per_channel=True), "positive").eval()


def plain_models(data, epochs: int):
    from hil.nn.train import train_epochs

    out = {}
    for name, m in (("digits CNN", build("small_cnn", width=8)), ("digits MLP", mlp([64, 64, 10]))):
        torch.manual_seed(0)
        train_epochs(m, data.loader(64), epochs, lr=1e-2)
        out[name] = m.eval()
    return out


# --- sections -----------------------------------------------------------------------------
def bench_vera(data, n: int, rounds: int, compile_: bool) -> dict:
    x, y = data.x_test, data.y_test
    sampler = ReferenceDrift.from_card()
    model = vera_model(data, (3, 1))
    spec = InstanceSpec(n, 0, T_10Y_S)
    p = drift_perturb(model, sampler)
    res = {k: ([], []) for k in ("old", "loop", "vectorized")}
    # the old path as it ran at 462508a: glibc's default allocator (the engine's evaluator
    # makes glibc keep freed memory from its first call on, which speeds the old path too)
    _, w0, c0 = timed(lambda: old_eval_stats(model, x, y, T_10Y_S, sampler, n))
    for _ in range(rounds):
        for name, fn in (("old", lambda: old_eval_stats(model, x, y, T_10Y_S, sampler, n)),
                         ("loop", lambda: evaluate(model, (x, y), spec, p, progress=False)),
                         ("vectorized", lambda: evaluate(model, (x, y), spec, p, backend="vectorized",
                                                         progress=False))):
            _, w, c = timed(fn)
            res[name][0].append(n / w)
            res[name][1].append(n / c)
    # identical accuracies: the engine's loop on the very instances the old path drew
    w_old = old_drifted_instances(model, T_10Y_S, sampler, n, torch.Generator().manual_seed(0))
    acc_old = old_instance_accuracies(model, x, y, w_old)
    fixed = FixedWeights(tuple({k: v[i] for k, v in w_old.items()} for i in range(n)))
    acc_new = 100 * evaluate(model, (x, y), InstanceSpec(n), fixed, progress=False)
    same = bool(np.array_equal(acc_old, acc_new))
    print(f"\n[VeRA+ digits model, small CNN width 16, W4A4, {len(x)} test images, {n} instances "
          f"at 10 y, uncompensated; {rounds} interleaved rounds; {torch.get_num_threads()} thread(s)]")
    base_w, base_c = med(res["old"][0]), med(res["old"][1])
    for k, (w, c) in res.items():
        print(f"  {k:<11s} {med(w):7.1f} inst/s wall ({med(w) / base_w:4.2f}x old)   "
              f"{med(c):7.1f} inst/s CPU ({med(c) / base_c:4.2f}x old)")
    print(f"  old, default allocator (once, before the engine's first call): {n / w0:.1f} inst/s "
          f"wall; loop / it: {med(res['loop'][0]) / (n / w0):.2f}x wall, "
          f"{med(res['loop'][1]) / (n / c0):.2f}x CPU (the rows above: old with freed memory kept)")
    print(f"  loop on the old path's own draws: accuracies identical to the old vmap: {same}")
    if compile_:
        ev = InstanceEvaluator(model, x, y, p, accuracy, spec)
        seeds, idx = spec.seeds(), np.arange(n)
        fwd = torch.compile(lambda prm, xx: torch.func.functional_call(model, prm, (xx,)), dynamic=False)

        def compiled_loop():
            with torch.no_grad():
                return [accuracy(fwd({k: v.contiguous(memory_format=torch.channels_last)
                                      if v.dim() == 4 else v for k, v in ev.draw(i, s).items()},
                                     ev.x_loop), y) for i, s in zip(idx, seeds)]
        _, cw, _ = timed(lambda: compiled_loop() if n else None)  # includes compilation
        _, w, c = timed(compiled_loop)
        print(f"  compiled loop (RNG eager, forward torch.compile'd): {n / w:.1f} inst/s wall, "
              f"{n / c:.1f} CPU, first pass incl. compilation {cw:.0f} s")
    return {k: (med(w), med(c)) for k, (w, c) in res.items()} | {"identical": same}


def bench_plain(data, n: int, rounds: int) -> None:
    x, y = data.x_test, data.y_test
    sampler = ReferenceDrift.from_card()
    for name, model in plain_models(data, 3).items():
        spec, p = InstanceSpec(n, 0, T_10Y_S), drift_perturb(model, sampler,
                                                            WeightMapping(per_channel=True))
        ev = InstanceEvaluator(model, x, y, p, accuracy, spec)
        idx, seeds = np.arange(n), spec.seeds()
        lw, vw, lc, vc = [], [], [], []
        for _ in range(rounds):
            a, w, c = timed(lambda: ev.loop(idx, seeds))
            lw.append(n / w), lc.append(n / c)
            b, w, c = timed(lambda: ev.vectorized(idx, seeds))
            vw.append(n / w), vc.append(n / c)
        print(f"[{name}] loop {med(lw):.1f} / vectorized {med(vw):.1f} inst/s wall "
              f"(loop/vectorized {med(lw) / med(vw):.2f}x; CPU {med(lc) / med(vc):.2f}x); "
              f"same per-instance accuracies: {bool(np.array_equal(a, b))}; "
              f"local backend takes: {fastest_scheme(model)}")


def bench_ray(data, n: int) -> None:
    try:
        import ray
    except ImportError:
        print("[Ray] not installed (pip install 'hil-aimc[ray]'): skipped")
        return
    from hil.nn.mc import ray_backend

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    x, y = data.x_test[:8], data.y_test[:8]
    torch.manual_seed(0)
    tiny = mlp([64, 4, 10]).eval()
    p = drift_perturb(tiny, ReferenceDrift.from_card())
    evaluate(tiny, (x, y), InstanceSpec(4, 0, 1.0), p, backend="ray", progress=False)  # pool up
    tasks = 60
    spec = InstanceSpec(tasks, 1, 1.0)
    _, w_local, _ = timed(lambda: evaluate(tiny, (x, y), spec, p, progress=False))
    _, w_ray, _ = timed(lambda: evaluate(tiny, (x, y), spec, p, backend="ray", chunk=1,
                                         progress=False))
    st = ray_backend.LAST
    per_task = (w_ray - w_local) / st.tasks
    print(f"\n[Ray, local instance, {st.workers} workers] per-task overhead {per_task * 1e3:.1f} ms "
          f"({st.tasks} one-instance tasks of a tiny MLP: {w_ray:.2f} s vs {w_local:.3f} s in the loop); "
          f"bytes per task: {int(np.mean(st.task_arg_bytes))} B of arguments (job key, indices, "
          f"seeds) + ~8 B/instance result")
    model = vera_model(data, (1, 1))
    spec = InstanceSpec(n, 0, T_10Y_S)
    p = drift_perturb(model, ReferenceDrift.from_card())
    xs, ys = data.x_test, data.y_test
    evaluate(model, (xs, ys), InstanceSpec(2, 9, 1.0), p, backend="ray", progress=False)
    _, w_loc, _ = timed(lambda: evaluate(model, (xs, ys), spec, p, progress=False))
    _, w_ray, _ = timed(lambda: evaluate(model, (xs, ys), spec, p, backend="ray", progress=False))
    st = ray_backend.LAST
    c = w_loc / n
    k = -(-n // st.tasks)
    eff = k * c / (k * c + per_task)
    print(f"[Ray, VeRA+ model, {n} instances] local loop {n / w_loc:.1f} inst/s, Ray "
          f"{n / w_ray:.1f} inst/s on {st.workers} workers ({st.tasks} chunks of {k}); shipped once "
          f"per actor: job {st.job_bytes / 1e3:.0f} kB (model + perturbation), data "
          f"{st.data_bytes / 1e3:.0f} kB; per task {int(np.mean(st.task_arg_bytes))} B")
    print(f"  scaling: c = {c * 1e3:.1f} ms/instance, o = {per_task * 1e3:.1f} ms/task, chunk k = {k}: "
          f"task efficiency k·c/(k·c+o) = {eff:.2f}; W workers on W free cores -> ~{eff:.2f}·W x the "
          f"loop. Here the {os.cpu_count()} cores are already busy ({load_note()}), so Ray cannot "
          "be faster on this machine; it pays once the cluster has more free cores than one host.")


def bench_sampler(rounds: int, n_cells: int = 4 * 2 ** 20) -> None:
    """ReferenceDrift.sample against the floor of its four normal draws (wall and CPU time).

    The floor draws serially whatever the thread settings (torch's CPU ``normal_`` holds its
    generator), and so does the sampler; with two or more kernel threads (`hil.threads`) the
    sampler takes its last draw in chunks on the second one while its fused pass runs on
    the chunks drawn, so its wall time is below its CPU time where a core is free.  "on 1
    kernel thread" is the same path on one kernel thread (no overlap)."""
    from hil.threads import kernel_threads, set_kernel_threads

    s = ReferenceDrift.from_card()
    G = (torch.rand(n_cells, generator=torch.Generator().manual_seed(0)) * 79 + 9) * 1e-6
    g = torch.Generator().manual_seed(1)
    out, scratch = torch.empty(n_cells), tuple(torch.empty(n_cells) for _ in range(3))
    threads = kernel_threads()

    def one_thread():
        set_kernel_threads(1)
        try:
            return s.sample(G, T_10Y_S, g, out=out, scratch=scratch)
        finally:
            set_kernel_threads(None)

    fns = {"floor (4 fresh randn)": lambda: [torch.randn(n_cells, generator=g) for _ in range(4)],
           "4 draws, preallocated": lambda: [x.normal_(generator=g) for x in (*scratch, out)],
           "old (out of place)": lambda: old_sample_uS(s, G * 1e6, T_10Y_S, g) / 1e6,
           "in place, preallocated": lambda: s.sample(G, T_10Y_S, g, out=out, scratch=scratch),
           "  on 1 kernel thread": one_thread,
           "in place, allocating": lambda: s.sample(G, T_10Y_S, g)}
    res = {k: ([], []) for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            r, w, c = timed(fn)
            del r   # each call starts from the same allocator state
            res[k][0].append(w)
            res[k][1].append(c)
    a = old_sample_uS(s, G * 1e6, T_10Y_S, torch.Generator().manual_seed(5)) / 1e6
    b = s.sample(G, T_10Y_S, torch.Generator().manual_seed(5))

    def vs(k: str, i: int, ref: str = "floor (4 fresh randn)") -> float:
        """Median of the rounds' ratios (the load drifts from round to round)."""
        return med([x / y for x, y in zip(res[k][i], res[ref][i])])

    print(f"\n[ReferenceDrift.sample, {n_cells / 2 ** 20:.0f} M float32 cells, {rounds} interleaved "
          f"rounds, torch threads {torch.get_num_threads()}, kernel threads {threads}, {load_note()}; "
          "ratios: medians of the per-round ratios; 'draws': the 4 preallocated draws, the "
          "floor less its allocations (which page-fault or not by the allocator's state)]")
    for k, (w, c) in res.items():
        print(f"  {k:<24s} wall {n_cells / med(w) / 1e6:5.1f} M samples/s ({vs(k, 0):.2f}x floor, "
              f"{vs(k, 0, '4 draws, preallocated'):.2f}x draws)   CPU {n_cells / med(c) / 1e6:5.1f} "
              f"M samples/s ({vs(k, 1):.2f}x floor, {vs(k, 1, '4 draws, preallocated'):.2f}x draws)")
    print(f"  in-place result bit-identical to the out-of-place formula: {bool(torch.equal(a, b))}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--compile", action="store_true", help="also time a torch.compile'd loop")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--sampler-only", action="store_true", help="only the drift-sampler part")
    ap.add_argument("--sampler-rounds", type=int, default=11,
                    help="rounds of the sampler part (~0.1 s each; its floor is noisy: fresh "
                         "allocations page-fault or not, by the allocator's state)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    print(f"start: {load_note()}; torch {torch.__version__}")
    if not a.sampler_only:
        data = load_dataset("digits")
        bench_vera(data, a.instances, a.rounds, a.compile)
        bench_plain(data, a.instances, a.rounds)
    bench_sampler(a.sampler_rounds)
    if not (a.no_ray or a.sampler_only):
        bench_ray(data, a.instances)
    print(f"end: {load_note()}")


@pytest.mark.bench
def test_bench_mc():
    main(["--instances", "20", "--rounds", "1", "--sampler-rounds", "2"])


if __name__ == "__main__":
    main()
