"""Search output: an HDF5 result file with provenance, and the Pareto-front plot.

File layout (``format = "hil-cim-search"``)::

    /                 attrs: format, format_version, hil_version, created_utc, command, params
                      (JSON), space (JSON), unit (JSON), error_model (JSON), model (JSON),
                      budget (JSON), seed
    /reference        INT8: acc (n_instances,) [1], latency_s [s]
    /evaluations/     every configuration any searcher scored: w_bits, a_bits (n, layers) [bit],
                      latency_s [s], energy_J [J], acc (n, n_instances) [1]
    /pareto/index     rows of /evaluations on the (latency, mean accuracy) front
    /searchers/NAME/  w_bits, a_bits (layers,) [bit], trace (k, 3) [evals, s, pp];
                      attrs latency_s, speedup, acc_mean, acc_std, loss_mean_pp, loss_std_pp,
                      feasible, regret, evaluated, wall_s, config
"""
from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hil import __version__
from hil.cim.search.objective import Budget, Evaluation
from hil.cim.search.pareto import pareto_front
from hil.errors import ParameterError

FORMAT = "hil-cim-search"
FORMAT_VERSION = 1


def _json(obj: Any) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, float) and not math.isfinite(o):
            return str(o)
        return str(o)
    return json.dumps(obj, default=default)


def all_evaluations(objectives) -> list[Evaluation]:
    """Union of the configurations scored by the given objectives (first occurrence)."""
    seen: dict = {}
    for ob in objectives:
        for cfg, ev in ob.cache.items():
            seen.setdefault(cfg, ev)
    return list(seen.values())


def _ds(group: h5py.Group, name: str, data: Any, units: str) -> None:
    ds = group.create_dataset(name, data=np.asarray(data))
    ds.attrs["units"] = units


def write_result(path: str | Path, *, problem, budget: Budget, results: dict, rows: list[dict],
                 objectives: dict, params: dict, command: str = "",
                 overwrite: bool = False) -> Path:
    """Write the search result file (refuses to replace one unless ``overwrite``)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ParameterError(f"output file {str(path)!r} exists; choose another path or pass "
                             "--overwrite")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ParameterError(f"cannot write {str(path)!r}: directory {str(parent)!r} does not exist")
    evals = all_evaluations(objectives.values())
    ref = next(iter(objectives.values())).reference
    em = problem.error_model
    with h5py.File(path, "w") as f:
        a = f.attrs
        a["format"], a["format_version"] = FORMAT, FORMAT_VERSION
        a["hil_version"] = __version__
        a["created_utc"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        a["command"], a["params"] = command, _json(params)
        a["space"], a["unit"] = _json(problem.space.describe()), _json(problem.cost.describe())
        a["unit_sources"] = _json(getattr(problem.cost.unit, "sources", {}))
        a["error_model"] = _json(em.describe() if em is not None else {"source": "none"})
        a["model"], a["budget"] = _json(problem.description or {}), _json(budget.describe())
        a["seed"], a["mode"], a["n_instances"] = problem.seed, problem.mode, \
            (problem.n_instances if em is not None else 1)
        g = f.create_group("reference")
        _ds(g, "acc", ref.acc, "1")
        _ds(g, "latency_s", ref.latency_s, "s")
        g = f.create_group("evaluations")
        _ds(g, "w_bits", np.array([[w for w, _ in e.config] for e in evals], np.int16), "bit")
        _ds(g, "a_bits", np.array([[b for _, b in e.config] for e in evals], np.int16), "bit")
        _ds(g, "latency_s", np.array([e.latency_s for e in evals]), "s")
        _ds(g, "energy_J", np.array([problem.cost.energy_J(e.config) for e in evals]), "J")
        _ds(g, "acc", np.array([e.acc for e in evals]), "1")
        front = pareto_front([e.latency_s for e in evals], [e.acc_mean for e in evals])
        _ds(f.create_group("pareto"), "index", front, "")
        sg = f.create_group("searchers")
        for row in rows:
            res = results[row["searcher"]]
            h = sg.create_group(row["searcher"])
            _ds(h, "w_bits", np.array([w for w, _ in res.pick.config], np.int16), "bit")
            _ds(h, "a_bits", np.array([b for _, b in res.pick.config], np.int16), "bit")
            tr = np.array(res.trace, dtype=np.float64).reshape(-1, 3)
            ds = h.create_dataset("trace", data=tr)
            ds.attrs["units"] = _json(["configs", "s", "pp"])
            ds.attrs["columns"] = _json(["evaluated", "best_latency_s", "best_loss_pp"])
            for k, v in row.items():
                h.attrs[k] = v if isinstance(v, (str, bool, int)) else float(v)
            h.attrs["info"] = _json(res.info)  # e.g. HAWQ's repair_steps / 'infeasible' note
    return path


def plot_front(png: str | Path, *, objectives: dict, results: dict, budget: Budget,
               title: str = "") -> Path:
    """Latency vs accuracy of every scored configuration, the Pareto front, each searcher's
    pick (± σ over device-noise instances) and the budget."""
    from hil.plotting import saved_figure

    evals = all_evaluations(objectives.values())
    ob = next(iter(objectives.values()))
    lat8 = ob.latency_int8_s
    lat = np.array([e.latency_s for e in evals]) / lat8
    acc = np.array([e.acc_mean for e in evals]) * 100
    front = pareto_front(lat, acc)
    markers = dict(int8="s", int4="D", greedy="^", hawq="v", rl="*", exhaustive="o")
    with saved_figure(png, figsize=(7.5, 5)) as fig:
        ax = fig.add_subplot(111)
        ax.scatter(lat, acc, s=6, color="0.75", label=f"scored configurations ({len(evals)})")
        ax.step(lat[front], acc[front], where="post", color="k", lw=1.2, label="Pareto front")
        for name, res in results.items():
            e = res.pick
            ax.errorbar(e.latency_s / lat8, e.acc_mean * 100, yerr=e.acc_std * 100,
                        marker=markers.get(name, "x"), ms=9 if name != "rl" else 12,
                        ls="none", capsize=3, label=f"{name}: {lat8 / e.latency_s:.2f}×")
        if budget.kind == "accuracy":
            ax.axhline(ob.reference.acc_mean * 100 - budget.max_loss_pp, color="tab:red",
                       ls="--", lw=1, label=f"budget: INT8 − {budget.max_loss_pp:g} pp "
                                             f"(on mean + {budget.z:g}·σ/√n)")
        else:
            ax.axvline(budget.max_latency_ratio, color="tab:red", ls="--", lw=1,
                       label=f"budget: {budget.max_latency_ratio:g} × INT8 latency")
        ax.set_xlabel("latency / uniform INT8 latency")
        ax.set_ylabel("accuracy (%), mean over device-noise instances")
        lo = max(float(np.percentile(acc, 5)) - 2, float(acc.min()))
        ax.set_ylim(lo, float(acc.max()) + 0.5)
        ax.set_title(title)
        ax.legend(fontsize=7, loc="lower right")
    return Path(png)
