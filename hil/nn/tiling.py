"""Tiling of layer conductance maps over several physical arrays.

A layer's conductance map (rows = inputs, cols = output devices, see `hil.nn.mapping`) that
does not fit one array is cut into tiles of at most the array's size; tiles of all layers are
then packed onto arrays with first-fit-decreasing shelf packing.  Column cuts keep groups of
``col_align`` columns together (a differential pair or an MTT unit never straddles two
tiles or arrays).  Tiles cut along rows give partial sums that the digital periphery adds;
`TilePlan.gather` reassembles each layer's map from measured array maps, so the network sees
exactly what the arrays hold.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np

from hil.errors import ParameterError


@dataclass(frozen=True)
class Placement:
    """One tile: ``layer`` map[src_row0:+rows, src_col0:+cols] -> array[row0:+rows, col0:+cols]."""

    layer: str
    array: int
    row0: int
    col0: int
    src_row0: int
    src_col0: int
    rows: int
    cols: int


@dataclass(frozen=True)
class TilePlan:
    """Where every piece of every layer's map lives."""

    array_shape: tuple[int, int]
    n_arrays: int
    layer_shapes: dict[str, tuple[int, int]]
    placements: tuple[Placement, ...]

    def scatter(self, maps: Mapping[str, np.ndarray], fill: float = np.nan) -> np.ndarray:
        """Layer maps -> (n_arrays, rows, cols) array maps; unused cells get ``fill``."""
        out = np.full((self.n_arrays,) + self.array_shape, fill, dtype=np.float64)
        for name, shape in self.layer_shapes.items():
            if name not in maps:
                raise ParameterError(f"tiling: no map for layer {name!r}")
            if tuple(np.shape(maps[name])) != tuple(shape):
                raise ParameterError(f"tiling: layer {name!r} map has shape "
                                     f"{np.shape(maps[name])}, the plan expects {shape}")
        for p in self.placements:
            out[p.array, p.row0:p.row0 + p.rows, p.col0:p.col0 + p.cols] = \
                maps[p.layer][p.src_row0:p.src_row0 + p.rows, p.src_col0:p.src_col0 + p.cols]
        return out

    def gather(self, arrays: np.ndarray) -> dict[str, np.ndarray]:
        """(n_arrays, rows, cols) array maps (or rows stacked: (n_arrays*rows, cols)) ->
        layer maps."""
        arrays = self.unstack(arrays)
        out = {name: np.full(shape, np.nan) for name, shape in self.layer_shapes.items()}
        for p in self.placements:
            out[p.layer][p.src_row0:p.src_row0 + p.rows, p.src_col0:p.src_col0 + p.cols] = \
                arrays[p.array, p.row0:p.row0 + p.rows, p.col0:p.col0 + p.cols]
        return out

    def unstack(self, arrays: np.ndarray) -> np.ndarray:
        """Accept (n, R, C) or the row-stacked (n*R, C) form; return (n, R, C)."""
        arrays = np.asarray(arrays)
        r, c = self.array_shape
        if arrays.shape == (self.n_arrays, r, c):
            return arrays
        if arrays.shape == (self.n_arrays * r, c):
            return arrays.reshape(self.n_arrays, r, c)
        raise ParameterError(f"tiling: maps of shape {arrays.shape} do not match the plan "
                             f"({self.n_arrays} arrays of {r}x{c}, or {self.n_arrays * r}x{c})")

    def used_mask(self) -> np.ndarray:
        """(n_arrays, rows, cols) True where a layer's cell is placed."""
        m = np.zeros((self.n_arrays,) + self.array_shape, dtype=bool)
        for p in self.placements:
            m[p.array, p.row0:p.row0 + p.rows, p.col0:p.col0 + p.cols] = True
        return m

    def utilization(self) -> float:
        """Fraction of all array cells that hold a weight device."""
        return float(self.used_mask().mean())

    def to_json(self) -> str:
        """JSON text (stored in run files so measured maps can be decoded later)."""
        return json.dumps({"array_shape": list(self.array_shape), "n_arrays": self.n_arrays,
                           "layer_shapes": {k: list(v) for k, v in self.layer_shapes.items()},
                           "placements": [asdict(p) for p in self.placements]})

    @classmethod
    def from_json(cls, text: str) -> "TilePlan":
        """Inverse of `to_json`."""
        d = json.loads(text)
        return cls(tuple(d["array_shape"]), int(d["n_arrays"]),
                   {k: tuple(v) for k, v in d["layer_shapes"].items()},
                   tuple(Placement(**p) for p in d["placements"]))


def _cut(name: str, shape: tuple[int, int], array_shape: tuple[int, int], align: int
         ) -> list[tuple[str, int, int, int, int]]:
    """Tiles (layer, src_row0, src_col0, rows, cols) of at most the array size."""
    rows, cols = shape
    r_max = array_shape[0]
    c_max = array_shape[1] - array_shape[1] % align
    if cols % align:
        raise ParameterError(f"tiling: layer {name!r} has {cols} columns, not a multiple of "
                             f"the column group {align}")
    return [(name, r0, c0, min(r_max, rows - r0), min(c_max, cols - c0))
            for r0 in range(0, rows, r_max) for c0 in range(0, cols, c_max)]


def plan_tiles(layer_shapes: Mapping[str, tuple[int, int]], array_shape: tuple[int, int],
               col_align: int = 2, max_arrays: int | None = None) -> TilePlan:
    """Cut and pack layer maps onto as few arrays of ``array_shape`` as shelf packing finds.

    Raises `ParameterError` if more than ``max_arrays`` arrays would be needed.
    """
    r_arr, c_arr = (int(array_shape[0]), int(array_shape[1]))
    if r_arr < 1 or c_arr < col_align or col_align < 1:
        raise ParameterError(f"tiling: array shape {tuple(array_shape)} too small for column "
                             f"groups of {col_align}")
    tiles = [t for name, shape in layer_shapes.items()
             for t in _cut(name, tuple(shape), (r_arr, c_arr), col_align)]
    tiles.sort(key=lambda t: (-t[3], -t[4]))            # decreasing height, then width
    shelves: list[list[int]] = []                         # [array, y0, height, x_used]
    tops: list[int] = []                                  # used height per array
    placements = []
    for name, sr, sc, h, w in tiles:
        spot = None
        for shelf in shelves:
            if h <= shelf[2] and shelf[3] + w <= c_arr:
                spot = shelf
                break
        if spot is None:
            arr = next((a for a, top in enumerate(tops) if top + h <= r_arr), None)
            if arr is None:
                tops.append(0)
                arr = len(tops) - 1
            spot = [arr, tops[arr], h, 0]
            tops[arr] += h
            shelves.append(spot)
        placements.append(Placement(name, spot[0], spot[1], spot[3], sr, sc, h, w))
        spot[3] += w
    n = len(tops)
    if max_arrays is not None and n > max_arrays:
        raise ParameterError(f"tiling: the layers need {n} arrays of {r_arr}x{c_arr}; "
                             f"only {max_arrays} allowed")
    return TilePlan((r_arr, c_arr), n, {k: tuple(v) for k, v in layer_shapes.items()},
                    tuple(placements))


def resnet20_map_shapes(cols_per_weight: int = 2) -> dict[str, tuple[int, int]]:
    """Conductance-map shapes of ResNet-20 (CIFAR) layers, conv kernels unrolled to
    (C_in*k*k) rows x (C_out*cols_per_weight) columns (VeRA+ §IV-F: five 256x512 arrays)."""
    shapes = {"conv1": (3 * 9, 16 * cols_per_weight)}
    c_in = 16
    for stage, c in enumerate((16, 32, 64), start=1):
        for block in range(3):
            shapes[f"s{stage}b{block}c1"] = (c_in * 9, c * cols_per_weight)
            shapes[f"s{stage}b{block}c2"] = (c * 9, c * cols_per_weight)
            c_in = c
    shapes["fc"] = (64, 10 * cols_per_weight)
    return shapes
