"""`hil plot`: each protocol draws its own view; this file only sets up the figure and saves it."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hil.store import Run  # noqa: E402


def plot_run(path: str | Path, png: str | Path, dpi: int = 130) -> Path:
    """Render the protocol's standard view of run file ``path`` into ``png``."""
    from protocols.base import get_protocol

    run = Run.open(path)
    cls = get_protocol(run.attrs["protocol"])
    fig = plt.figure(figsize=(7.5, 5))
    try:
        cls.plot(run, fig)
        fig.tight_layout()
        png = Path(png)
        fig.savefig(png, dpi=dpi)
    finally:
        plt.close(fig)
    return png
