"""The Monte-Carlo engine on this process: seeds, loop vs vectorized, journal resume, errors."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from hil.errors import ParameterError
from hil.nn.datasets import load_digits_split
from hil.nn.drift import ReferenceDrift, WeightMapping
from hil.nn.mc import InstanceSpec, Journal, Progress, derive_seed, evaluate, instance_seeds
from hil.nn.mc.local import InstanceEvaluator
from hil.nn.mc.metrics import accuracy
from hil.nn.mc.perturb import FixedWeights, GaussianNoise, drift_perturb, weight_names
from hil.nn.models import small_cnn
from hil.nn.netmap import accuracy as plain_accuracy
from hil.nn.netmap import with_weights
from hil.nn.train import train_epochs
from hil.nn.validate_models import mlp

torch.set_num_threads(1)
SPLIT = load_digits_split()
DATA = (SPLIT.x_test[:120], SPLIT.y_test[:120])


@functools.lru_cache(maxsize=None)
def _cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    m = small_cnn(width=4)
    train_epochs(m, SPLIT.loader(64), 2, lr=2e-2)
    return m.eval()


@functools.lru_cache(maxsize=None)
def _mlp() -> torch.nn.Module:
    torch.manual_seed(1)
    m = mlp([64, 16, 10])
    train_epochs(m, SPLIT.loader(64), 3, lr=1e-2)
    return m.eval()


def test_seeds_come_from_one_seed_sequence():
    seeds = instance_seeds(7, 5)
    want = [c.generate_state(1, np.uint64)[0] for c in np.random.SeedSequence(7).spawn(5)]
    assert seeds.dtype == np.uint64 and list(seeds) == want
    assert list(instance_seeds(7, 3)) == want[:3]          # a prefix does not depend on n
    assert InstanceSpec(5, 7).seeds().tolist() == seeds.tolist()
    assert len({derive_seed(7, k) for k in range(50)}) == 50 and derive_seed(7, 1) == derive_seed(7, 1)


@pytest.mark.parametrize("make", [_cnn, _mlp], ids=["cnn", "mlp"])
def test_loop_and_vectorized_give_the_same_instances(make):
    model = make()
    spec = InstanceSpec(6, root_seed=3, t_s=3e8)
    p = drift_perturb(model, ReferenceDrift.from_card(), WeightMapping(per_channel=True))
    loop = evaluate(model, DATA, spec, p, backend="local", progress=False)
    vec = evaluate(model, DATA, spec, p, backend="vectorized", progress=False)
    np.testing.assert_array_equal(loop, vec)
    assert len(set(loop.tolist())) > 1                      # instances really differ
    # both schemes explicitly (the local backend picks the faster one for the model)
    ev = InstanceEvaluator(model, *DATA, p, accuracy, spec)
    np.testing.assert_array_equal(ev.loop(np.arange(6), spec.seeds()), loop)
    # chunking does not change any instance, nor does evaluating a subset first
    np.testing.assert_array_equal(evaluate(model, DATA, spec, p, chunk=4, progress=False), loop)
    # a continuous metric: same draws in both schemes, forward sums may be reordered by vmap
    ce = evaluate(model, DATA, spec, p, metric="cross_entropy", progress=False)
    ce_vec = evaluate(model, DATA, spec, p, metric="cross_entropy", backend="vectorized",
                      progress=False)
    np.testing.assert_allclose(ce_vec, ce, rtol=1e-5)


def test_loop_equals_a_plain_model_call_on_the_same_weights():
    """The engine's loop (functional_call, channels_last) vs the model itself."""
    model = _cnn()
    gen = torch.Generator().manual_seed(0)
    names = weight_names(model)
    inst = tuple({n: dict(model.named_parameters())[n].detach() * (1 + 0.3 * torch.randn(
        dict(model.named_parameters())[n].shape, generator=gen)) for n in names} for _ in range(4))
    got = evaluate(model, DATA, InstanceSpec(4), FixedWeights(inst), progress=False)
    want = []
    for w in inst:
        layers = {n[: -len(".weight")]: t.reshape(t.shape[0], -1).numpy() for n, t in w.items()}
        want.append(plain_accuracy(with_weights(model, layers), *DATA))
    np.testing.assert_array_equal(got, want)


class _Interrupt(Progress):
    """Stops the job (as Ctrl-C would) after ``after`` finished chunks."""

    def __init__(self, after: int) -> None:
        super().__init__(enabled=False)
        self.after = after

    def advance(self, n: int) -> None:
        super().advance(n)
        self.after -= 1
        if self.after == 0:
            raise KeyboardInterrupt


def test_journal_resumes_without_recomputing(tmp_path):
    model = _mlp()
    spec = InstanceSpec(10, root_seed=5)
    p = GaussianNoise(0.3, weight_names(model))
    full = evaluate(model, DATA, spec, p, progress=False)
    path = tmp_path / "mc.h5"
    with pytest.raises(KeyboardInterrupt):
        evaluate(model, DATA, spec, p, journal=path, chunk=3, progress=_Interrupt(2))
    job = next(iter(Journal(path).jobs().values()))
    assert job["done"].sum() == 6 and job["spec"]["n"] == 10
    prog = Progress(enabled=False)
    again = evaluate(model, DATA, spec, p, journal=path, chunk=3, progress=prog)
    np.testing.assert_array_equal(again, full)
    assert (prog.resumed, prog.computed) == (6, 4)
    assert "4 instances" in prog.summary() and "6 more from the journal" in prog.summary()
    # another job (other seeds) in the same file starts from scratch
    other = evaluate(model, DATA, InstanceSpec(10, root_seed=6), p, journal=path, progress=False)
    assert len(Journal(path).jobs()) == 2 and not np.array_equal(other, full)


def test_errors_name_the_bad_value():
    model = _mlp()
    p = GaussianNoise(0.1, weight_names(model))
    with pytest.raises(ParameterError, match="backend 'gpu' unknown"):
        evaluate(model, DATA, InstanceSpec(2), p, backend="gpu")
    with pytest.raises(ParameterError, match=r"InstanceSpec.n=0"):
        InstanceSpec(0)
    with pytest.raises(ParameterError, match="metric 'f1' unknown"):
        evaluate(model, DATA, InstanceSpec(2), p, metric="f1")
    with pytest.raises(ParameterError, match="120 inputs and 3 labels"):
        evaluate(model, (DATA[0], DATA[1][:3]), InstanceSpec(2), p)
    with pytest.raises(ParameterError, match="needs InstanceSpec.t_s"):
        evaluate(model, DATA, InstanceSpec(2), drift_perturb(model, ReferenceDrift.from_card()),
                 progress=False)
    with pytest.raises(ParameterError, match="does not have"):
        evaluate(model, DATA, InstanceSpec(2), GaussianNoise(0.1, ("nope.weight",)), progress=False)


def test_bnn_programming_instances_through_the_engine():
    """`hil bnn noise-sweep --instances`: fresh programmings of a trained BNN."""
    from hil.nn.bnn import ProgrammingNoise, ProgrammingPerturb
    from hil.nn.bnn_train import evaluate as bnn_evaluate
    from hil.nn.bnn_train import instance_accuracy
    from hil.nn.continual import permuted_tasks, run_continual

    (task,) = permuted_tasks(SPLIT.x_train, SPLIT.y_train, SPLIT.x_test, SPLIT.y_test, 1)
    res = run_continual([task], hidden=(16,), epochs=1, seed=0)
    data = (task.x_test, task.y_test)
    exact = evaluate(res.model, data, InstanceSpec(3), ProgrammingPerturb.for_model(
        res.model, ProgrammingNoise(0.0)), metric=instance_accuracy, progress=False)
    assert exact.tolist() == [bnn_evaluate(res.model, *data)] * 3   # no error: the trained net
    noisy = evaluate(res.model, data, InstanceSpec(6, 2), ProgrammingPerturb.for_model(
        res.model, ProgrammingNoise(0.3)), metric=instance_accuracy, progress=False)
    assert len(set(noisy.tolist())) > 2                              # each programming differs
