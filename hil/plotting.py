"""`hil plot`: each protocol draws its own view; this file only sets up the figure and saves it."""
from __future__ import annotations

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
        fig.tight_layout()
        fig.savefig(png, dpi=dpi)
    finally:
        plt.close(fig)


#: run files written by analyses, not protocols: ``protocol`` attr -> "module:function", each
#: called as ``function(run_path, png)`` and drawing its own figure
ANALYSIS_VIEWS: dict[str, str] = {"validate": "hil.nn.validate_plot:plot_validate",
                                  "bnn_xor": "hil.nn.bnn_plot:plot_xor"}


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
