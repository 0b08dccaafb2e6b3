"""Run a protocol step by step into a run file, crash-safe and resumable.

After every batch the buffered events/maps and a checkpoint (protocol state, backend state,
last completed step) are committed together, so a crash or SIGKILL loses at most the batch in
flight and `resume` continues with exactly the events an uninterrupted run would have.
Ctrl-C finishes the current batch, commits it and marks the file ``interrupted``; an
exception marks it ``failed`` with the message.  A transient transport error is retried
only for protocols whose steps just read (`idempotent_steps`): a pulse is never repeated
silently; otherwise the run is marked ``interrupted`` so that the user decides to resume.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from tqdm.auto import tqdm

from hil.backend import Backend
from hil.errors import RunFileError, TransportError
from hil.store import Run
from protocols.base import Protocol, get_protocol

log = logging.getLogger(__name__)

#: test hook: SIGKILL this process right after committing batch number N (0-based)
KILL_ENV = "HIL_KILL_AFTER_BATCH"
MAX_READ_RETRIES = 3


class _Interrupt:
    """SIGINT handler that lets the current batch finish (a second Ctrl-C aborts at once)."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


@contextmanager
def _graceful_sigint() -> Iterator[_Interrupt]:
    flag = _Interrupt()
    try:
        previous = signal.signal(signal.SIGINT, flag)
    except ValueError:  # not in the main thread: no graceful handling possible
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def run_protocol(protocol: str | type[Protocol], backend: Backend, out: str | Path,
                 params: dict[str, Any] | None = None, *, station_text: str = "",
                 seed: int | None = None, overwrite: bool = False, progress: bool = True,
                 batch_steps: int | None = None) -> Path:
    """Run ``protocol`` on ``backend`` into a new run file ``out``; returns its path.

    Parameters are validated before the file is created, so bad input leaves nothing behind.
    """
    cls = get_protocol(protocol) if isinstance(protocol, str) else protocol
    proto = cls(backend, **(params or {}))
    run = Run.create(out, protocol=cls.name, params=proto.values, station_text=station_text,
                     backend=backend.kind, device=backend.device, seed=seed,
                     shape=backend.shape, overwrite=overwrite)
    if batch_steps is not None:
        run.set_status("running", batch_steps=int(batch_steps))
    _claim(run)
    try:
        proto.start(run)
        run.commit()
    except BaseException as exc:
        run.set_status("failed", f"{type(exc).__name__}: {exc}")
        raise
    return _drive(proto, run, backend, first_step=0, progress=progress, batch_steps=batch_steps)


def resume(path: str | Path, *, progress: bool = True, backend: Backend | None = None) -> Path:
    """Continue an interrupted, failed or killed run from its last checkpoint."""
    run = Run.open(path)
    attrs = run.attrs
    if attrs["status"] == "complete":
        raise RunFileError(f"{str(run.path)!r} is already complete; nothing to resume")
    if attrs["status"] == "running" and _writer_alive(attrs):
        raise RunFileError(
            f"{str(run.path)!r} is being written by process {attrs.get('writer_pid')} on this host")
    if backend is None:
        from hil.station import Station

        backend = Station.from_text(attrs["station"]).make_backend(seed=attrs["seed"])
    cls = get_protocol(attrs["protocol"])
    proto = cls(backend, **attrs["params"])
    checkpoint = run.read_checkpoint()
    step = int(checkpoint.get("step", -1))
    if step >= 0:
        proto.load_state_dict(checkpoint.get("protocol", {}))
        backend.load_state_dict(checkpoint.get("backend", {}))
    else:  # killed before the first batch: start over exactly as a new run would
        proto.start(run)
    run.set_status("running", f"resumed after step {step}")
    _claim(run)
    return _drive(proto, run, backend, first_step=step + 1, progress=progress,
                  batch_steps=attrs.get("batch_steps"))


def _claim(run: Run) -> None:
    run.set_status("running", None, writer_pid=os.getpid(), writer_host=socket.gethostname())


def _writer_alive(attrs: dict[str, Any]) -> bool:
    pid, host = attrs.get("writer_pid"), attrs.get("writer_host")
    if not pid or host != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _drive(proto: Protocol, run: Run, backend: Backend, *, first_step: int, progress: bool,
           batch_steps: int | None) -> Path:
    n = proto.n_steps()
    per_batch = max(1, int(batch_steps or proto.batch_steps))
    kill_after = os.environ.get(KILL_ENV)
    bar = tqdm(total=n, initial=first_step, desc=proto.name, unit="step", disable=not progress,
               dynamic_ncols=True, leave=False)
    i = first_step
    try:
        with _graceful_sigint() as interrupt:
            while i < n:
                last = min(n, i + per_batch - (i % per_batch)) - 1  # batches align to step numbers
                while i <= last:
                    _step_with_retry(proto, run, i)
                    i += 1
                    bar.update(1)
                run.commit({"step": last, "protocol": proto.state_dict(),
                            "backend": backend.state_dict()})
                for message in backend.fault_events():
                    _log_fault(run, last, message)
                if kill_after is not None and last // per_batch == int(kill_after):
                    os.kill(os.getpid(), signal.SIGKILL)
                if interrupt.requested and i < n:
                    run.set_status("interrupted", f"Ctrl-C after step {last}; `hil resume {run.path}`")
                    raise KeyboardInterrupt
            proto.finish(run)
            run.commit()
            run.set_status("complete", None, finished_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    except KeyboardInterrupt:
        if run.status == "running":
            run.set_status("interrupted", f"interrupted during step {i}; `hil resume {run.path}`")
        raise
    except TransportError as exc:
        run.set_status("interrupted", f"transport error at step {i} (pulses are never repeated "
                       f"automatically; check the setup, then `hil resume {run.path}`): {exc}")
        raise
    except BaseException as exc:
        run.set_status("failed", f"{type(exc).__name__} at step {i}: {exc}")
        raise
    finally:
        bar.close()
    return run.path


def _step_with_retry(proto: Protocol, run: Run, i: int) -> None:
    for attempt in range(MAX_READ_RETRIES + 1):
        try:
            proto.step(i, run)
            return
        except TransportError as exc:
            if not (proto.idempotent_steps and exc.transient) or attempt == MAX_READ_RETRIES:
                raise
            log.warning("step %d: transient transport error, retrying read (%s)", i, exc)
            _log_fault(run, i, f"retry {attempt + 1}: {exc}")


def _log_fault(run: Run, step: int, message: str) -> None:
    attrs = run.attrs
    faults = attrs.get("faults")
    entries = json.loads(faults) if isinstance(faults, str) else []
    entries.append({"step": step, "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "message": message})
    run.set_status(attrs["status"], attrs.get("message"), faults=entries)
