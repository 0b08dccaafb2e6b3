"""Data loaders: fixed digits split; MNIST-family idx files written by the test."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from hil.errors import ParameterError
from hil.nn.datasets import load_dataset, load_digits_split, load_idx_dir, read_idx


def test_digits_split_is_fixed_and_stratified():
    a, b = load_digits_split(), load_digits_split()
    assert a.x_train.shape == (1437, 1, 8, 8) and a.x_test.shape == (360, 1, 8, 8)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    assert 0.0 <= float(a.x_train.min()) and float(a.x_train.max()) <= 1.0
    counts = torch.bincount(a.y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37 and a.n_classes == 10
    xb, yb = next(iter(a.loader(64, seed=3)))
    assert xb.shape == (64, 1, 8, 8) and yb.dtype == torch.int64
    assert not torch.equal(load_digits_split(seed=1).x_test, a.x_test)


def _write_idx(path, arr: np.ndarray, code: int, gz: bool = False) -> None:
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


@pytest.fixture
def idx_dir(tmp_path):
    rng = np.random.default_rng(0)
    xtr = rng.integers(0, 256, (20, 6, 5), dtype=np.uint8)
    ytr = rng.integers(0, 4, 20).astype(np.uint8)
    xte = rng.integers(0, 256, (7, 6, 5), dtype=np.uint8)
    yte = np.array([0, 1, 2, 3, 3, 2, 1], dtype=np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", xtr, 0x08, gz=True)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", ytr, 0x08, gz=True)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", xte, 0x08)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", yte, 0x08)
    return tmp_path, xtr, ytr, xte, yte


def test_idx_folder_round_trip(idx_dir):
    root, xtr, ytr, xte, yte = idx_dir
    s = load_idx_dir(root)
    assert s.x_train.shape == (20, 1, 6, 5) and s.x_test.shape == (7, 1, 6, 5)
    np.testing.assert_allclose(s.x_train[:, 0].numpy(), xtr / 255.0, rtol=1e-6)
    assert s.y_test.tolist() == yte.tolist() and s.n_classes == 4
    assert load_dataset(str(root)).x_test.shape == (7, 1, 6, 5)


def test_idx_other_types(tmp_path):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    _write_idx(tmp_path / "f.idx", arr, 0x0D)
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), arr)
    arr16 = np.array([-3, 500], dtype=np.int16)
    _write_idx(tmp_path / "s.idx", arr16, 0x0B)
    assert read_idx(tmp_path / "s.idx").tolist() == [-3, 500]


def test_idx_errors(tmp_path, idx_dir):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(ParameterError, match="not an idx file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "code").write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ParameterError, match="type code 0x07"):
        read_idx(tmp_path / "code")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09\x00")
    with pytest.raises(ParameterError, match="truncated idx data"):
        read_idx(tmp_path / "short")
    with pytest.raises(ParameterError, match="does not exist"):
        read_idx(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="has no train-images-idx3-ubyte"):
        load_idx_dir(tmp_path / "empty")
    with pytest.raises(ParameterError, match="does not exist"):
        load_idx_dir(tmp_path / "missing")
    with pytest.raises(ParameterError, match="use 'digits' or a folder"):
        load_dataset("cifar10")
    with pytest.raises(ParameterError, match="test_fraction"):
        load_digits_split(test_fraction=1.5)
