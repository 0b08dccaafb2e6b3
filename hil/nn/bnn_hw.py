"""BNN hidden weights on an MTT array: map (Eq 14), write-verify, read I_ts (Eq 15), infer.

The XOR network of MTT Fig. 5h-l: a 2x3x1 BNN trained with the ECRAM transfer function
(Eq 16) whose quantized hidden weights are programmed into MTT units through the
write-verify protocol; the binary weights are then read back as inference-transistor
currents with `Backend.mtt_read` and the network is evaluated with them.

I_ts,max (Eq 15) is calibrated on the array itself: two reference units programmed to
W_h = +1 and -1 give I_ts(+-1), and I_ts,max per branch = |I_ts(+-1)| / |f(+-1)| with f the
transfer function the network was trained with.  An explicit value (e.g. the extrapolated
``/fits/i_ts_max_A`` of an ``mtt_readout`` run) can be passed instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hil.backend import Backend
from hil.errors import ParameterError
from hil.nn.bnn import BNN
from hil.nn.bnn_train import evaluate, make_optimizer, predict, train_epoch
from hil.nn.mapping import MTTMapping
from hil.nn.mtt_transfer import transfer, w_b_limit
from hil.nn.program_maps import program_map
from hil.nn.tiling import TilePlan, plan_tiles

CALIB = "calib"


def xor_data(n: int, std: float = 0.2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Linearly non-separable XOR set (MTT Fig. 5h): Gaussian blobs at (+-1, +-1); class 1
    where the signs of x1 and x2 differ."""
    if n < 4:
        raise ParameterError(f"xor_data: n={n!r} must be >= 4")
    g = torch.Generator().manual_seed(seed)
    c = torch.randint(0, 4, (n,), generator=g)
    centers = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    return centers[c] + std * torch.randn(n, 2, generator=g), (c >= 2).long()


def train_xor(epochs: int = 25, lr: float = 0.005, m: float = 10.0, restarts: int = 8,
              n_train: int = 400, transfer_fn: str = "ecram", seed: int = 0,
              batch_size: int = 10, progress=None) -> tuple[BNN, float, list[float]]:
    """Train the 2x3x1 BNN (MTT Methods 4.9: lr 0.005, m 10, 3-bit hidden weights).

    A 3-unit binary net often lands in a poor local minimum, so ``restarts`` seeds are
    trained and the best on the training set is kept.  Returns (model, its training
    accuracy, training accuracy of every restart).  ``progress``: a bar (tqdm-like) advanced
    by one per epoch, ``restarts * epochs`` in all (a perfect restart ends early)."""
    x, y = xor_data(n_train, seed=seed)
    best, best_acc, accs = None, -1.0, []
    for k in range(restarts):
        torch.manual_seed(seed * 1000 + k)
        gen = torch.Generator().manual_seed(seed * 1000 + k)
        model = BNN((2, 3, 1), transfer_fn)
        opt = make_optimizer(model, lr=lr, m=m)
        for _ in range(epochs):
            train_epoch(model, opt, x, y, batch_size, generator=gen)
            if progress is not None:
                progress.update(1)
        acc = evaluate(model, x, y)
        accs.append(acc)
        if acc > best_acc:
            best, best_acc = model, acc
        if acc == 1.0:
            break
    return best, best_acc, accs


def layer_maps(model: BNN, mapping: MTTMapping) -> dict[str, np.ndarray]:
    """Target conductance maps of every layer's programmed (quantized) hidden weights, plus
    the calibration units W_h = +1, -1 (name ``calib``)."""
    maps = {f"fc{i}": mapping.encode(lin.level.detach().double().numpy())
            for i, lin in enumerate(model.binary)}
    maps[CALIB] = mapping.encode(np.array([[1.0], [-1.0]]))
    return maps


@torch.no_grad()
def forward_with(model: BNN, x: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
    """The BNN's eval-mode forward pass with given inference weights (out, in) per layer."""
    model.eval()
    last = len(model.binary) - 1
    for i, (w, bn) in enumerate(zip(weights, model.norms)):
        x = bn(x @ w.t().to(x.dtype))
        if i < last:
            x = torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))
    return x


@dataclass
class HardwareResult:
    """What the array gave back."""

    accuracy_software: float
    accuracy_measured: float          # binary weights from I_ts (Eq 15)
    accuracy_from_G: float            # binary weights f(W_h) with W_h from G (Eq 14)
    w_b_measured: list[np.ndarray]
    w_b_software: list[np.ndarray]
    w_h_measured: list[np.ndarray]
    i_ts_max_A: tuple[float, float]
    plan: TilePlan
    target_G_S: np.ndarray
    G_S: np.ndarray
    I_ts_A: np.ndarray
    write_verify_run: Path
    extra: dict = field(default_factory=dict)


def run_on_array(model: BNN, backend: Backend, x_test: torch.Tensor, y_test: torch.Tensor,
                 wv_out: str | Path, g_range_S: tuple[float, float],
                 bias: tuple[float, float, float] = (1.4, 0.6, 0.01),
                 i_ts_max_A: tuple[float, float] | None = None, tol: float = 0.02,
                 overwrite: bool = False, progress: bool = False) -> HardwareResult:
    """Map ``model``'s hidden weights onto ``backend`` (one array), write-verify (with a
    progress bar when ``progress``), read back."""
    mapping = MTTMapping(*g_range_S)
    maps = layer_maps(model, mapping)
    plan = plan_tiles({k: v.shape for k, v in maps.items()}, backend.shape, col_align=2,
                      max_arrays=1)
    target = plan.scatter(maps)[0]
    prog = program_map(backend, target, wv_out, g_range_S, tol=tol, overwrite=overwrite,
                       progress=progress)
    G = backend.read()
    i_units = np.asarray(backend.mtt_read(None, *bias), dtype=np.float64)   # (rows, cols//2)
    i_map = np.repeat(i_units, 2, axis=1)
    if i_map.shape[1] < G.shape[1]:
        i_map = np.pad(i_map, ((0, 0), (0, G.shape[1] - i_map.shape[1])), constant_values=np.nan)
    g_layers, i_layers = plan.gather(G[None]), plan.gather(i_map[None])
    f_pos, f_neg = w_b_limit(model.params)
    if i_ts_max_A is None:
        i_cal = i_layers[CALIB][0, 0::2]                    # units W_h = +1, -1
        if not (i_cal[0] > 0 > i_cal[1]):
            raise ParameterError(f"calibration units read I_ts = {i_cal} A; expected "
                                 "+ for W_h = +1 and - for W_h = -1 (programming failed?)")
        i_ts_max_A = (abs(i_cal[0]) / abs(f_pos), abs(i_cal[1]) / abs(f_neg))
    w_meas, w_soft, w_h_meas, w_from_g = [], [], [], []
    for i, lin in enumerate(model.binary):
        cur = i_layers[f"fc{i}"][:, 0::2].T                 # (out, in)
        w_meas.append(np.where(cur >= 0, cur / i_ts_max_A[0], cur / i_ts_max_A[1]))
        w_soft.append(lin.binary_weight().double().numpy())
        wh = mapping.decode(g_layers[f"fc{i}"])
        w_h_meas.append(wh)
        w_from_g.append(transfer(torch.as_tensor(wh), model.params).numpy())

    def acc(ws: list[np.ndarray]) -> float:
        out = forward_with(model, x_test, [torch.as_tensor(w) for w in ws])
        return float((predict(out) == y_test).double().mean())

    return HardwareResult(evaluate(model, x_test, y_test), acc(w_meas), acc(w_from_g), w_meas,
                          w_soft, w_h_meas, tuple(float(v) for v in i_ts_max_A), plan, target,
                          G, i_units, prog.run_path,
                          {"converged": float(prog.converged[np.isfinite(target)].mean())})


def write_xor_run(path: str | Path, res: HardwareResult, backend: Backend, params: dict,
                  station_text: str = "", seed: int | None = None, overwrite: bool = False) -> Path:
    """One run file (protocol ``bnn_xor``) with the target and measured maps, I_ts, the
    binary weights and the accuracies."""
    from hil.store import Run

    run = Run.create(path, protocol="bnn_xor", params=params, station_text=station_text,
                     backend=backend.kind, device=backend.device, seed=seed,
                     shape=tuple(res.G_S.shape), overwrite=overwrite)
    run.append_map(backend.clock.now(), res.G_S)
    run.commit()
    run.write_result("target_G_S", res.target_G_S, "S", tile_plan=res.plan.to_json(),
                     write_verify_run=str(res.write_verify_run))
    run.write_result("I_ts_A", res.I_ts_A, "A", i_ts_max_A=list(res.i_ts_max_A))
    for i, (wm, ws, wh) in enumerate(zip(res.w_b_measured, res.w_b_software, res.w_h_measured)):
        run.write_result(f"W_b_measured/fc{i}", wm, "1")
        run.write_result(f"W_b_software/fc{i}", ws, "1")
        run.write_result(f"W_h_measured/fc{i}", wh, "1")
    run.write_result("accuracy", np.array([res.accuracy_software, res.accuracy_measured,
                                           res.accuracy_from_G]), "1",
                     columns='["software", "measured I_ts (Eq 15)", "f(W_h from G, Eq 14)"]')
    run.set_status("complete")
    return Path(path)
