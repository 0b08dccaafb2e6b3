"""The kernel threads: a compiled, GIL-free row/block kernel split over a thread pool.

Used by the simulator's array kernels (`sim_backends.devices.ecram_kernels`,
`sim_backends.devices.normals`), the verify decision (`protocols.ispp_kernel`) and plan
compilation (`hil.plan_kernel`).  Results never depend on the split (each item is
computed by the same code from its own inputs)."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Callable

import numba

__all__ = ["PARALLEL_MIN_WORK", "kernel_threads", "set_kernel_threads", "split_run"]

#: values (cells) below which a kernel call stays on the calling thread: handing work to
#: another thread costs ~10-50 us on idle cores, and up to a scheduler time slice when the
#: cores are shared, more than ~0.1 ms of work gains
PARALLEL_MIN_WORK = 1 << 16
_POOL: tuple[int, int, ThreadPoolExecutor] | None = None   # (owner pid, threads, pool)


_THREADS: int | None = None   # set_kernel_threads; None: NUMBA_NUM_THREADS


def kernel_threads() -> int:
    """Threads `split_run` uses: `set_kernel_threads`'s, else NUMBA_NUM_THREADS (numba's
    default, the CPUs).  numba's own threading layer is never started (no
    ``numba.get_num_threads``): its OpenMP layer shares libgomp with torch, resets torch's
    thread count when it starts, and its idle team slowed torch's ops in the same process by
    1.2-1.8x (the Monte-Carlo evaluation and ``torch.randn``, measured)."""
    return _THREADS if _THREADS is not None else int(numba.config.NUMBA_NUM_THREADS)


def set_kernel_threads(n: int | None) -> None:
    """Use ``n`` kernel threads (>= 1) from now on; None: back to NUMBA_NUM_THREADS."""
    global _THREADS
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"kernel threads {n!r}; allowed: an integer >= 1, or None")
    _THREADS = n


def _pool(workers: int) -> ThreadPoolExecutor:
    """The kernel threads (at least ``workers``), made anew in a forked child (a fork keeps
    only the forking thread, so the parent's pool would never run)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] < workers:
        _POOL = (os.getpid(), workers, ThreadPoolExecutor(workers, thread_name_prefix="kernel"))
    return _POOL[2]


def split_run(worker: Callable[..., Any], n_items: int, work: int, *args: Any) -> list[Any]:
    """``worker(i0, i1, *args)`` (an ``nogil`` njit function over the independent items
    i0:i1, e.g. rows or blocks) over 0:n_items, split in equal parts on
    `kernel_threads` threads (NUMBA_NUM_THREADS, `set_kernel_threads`) when
    ``work`` (values to compute) reaches `PARALLEL_MIN_WORK`; the calling thread runs the
    first part.  Returns the parts' results in order.  The items being independent and
    each computed by the same code, the results do not depend on the split.

    Python threads, not ``parallel=True``: the kernels compile once (a parfor wrapper
    compiles for longer than the kernel itself), and a forked child keeps working (GNU
    OpenMP, numba's default threading layer on Linux, terminates a forked child that
    launches a parallel region after its parent did)."""
    parts = min(kernel_threads(), n_items) if work >= PARALLEL_MIN_WORK else 1
    if parts <= 1:
        return [worker(0, n_items, *args)]
    cut = [n_items * i // parts for i in range(parts + 1)]
    pool = _pool(parts - 1)
    rest = [pool.submit(worker, cut[i], cut[i + 1], *args) for i in range(1, parts)]
    try:
        first = worker(cut[0], cut[1], *args)
    finally:    # the other parts end before the call does, whatever happens on this thread
        wait(rest)
    return [first] + [f.result() for f in rest]
