"""`hil plot`: each protocol draws its own view; this file only sets up the figure and saves it."""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Iterator

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hil.store import Run  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@contextmanager
def saved_figure(png: str | Path | BinaryIO, *, figsize: tuple[float, float] = (7.5, 5),
                 dpi: int = 120) -> Iterator["Figure"]:
    """A figure that is laid out and saved to ``png`` when the block succeeds, and always closed
    (so long plotting loops do not leak memory)."""
    fig = plt.figure(figsize=figsize)
    try:
        yield fig
        with warnings.catch_warnings():  # colourbar axes: tight_layout still lays out the rest
            warnings.filterwarnings("ignore", "This figure includes Axes", UserWarning)
            fig.tight_layout()
        fig.savefig(png, dpi=dpi)
    finally:
        plt.close(fig)


#: run files written by analyses, not protocols: ``protocol`` attr -> "module:function", each
#: called as ``function(run_path, png)`` and drawing its own figure
ANALYSIS_VIEWS: dict[str, str] = {"validate": "hil.nn.validate_plot:plot_validate",
                                  "bnn_xor": "hil.nn.bnn_plot:plot_xor"}


def color_scale(fig: "Figure", ax, values, label: str, cmap: str = "viridis"):  # noqa: ANN001
    """Colours for ``values`` and a colourbar beside ``ax`` that names them (instead of a
    legend entry per curve); returns one RGBA colour per value."""
    import numpy as np
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    values = np.asarray(values, dtype=float)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    norm = Normalize(lo, hi if hi > lo else lo + 1.0)
    mappable = ScalarMappable(norm, plt.get_cmap(cmap))
    fig.colorbar(mappable, ax=ax, label=label, fraction=0.05, pad=0.02)
    return mappable.to_rgba(values)


def plot_run(path: str | Path, png: str | Path | BinaryIO, dpi: int = 130) -> Path | BinaryIO:
    """Render the protocol's standard view of run file ``path`` into ``png`` (a path, or a
    binary file object such as `io.BytesIO`, which is returned as it is)."""
    from protocols.base import get_protocol

    run = Run.open(path)
    view = ANALYSIS_VIEWS.get(run.attrs.get("protocol"))
    if view is not None:
        import importlib

        module, func = view.split(":")
        getattr(importlib.import_module(module), func)(path, png)
        return png if hasattr(png, "write") else Path(png)
    cls = get_protocol(run.attrs["protocol"])
    with saved_figure(png, dpi=dpi) as fig:
        cls.plot(run, fig)
    return png if hasattr(png, "write") else Path(png)
