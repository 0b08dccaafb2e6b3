"""The Ray backend against the loop and vectorized backends: `hil vera eval`, `hil validate`,
seeds, and a Ray job whose driver is killed mid-way resuming from its finished chunks."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import torch

from hil.cards import load_card
from hil.cli import main as hil_main
from hil.errors import ParameterError
from hil.nn.datasets import load_digits_split
from hil.nn.mapping import range_from_card
from hil.nn.mc import InstanceSpec, Journal, Progress, evaluate
from hil.nn.mc.perturb import GaussianNoise, weight_names
from hil.nn.models import small_cnn
from hil.nn.netmap import NetworkMap
from hil.nn.quant import quantize_model
from hil.nn.train import train_epochs
from hil.nn.validate import validate_from_run
from hil.nn.validate_models import load_model, mlp, save_model
from hil.nn.vera import VeraPlusModel, save_checkpoint
from hil.store import Run

ray = pytest.importorskip("ray", reason='the Ray backend tests need Ray (pip install "hil-aimc[ray]")')
torch.set_num_threads(1)
SPLIT = load_digits_split()


@pytest.fixture(scope="session")
def ray_cluster():
    """A local two-CPU Ray instance for the whole session (the engine joins it)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    from hil.nn.mc.ray_backend import shutdown_pool
    shutdown_pool()
    ray.shutdown()


@pytest.fixture(scope="module")
def mlp_file(tmp_path_factory):
    torch.manual_seed(0)
    model = mlp([64, 16, 10])
    train_epochs(model, SPLIT.loader(64), 4, lr=1e-2)
    return save_model(tmp_path_factory.mktemp("m") / "mlp.pt", model, "mlp", {"sizes": [64, 16, 10]})


@pytest.fixture(scope="module")
def vera_file(tmp_path_factory):
    """A small VeRA+ checkpoint with one (random) set, as `hil vera train` writes it."""
    torch.manual_seed(0)
    net = small_cnn(width=4)
    train_epochs(net, SPLIT.loader(64), 1, lr=2e-2)
    q = quantize_model(net).train()
    with torch.no_grad():
        q(SPLIT.x_train[:256])  # calibrate the activation ranges
    v = VeraPlusModel(q.eval(), 1, 0)
    v.add_set()
    with torch.no_grad():
        for layer in v.layers():
            layer.b[0].normal_(0, 0.1)
    v.schedule_t_s = [1e5]
    path = tmp_path_factory.mktemp("v") / "vera.pt"
    save_checkpoint(path, v, arch={"name": "small_cnn", "input_shape": [1, 8, 8],
                                   "kwargs": {"n_classes": 10, "in_channels": 1, "width": 4}},
                    quant={"w_bits": 4, "a_bits": 4},
                    meta={"data": "digits", "drift": {"kind": "reference", "acceptance": "2%"}})
    return path


KILLED_DRIVER = textwrap.dedent("""
    import os, signal, sys
    import ray, torch
    from hil.nn.mc import InstanceSpec, Progress, evaluate
    from hil.nn.mc.perturb import GaussianNoise, weight_names

    class KillAfterFirstChunk(Progress):
        def advance(self, n):
            super().advance(n)
            os.kill(os.getpid(), signal.SIGKILL)   # the driver dies hard, mid-job

    ray.init(address=sys.argv[1], log_to_driver=False)
    torch.set_num_threads(1)
    model = torch.load(sys.argv[2], weights_only=False)
    x, y = torch.load(sys.argv[3])
    evaluate(model, (x, y), InstanceSpec(12, 4), GaussianNoise(0.3, weight_names(model)),
             backend="ray", workers=1, chunk=2, journal=sys.argv[4],
             progress=KillAfterFirstChunk(enabled=False))
""")


def test_killed_ray_job_resumes_from_finished_chunks(ray_cluster, mlp_file, tmp_path):
    model, split, _ = load_model(str(mlp_file))
    torch.save(model, tmp_path / "model.pt")
    torch.save((split.x_test, split.y_test), tmp_path / "data.pt")
    journal = tmp_path / "mc.h5"
    # runs first in this module: no actor of this process holds the cluster's CPUs yet
    res = subprocess.run([sys.executable, "-c", KILLED_DRIVER, ray_cluster, str(tmp_path / "model.pt"),
                          str(tmp_path / "data.pt"), str(journal)],
                         capture_output=True, text=True, timeout=240)
    assert res.returncode == -9, res.stderr[-2000:]
    (job,) = Journal(journal).jobs().values()
    finished = int(job["done"].sum())
    assert finished == 2 and job["backends"] == ["ray"]    # exactly one chunk was recorded
    spec, p = InstanceSpec(12, 4), GaussianNoise(0.3, weight_names(model))
    prog = Progress(enabled=False)
    resumed = evaluate(model, (split.x_test, split.y_test), spec, p, backend="ray", workers=2,
                       chunk=2, journal=journal, progress=prog)
    assert (prog.resumed, prog.computed) == (finished, 12 - finished)
    np.testing.assert_array_equal(resumed, evaluate(model, (split.x_test, split.y_test), spec, p,
                                                    progress=False))
    assert Journal(journal).jobs()[next(iter(Journal(journal).jobs()))]["done"].all()


def test_vera_eval_same_instances_on_every_backend(ray_cluster, vera_file, tmp_path, capsys):
    per = {}
    for backend in ("local", "vectorized", "ray"):
        js = tmp_path / f"{backend}.json"
        assert hil_main(["vera", "eval", str(vera_file), "--times", "1s,10y", "--instances", "5",
                         "--json", str(js), "--backend", backend, "--no-progress"]) == 0
        out = capsys.readouterr().out
        assert f"evaluated 20 instances" in out and f"backend {backend})" in out
        res = json.loads(js.read_text())
        per[backend] = [r["accuracies"] for r in res["uncompensated"] + res["compensated"]]
    assert per["ray"] == per["local"] == per["vectorized"]
    assert len({a for row in per["local"] for a in row}) > 2  # the instances differ


def test_validate_same_accuracies_on_every_backend(ray_cluster, mlp_file, tmp_path, capsys):
    model, split, _ = load_model(str(mlp_file))
    card = load_card("rram_hfox_1t1r")
    net = NetworkMap.build(model, "differential", range_from_card(card), (64, 64), max_arrays=1)
    clean = np.nan_to_num(net.target_arrays(model)[0], nan=1e-7)
    run = Run.create(tmp_path / "lab.h5", protocol="retention", params={}, station_text="",
                     backend="lab", device=card, seed=None, shape=(64, 64))
    rng = np.random.default_rng(0)
    for t, sigma in ((1.0, 1e-6), (1e3, 2e-6), (1e5, 4e-6)):
        run.append_map(t, clean + rng.normal(0, sigma, clean.shape))
    run.commit()
    accs = {b: validate_from_run(model, split.x_test, split.y_test, run.path, tmp_path / f"{b}.h5",
                                 engine={"backend": b}).accuracy
            for b in ("local", "vectorized")}
    assert hil_main(["validate", str(mlp_file), "--from-run", str(run.path), "--backend", "ray",
                     "--workers", "2", "--out", str(tmp_path / "ray.h5"), "--no-progress"]) == 0
    assert "backend ray" in capsys.readouterr().out
    accs["ray"] = Run.open(tmp_path / "ray.h5").read_result("accuracy")
    np.testing.assert_array_equal(accs["ray"], accs["local"])
    np.testing.assert_array_equal(accs["vectorized"], accs["local"])
    assert accs["local"][0] > accs["local"][-1]   # more read noise, lower accuracy


def test_seeds_and_draws_identical_across_backends(ray_cluster, mlp_file):
    """A continuous metric of every instance: any difference in a draw would show."""
    model, split, _ = load_model(str(mlp_file))
    spec, p = InstanceSpec(9, root_seed=11), GaussianNoise(0.2, weight_names(model))
    data = (split.x_test, split.y_test)
    loop = evaluate(model, data, spec, p, metric="cross_entropy", progress=False)
    on_ray = evaluate(model, data, spec, p, metric="cross_entropy", backend="ray", workers=2,
                      chunk=2, progress=False)
    np.testing.assert_array_equal(on_ray, loop)          # workers run the same scheme
    from hil.nn.mc import ray_backend
    actors = ray_backend._pool(2)                        # the pool that just ran
    assert ray.get([a.threads_used.remote() for a in actors]) == [1, 1]  # 2 CPUs / 2 actors
    vec = evaluate(model, data, spec, p, metric="cross_entropy", backend="vectorized",
                   progress=False)
    np.testing.assert_allclose(vec, loop, rtol=1e-5)     # vmap may reorder float sums
    with pytest.raises(ParameterError, match="cannot be pickled"):
        evaluate(model, data, spec, _Locked(), backend="ray", progress=False)


class _Locked:
    """A perturbation holding a lock: fine on this process, impossible to ship."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __call__(self, params, index, gen, spec):
        return params
