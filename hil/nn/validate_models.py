"""Models that `hil validate` accepts: built-in names (trained on the spot, seeded) or a
checkpoint file written by `save_model`.

Checkpoint format (``torch.save`` of a dict): ``format="hil-model"``, ``arch`` (one of
`ARCHS`), ``kwargs`` (constructor arguments), ``state_dict``, ``data`` (data set spec for
`hil.nn.datasets.load_dataset`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from hil.errors import ParameterError
from hil.nn.datasets import Split, load_dataset

BUILTIN = ("digits-mlp", "digits-cnn")
ARCHS = ("mlp", "small_cnn", "resnet20")
FORMAT = "hil-model"


def mlp(sizes: list[int]) -> nn.Sequential:
    """Flatten, then Linear(+bias)-ReLU layers; the last Linear gives the logits."""
    if len(sizes) < 2:
        raise ParameterError(f"mlp sizes={sizes!r}: need >= 2 layer widths")
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def build(arch: str, kwargs: dict[str, Any]) -> nn.Module:
    """Construct an untrained model of ``arch``."""
    if arch == "mlp":
        return mlp(list(kwargs["sizes"]))
    if arch == "small_cnn":
        from hil.nn.models import small_cnn
        return small_cnn(**kwargs)
    if arch == "resnet20":
        from hil.nn.models import resnet20
        return resnet20(**kwargs)
    raise ParameterError(f"model architecture {arch!r} unknown; allowed: {', '.join(ARCHS)}")


def save_model(path: str | Path, model: nn.Module, arch: str, kwargs: dict[str, Any],
               data: str = "digits") -> Path:
    """Write a checkpoint `load_model` reads."""
    torch.save({"format": FORMAT, "arch": arch, "kwargs": kwargs,
                "state_dict": model.state_dict(), "data": data}, path)
    return Path(path)


def _train_builtin(name: str, split: Split, seed: int,
                   show_progress: bool = False) -> tuple[nn.Module, str, dict]:
    from hil.nn.train import train_epochs

    torch.manual_seed(seed)
    if name == "digits-mlp":
        arch, kwargs, epochs, lr = "mlp", {"sizes": [64, 64, 10]}, 40, 1e-2
    else:
        arch, kwargs, epochs, lr = "small_cnn", {"width": 8}, 15, 1e-2
    model = build(arch, kwargs)
    train_epochs(model, split.loader(64, seed=seed), epochs, lr=lr, show_progress=show_progress,
                 desc=f"training {name}")
    return model.eval(), arch, kwargs


def load_model(spec: str, seed: int = 0,
               show_progress: bool = False) -> tuple[nn.Module, Split, dict[str, Any]]:
    """(model in eval mode, its data split, description) for a built-in name or a file
    (``show_progress``: a progress bar with ETA while a built-in model trains)."""
    if spec in BUILTIN:
        split = load_dataset("digits")
        model, arch, kwargs = _train_builtin(spec, split, seed, show_progress)
        return model, split, {"model": spec, "arch": arch, "kwargs": kwargs, "data": "digits"}
    path = Path(spec)
    if not path.is_file():
        raise ParameterError(f"model {spec!r}: not a file and not a built-in model "
                             f"({', '.join(BUILTIN)})")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling error means "not a checkpoint"
        raise ParameterError(f"model file {spec!r} is not a torch checkpoint: {exc}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ParameterError(f"model file {spec!r} is not a hil model checkpoint "
                             f"(format={FORMAT!r}; write one with hil.nn.validate_models.save_model)")
    model = build(ckpt["arch"], ckpt["kwargs"])
    model.load_state_dict(ckpt["state_dict"])
    split = load_dataset(ckpt.get("data", "digits"))
    return model.eval(), split, {"model": str(path), "arch": ckpt["arch"],
                                 "kwargs": ckpt["kwargs"], "data": ckpt.get("data", "digits")}
