"""Data sets that need no download: scikit-learn digits, and MNIST-family idx files a user has.

All loaders return float32 image tensors (N, 1, H, W) scaled to [0, 1] and int64 labels.
"""
from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from hil.errors import ParameterError

# idx type codes (LeCun's format): code -> (numpy dtype, bytes)
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


@dataclass
class Split:
    """A fixed train/test split (tensors) with the number of classes."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    name: str = ""

    def loader(self, batch_size: int = 64, shuffle: bool = True, seed: int = 0,
               train: bool = True) -> DataLoader:
        """A DataLoader over the train (or test) part; shuffling is seeded."""
        x, y = (self.x_train, self.y_train) if train else (self.x_test, self.y_test)
        if batch_size < 1:
            raise ParameterError(f"batch_size={batch_size} must be >= 1")
        g = torch.Generator().manual_seed(seed)
        return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=g)


def load_digits_split(test_fraction: float = 0.2, seed: int = 0) -> Split:
    """scikit-learn's 8x8 digits (1797 images, bundled with sklearn), stratified fixed split.

    The default (20 %, seed 0) is the split every result in the docs uses: 1437 train, 360 test.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ParameterError(f"test_fraction={test_fraction} must be in (0, 1)")
    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=test_fraction,
                                          random_state=seed, stratify=d.target)
    return Split(torch.from_numpy(xtr), torch.from_numpy(ytr).long(), torch.from_numpy(xte),
                 torch.from_numpy(yte).long(), 10, "digits")


def read_idx(path: str | Path) -> np.ndarray:
    """Read one idx file (optionally .gz) into a numpy array with its stored shape."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"idx file {str(path)!r} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ParameterError(f"{str(path)!r} is not an idx file (bad magic {raw[:4]!r})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise ParameterError(f"{str(path)!r}: idx type code 0x{code:02x} unknown; allowed: "
                             + ", ".join(f"0x{c:02x}" for c in _IDX_TYPES))
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ParameterError(f"{str(path)!r}: truncated idx header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[code])
    count = int(np.prod(dims)) if dims else 1
    need = header + count * dtype.itemsize
    if len(raw) < need:
        raise ParameterError(f"{str(path)!r}: truncated idx data ({len(raw)} bytes, need {need})")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)


def _images_labels(images: str | Path, labels: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3:
        raise ParameterError(f"{str(images)!r}: expected (N, H, W) images, got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ParameterError(f"{str(labels)!r}: {y.shape} labels for {len(x)} images")
    scale = 255.0 if x.dtype == np.uint8 else max(float(np.abs(x).max()), 1e-12)
    return (torch.from_numpy(x.astype(np.float32) / scale)[:, None],
            torch.from_numpy(y.astype(np.int64)))


_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _find(root: Path, stem: str) -> Path:
    for cand in (root / stem, root / f"{stem}.gz", root / stem.replace("-idx", ".idx")):
        if cand.is_file():
            return cand
    raise ParameterError(f"{str(root)!r} has no {stem}[.gz]; an MNIST-family folder holds "
                         + ", ".join(s for pair in _NAMES.values() for s in pair))


def load_idx_dir(root: str | Path, name: str | None = None) -> Split:
    """MNIST / Fashion-MNIST / KMNIST style folder of idx files (standard file names)."""
    root = Path(root)
    if not root.is_dir():
        raise ParameterError(f"data folder {str(root)!r} does not exist")
    xtr, ytr = _images_labels(_find(root, _NAMES["train"][0]), _find(root, _NAMES["train"][1]))
    xte, yte = _images_labels(_find(root, _NAMES["test"][0]), _find(root, _NAMES["test"][1]))
    n_classes = int(max(ytr.max(), yte.max())) + 1
    return Split(xtr, ytr, xte, yte, n_classes, name or root.name)


def load_dataset(spec: str = "digits") -> Split:
    """``"digits"`` or a path to an MNIST-family idx folder."""
    if spec == "digits":
        return load_digits_split()
    if Path(spec).is_dir():
        return load_idx_dir(spec)
    raise ParameterError(f"data set {spec!r}: use 'digits' or a folder of MNIST-family idx files")
