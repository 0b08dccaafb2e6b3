"""Progress and throughput across all chunks of one or many Monte-Carlo jobs."""
from __future__ import annotations

import time


class Progress:
    """One progress bar (tqdm, with ETA) shared by several :func:`hil.nn.mc.evaluate` calls.

    Give the expected total up front (``total``) or let each call add its instances; the
    bar advances per finished chunk.  :meth:`summary` is the final line: instances
    evaluated, instances/s (computed ones only; instances taken from a journal are counted
    apart) and the backends used.
    """

    def __init__(self, total: int | None = None, enabled: bool = True,
                 desc: str = "instances") -> None:
        self.total = total
        self.enabled = enabled
        self.desc = desc
        self.computed = 0
        self.resumed = 0
        self.backends: list[str] = []
        self._fixed_total = total is not None
        self._bar = None
        self._t0: float | None = None
        self._busy_s = 0.0

    def _ensure_bar(self) -> None:
        if self.enabled and self._bar is None:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=self.total, desc=self.desc, unit="inst", leave=False,
                             dynamic_ncols=True, smoothing=0.1)

    def begin(self, n: int, backend: str) -> None:
        """A job of ``n`` instances starts on ``backend``."""
        if backend not in self.backends:
            self.backends.append(backend)
        if not self._fixed_total:
            self.total = (self.total or 0) + n
            if self._bar is not None:
                self._bar.total = self.total
                self._bar.refresh()
        self._ensure_bar()
        self._t0 = time.perf_counter()

    def skip(self, n: int) -> None:
        """``n`` instances were already finished (read from the journal)."""
        self.resumed += n
        if self._bar is not None:
            self._bar.update(n)

    def advance(self, n: int) -> None:
        """``n`` more instances were computed."""
        self.computed += n
        if self._bar is not None:
            self._bar.update(n)

    def end(self) -> None:
        """The current job finished (its time counts towards instances/s)."""
        if self._t0 is not None:
            self._busy_s += time.perf_counter() - self._t0
            self._t0 = None

    def close(self) -> None:
        """Remove the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    @property
    def seconds(self) -> float:
        """Wall time spent inside jobs."""
        return self._busy_s

    @property
    def rate(self) -> float:
        """Computed instances per second of job time."""
        return self.computed / self._busy_s if self._busy_s > 0 else float("nan")

    def summary(self) -> str:
        """'evaluated N instances in T s (R instances/s, backend B)'."""
        extra = f", {self.resumed} more from the journal" if self.resumed else ""
        return (f"evaluated {self.computed} instances in {self.seconds:.2f} s "
                f"({self.rate:.1f} instances/s, backend {'+'.join(self.backends) or '-'}{extra})")
