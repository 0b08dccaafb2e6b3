"""Network validation on measured conductance maps (`hil validate`).

Map a trained model onto arrays (`hil.nn.netmap`), program every array with the
write-verify protocol (`hil.nn.program_maps`), read the maps back at each requested time
after programming (``backend.wait``: virtual on the simulator, so 10 years take no time),
decode them into weights and evaluate.  Or take the maps of an existing run file
(``from_run``), e.g. maps measured in a lab, and evaluate those the same way.

Output: one run file (protocol ``validate``), arrays stacked along rows (shape
(n_arrays*rows, cols)):
  /maps/G_S, /maps/t_s      measured maps, t_s = time since the end of programming
  /results/target_G_S       target map (NaN = unused cell), attrs ``netmap`` (JSON)
  /results/state            nearest write-verify level per cell (-1 unused): drift statistics
                            (`hil.analysis.drift`) run on this file as on a retention run
  /results/accuracy         (n_times,) accuracy from the measured maps; attrs software_accuracy
  /results/layer_error      (n_times, n_layers) RMS weight error / w_max; attrs layers
  /results/converged, /results/n_pulses   write-verify outcome per cell
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from hil.errors import ParameterError, RunFileError
from hil.nn.mapping import range_from_card
from hil.nn.mc import InstanceSpec, evaluate
from hil.nn.mc.perturb import FixedWeights
from hil.nn.netmap import NetworkMap, accuracy, layer_errors, weight_layers
from hil.nn.program_maps import program_map
from hil.store import Run


#: longest read time `validate_on_backends` waits on a real (wall) clock
REAL_WAIT_MAX_S = 86400.0


@dataclass
class Validation:
    """Accuracy and per-layer weight error at each time."""

    path: Path
    times_s: np.ndarray
    accuracy: np.ndarray
    software_accuracy: float
    layer_error: np.ndarray
    layers: tuple[str, ...]


def snapshot_weights(model: nn.Module, net: NetworkMap, maps: np.ndarray) -> FixedWeights:
    """The weights decoded from each snapshot in ``maps`` (n, n_arrays*R, C) as engine
    instances (parameter ``LAYER.weight``; NaN, an unread cell, -> 0 as `with_weights`)."""
    shapes = {f"{n}.weight": m.weight.shape for n, m in weight_layers(model)}
    inst = []
    for snap in maps:
        w = net.weights(net.plan.unstack(snap))
        inst.append({f"{n}.weight": torch.as_tensor(np.nan_to_num(w[n], nan=0.0),
                                                    dtype=torch.float32).reshape(shapes[f"{n}.weight"])
                     for n in net.layers})
    return FixedWeights(tuple(inst))


def _evaluate(model: nn.Module, net: NetworkMap, maps: np.ndarray, x: torch.Tensor,
              y: torch.Tensor, engine: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and layer errors for each snapshot in ``maps`` (n, n_arrays*R, C); the
    snapshots are the instances of one Monte-Carlo job (``engine``: backend, workers, ...)."""
    target = net.weights(net.target_arrays(model))
    errs = [layer_errors(net, net.weights(net.plan.unstack(snap)), target) for snap in maps]
    accs = evaluate(model, (x, y), InstanceSpec(len(maps)), snapshot_weights(model, net, maps),
                    **{"progress": False, **(engine or {})})
    return accs, np.array(errs)


def _create_run(out: Path, net: NetworkMap, params: dict, station_text: str, backend: str,
                device: dict, seed: int | None, overwrite: bool) -> Run:
    r, c = net.plan.array_shape
    return Run.create(out, protocol="validate", params=params, station_text=station_text,
                      backend=backend, device=device, seed=seed,
                      shape=(net.plan.n_arrays * r, c), overwrite=overwrite)


def _finish(run: Run, net: NetworkMap, model: nn.Module, t_s: np.ndarray, maps: np.ndarray,
            x: torch.Tensor, y: torch.Tensor, engine: dict | None = None) -> Validation:
    for t, m in zip(t_s, maps):
        run.append_map(float(t), m)
    run.commit()
    sw = accuracy(model, x, y)
    accs, errs = _evaluate(model, net, maps, x, y, engine)
    run.write_result("accuracy", accs, "1", software_accuracy=sw, times_s=np.asarray(t_s))
    run.write_result("layer_error", errs, "1", layers=json.dumps(list(net.layers)),
                     description="RMS(W_measured - W_target) / w_max per layer")
    run.set_status("complete")
    return Validation(run.path, np.asarray(t_s), accs, sw, errs, net.layers)


def validate_on_backends(model: nn.Module, x: torch.Tensor, y: torch.Tensor, make_backend,
                         out: str | Path, times_s: Sequence[float], *, mapping: str = "differential",
                         array_shape: tuple[int, int], max_arrays: int | None = 64,
                         g_range_S: tuple[float, float] | None = None, tol: float = 0.02,
                         tol_ref: str = "range",
                         station_text: str = "", seed: int | None = None,
                         overwrite: bool = False, progress: bool = False,
                         params: dict | None = None, engine: dict | None = None) -> Validation:
    """Program ``model`` onto arrays from ``make_backend(i)`` and validate at ``times_s``.

    ``make_backend(i)`` returns the backend of array ``i`` (all of ``array_shape``);
    ``engine``: keywords of :func:`hil.nn.mc.evaluate` (backend, workers, cluster).
    """
    times = np.asarray(sorted(float(t) for t in times_s))
    if times.size == 0 or np.any(times < 0):
        raise ParameterError(f"times {list(times_s)!r}: need one or more times >= 0 s")
    first = make_backend(0)
    if tuple(first.shape) != tuple(array_shape):
        raise ParameterError(f"backend shape {first.shape} != array_shape {array_shape}")
    if not getattr(first.clock, "virtual", False) and times[-1] > REAL_WAIT_MAX_S:
        raise ParameterError(f"times up to {times[-1]:g} s would be waited in real time on a "
                             f"'{first.kind}' station (limit {REAL_WAIT_MAX_S:g} s); read the maps "
                             "later with a retention run and validate them with --from-run")
    g_range = g_range_S or range_from_card(first.device)
    try:
        net = NetworkMap.build(model, mapping, g_range, array_shape, max_arrays)
    except ParameterError as exc:
        raise ParameterError(f"{exc} (a simulated station takes --array-shape RxC; "
                             "or raise --max-arrays)") from None
    if net.plan.n_arrays > 1 and first.kind != "sim":
        raise ParameterError(f"the model needs {net.plan.n_arrays} arrays of {array_shape}; a "
                             f"'{first.kind}' station has one: program array by array and use --from-run")
    out = Path(out)
    targets = net.target_arrays(model)
    run = _create_run(out, net, {**(params or {}), "mapping": mapping, "times_s": list(times),
                                 "tol": tol, "tol_ref": tol_ref,
                                 "g_range_S": list(g_range)},
                      station_text, first.kind, first.device, seed, overwrite)
    run.write_result("target_G_S", np.concatenate(list(targets)), "S", netmap=net.to_json())
    snaps = np.zeros((times.size, net.plan.n_arrays) + net.plan.array_shape)
    conv, pulses, state = (np.zeros_like(targets, dtype=bool), np.zeros_like(targets),
                           np.full(targets.shape, -1, np.int32))
    try:
        for i in range(net.plan.n_arrays):
            backend = first if i == 0 else make_backend(i)
            wv = out.with_name(f"{out.stem}.wv{i}.h5")
            prog = program_map(backend, targets[i], wv, g_range, tol=tol, tol_ref=tol_ref,
                               station_text=station_text, seed=seed, overwrite=overwrite,
                               progress=progress)
            conv[i], pulses[i], state[i] = prog.converged, prog.n_pulses, prog.state
            t0 = backend.clock.now()
            for k, t in enumerate(times):
                backend.wait(max(0.0, t0 + t - backend.clock.now()))
                snaps[k, i] = backend.read()
            backend.close()
    except BaseException as exc:
        run.set_status("failed", f"{type(exc).__name__}: {exc}")
        raise
    run.write_result("converged", np.concatenate(list(conv)), "1")
    run.write_result("n_pulses", np.concatenate(list(pulses)), "1")
    run.write_result("state", np.concatenate(list(state)), "1",
                     description="nearest write-verify level index; -1 = unused cell")
    stacked = snaps.reshape(times.size, -1, net.plan.array_shape[1])
    return _finish(run, net, model, times, stacked, x, y, engine)


def validate_from_run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, run_in: str | Path,
                      out: str | Path, *, mapping: str = "differential",
                      g_range_S: tuple[float, float] | None = None, overwrite: bool = False,
                      params: dict | None = None, engine: dict | None = None) -> Validation:
    """Validate with the maps of an existing run file (e.g. measured in a lab).

    A ``validate`` run carries its network map (used as is); for any other run the map is
    planned from ``model`` for one array of the run's shape (the layout `validate_on_backends`
    would program), with the conductance range of the run's device card."""
    src = Run.open(run_in)
    attrs = src.attrs
    t_s, maps = src.read_maps()
    if len(t_s) == 0:
        raise RunFileError(f"{str(run_in)!r} holds no conductance maps (/maps is empty)")
    try:
        net = NetworkMap.from_json(src.dataset_attrs("results/target_G_S")["netmap"])
    except (RunFileError, KeyError):
        g_range = g_range_S or range_from_card(attrs["device"])
        net = NetworkMap.build(model, mapping, g_range, attrs["shape"], max_arrays=1)
    rows = net.plan.n_arrays * net.plan.array_shape[0]
    if maps.shape[1:] != (rows, net.plan.array_shape[1]):
        raise ParameterError(f"{str(run_in)!r} maps are {maps.shape[1:]}; this model's mapping "
                             f"needs {(rows, net.plan.array_shape[1])}")
    run = _create_run(Path(out), net, {**(params or {}), "from_run": str(run_in)},
                      attrs.get("station", ""), attrs.get("backend", "?"), attrs["device"],
                      attrs.get("seed"), overwrite)
    run.write_result("target_G_S", np.concatenate(list(net.target_arrays(model))), "S",
                     netmap=net.to_json())
    for name in ("state", "converged", "n_pulses"):
        try:
            data = src.read_result(name)
        except RunFileError:
            continue
        if data.shape == (rows, net.plan.array_shape[1]):
            run.write_result(name, data, "1")
    return _finish(run, net, model, t_s, maps.astype(np.float64), x, y, engine)
