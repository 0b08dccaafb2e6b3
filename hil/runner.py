"""Run a protocol step by step into a run file: atomic batches, resumable, every pulse kept.

After every batch the buffered events/maps, the pulse ledger and a checkpoint (protocol
state, backend state, last completed step) are committed as one atomic, durable commit
(`hil.store`), so a crash or SIGKILL at any moment loses at most the batch in flight and
`resume` continues with exactly the events an uninterrupted run would have.  A batch is
committed early once it has run ``checkpoint_s`` of wall time (default: the protocol's,
60 s), so slow steps never put more than that at risk; where the commits fall does not
change the run's results.

- Ctrl-C, SIGTERM and SIGHUP finish the current batch, commit it, mark the file
  ``interrupted`` and raise `RunInterrupted` (exit 128 + signal); a second one stops the
  step at once (the batch is not written; commits are never cut by a signal).  Real-clock
  waits (retention gaps) end within 0.1 s.
- An exception marks the file ``failed`` (``interrupted`` for a transport error: a pulse is
  never repeated automatically); every stop is a row in ``/history``.
- On a bench (`Backend.device_persists`) every step is its own batch, and the commit
  record holds the device's pulse counter: that is the write-ahead record of the step in
  flight.  On resume the counter tells whether that step's pulses reached the device; if
  they did they are entered in ``/pulses`` and the protocol continues from the measured
  state (``settle``) instead of applying them again.
- On a real clock, resume sets the clock from the run's wall-clock epoch, so t_s stays the
  true time since t = 0 and the outage is recorded.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from tqdm.auto import tqdm

from hil import clock as _clock
from hil.backend import Backend
from hil.errors import DiskFullError, RunFileError, RunInterrupted, TransportError
from hil.store import EVENT_DTYPE, Run, check_output_path, free_bytes
from protocols.base import Protocol, get_protocol

if TYPE_CHECKING:
    from hil.station import Station

log = logging.getLogger(__name__)

#: test hook: SIGKILL this process right after committing batch number N (0-based)
KILL_ENV = "HIL_KILL_AFTER_BATCH"
MAX_READ_RETRIES = 3
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


class _Stop:
    """Handler for Ctrl-C / SIGTERM / SIGHUP: the first lets the batch finish (and ends real
    waits), the second stops the step at once."""

    def __init__(self) -> None:
        self.signum = 0

    def __call__(self, signum: int, frame: Any) -> None:
        if self.signum:
            raise RunInterrupted(f"{signal.Signals(signum).name} again: stopped at once", signum)
        self.signum = signum
        _clock.request_stop(signum)


@contextmanager
def _stop_signals() -> Iterator[_Stop]:
    stop = _Stop()
    _clock.clear_stop()
    previous = {}
    try:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, stop)
    except ValueError:  # not in the main thread: no graceful handling possible
        yield stop
        return
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _clock.clear_stop()


def run_protocol(protocol: str | type[Protocol], backend: Backend, out: str | Path,
                 params: dict[str, Any] | None = None, *, station: "Station | None" = None,
                 overwrite: bool = False, progress: bool = True,
                 batch_steps: int | None = None, checkpoint_s: float | None = None,
                 fsync: bool = True) -> Path:
    """Run ``protocol`` on ``backend`` into a new run file ``out``; returns its path.

    ``station`` gives the provenance stored in the file (its TOML text and seed; `resume`
    rebuilds the backend from it).  Parameters are validated before the file is created,
    so bad input leaves nothing behind.  ``fsync=False`` (benchmarks only) keeps commits
    atomic against a killed process but not against a power cut.
    """
    cls = get_protocol(protocol) if isinstance(protocol, str) else protocol
    proto = cls(backend, **(params or {}))
    out = Path(out)
    check_output_path(out, overwrite)
    if batch_steps is not None and int(batch_steps) < 1:
        raise RunFileError(f"batch_steps={batch_steps!r}; allowed: an integer >= 1")
    if checkpoint_s is not None and not float(checkpoint_s) >= 0:
        raise RunFileError(f"checkpoint_s={checkpoint_s!r}; allowed: a wall time >= 0 s")
    _warn_free_space(proto, backend, out)
    seed = getattr(backend, "seed", None)
    if seed is None and station is not None:
        seed = station.seed
    extra = {"t0_utc_epoch_s": time.time() - backend.clock.now(),
             "pulse_count_start": _count(backend), "n_steps": int(proto.n_steps())}
    if batch_steps is not None:
        extra["batch_steps"] = int(batch_steps)
    if checkpoint_s is not None:
        extra["checkpoint_s"] = float(checkpoint_s)
    run = Run.create(out, protocol=cls.name, params=proto.values,
                     station_text=station.text if station is not None else "",
                     backend=backend.kind, device=backend.device, seed=seed,
                     shape=backend.shape, overwrite=overwrite, attrs=extra)
    with run.writing(fsync), _stop_signals() as stop:
        run.log_history("start", f"pid {os.getpid()} on {socket.gethostname()}", -1)
        try:
            proto.start(run)
            run.commit()
        except BaseException as exc:
            run.discard_pending()
            _stopped(run, "failed", f"{type(exc).__name__} before the first step: {exc}", -1)
            raise
        return _drive(proto, run, backend, stop, first_step=0, progress=progress,
                      batch_steps=batch_steps, checkpoint_s=checkpoint_s)


def resume(path: str | Path, *, progress: bool = True, backend: Backend | None = None,
           fsync: bool = True) -> Path:
    """Continue an interrupted, failed or killed run from its last commit.

    Refused while another process writes the file (the OS writer lock, never a PID).
    Without ``backend`` one is built from the station stored in the file (and closed at
    the end)."""
    run = Run.open(path)
    if run.status == "complete":  # checked before taking the lock: the file stays untouched
        raise RunFileError(f"{str(run.path)!r} is already complete; nothing to resume")
    with run.writing(fsync):
        attrs = run.attrs
        if attrs["status"] == "complete":
            raise RunFileError(f"{str(run.path)!r} is already complete; nothing to resume")
        own = backend is None
        if own:
            from hil.station import Station

            backend = Station.from_text(attrs["station"]).make_backend(seed=attrs["seed"])
        with backend if own else nullcontext(backend), _stop_signals() as stop:
            return _resume(run, attrs, backend, progress, stop)


def _resume(run: Run, attrs: dict[str, Any], backend: Backend, progress: bool,
            stop: _Stop) -> Path:
    cls = get_protocol(attrs["protocol"])
    proto = cls(backend, **attrs["params"])
    cp = run.read_checkpoint()
    step = int(cp.get("step", -1))
    if step >= 0:
        proto.load_state_dict(cp.get("protocol", {}))
        backend.load_state_dict(cp.get("backend", {}))
    else:  # killed before the first batch: start over exactly as a new run would
        proto.start(run)
    notes = [f"after step {step}"]
    if attrs["status"] == "running":  # nobody recorded the stop: the writer died
        notes.append("the previous writer stopped without a record (killed, crashed or power "
                     "lost); its batch in flight was not committed")
    outage = _true_time(backend, attrs, cp)
    if outage is not None:
        notes.append(f"{outage:.3f} s since the last commit; the clock continues as the true "
                     "time since t = 0")
    first = _settle(run, proto, backend, attrs, cp, step + 1)
    run.log_history("resume", "; ".join(notes), step)
    run.commit()
    run.set_status("running", f"resumed after step {step}", inflight="")
    return _drive(proto, run, backend, stop, first_step=first, progress=progress,
                  batch_steps=attrs.get("batch_steps"), checkpoint_s=attrs.get("checkpoint_s"))


def _true_time(backend: Backend, attrs: dict[str, Any], cp: dict[str, Any]) -> float | None:
    """On a real clock, set it so that t_s is the true time since the run's t = 0; returns
    the outage (s since the last commit), None on a virtual clock."""
    clk = backend.clock
    epoch = attrs.get("t0_utc_epoch_s")
    if getattr(clk, "virtual", True) or epoch is None:
        return None
    now_s = time.time() - float(epoch)
    last = cp.get("backend", {}).get("clock_t_s")
    clk.set(now_s)
    return None if last is None else max(0.0, now_s - float(last))


def _settle(run: Run, proto: Protocol, backend: Backend, attrs: dict[str, Any],
            cp: dict[str, Any], first: int) -> int:
    """Account for pulses of the step in flight that reached a bench but not the file;
    returns the step to continue from."""
    if not backend.device_persists or first >= proto.n_steps():
        return first
    inflight = json.loads(attrs["inflight"]) if attrs.get("inflight") else {}
    base = cp.get("pulse_count") if "pulse_count" in cp else attrs.get("pulse_count_start")
    now = _count(backend)
    applied: int | None = None
    if backend.pulse_counter_persists and now is not None and base is not None and now >= base:
        applied = now - int(base)
    elif inflight.get("before") is not None and inflight.get("after") is not None:
        applied = int(inflight["after"]) - int(inflight["before"])
    if applied == 0:
        return first
    if applied is None:
        if not inflight and attrs.get("status") != "running":
            return first  # stopped cleanly between steps: nothing was in flight
        run.record_pulses(first, -1, "unknown")
        run.log_history("fault", f"step {first} was in flight; the device has no pulse counter, "
                        "so how many of its pulses were applied is unknown (-1 in /pulses)", first)
        return first
    run.record_pulses(first, applied, "unrecorded")
    settle = getattr(proto, "settle", None)
    nxt = settle(first, applied, run) if settle is not None else first
    run.log_history("fault", f"{applied} pulse(s) of step {first} reached the device before the "
                    "interruption but not the file: entered in /pulses; continuing from the "
                    f"measured state at step {nxt}", first)
    if nxt > first:
        run.commit({"step": nxt - 1, "protocol": proto.state_dict(),
                    "backend": backend.state_dict(), "pulse_count": now})
    else:
        run.commit()
    return nxt


def _count(backend: Backend) -> int | None:
    try:
        return backend.pulse_count()
    except Exception:  # a counter we cannot read is an unknown count, not a failure
        return None


def _drive(proto: Protocol, run: Run, backend: Backend, stop: _Stop, *, first_step: int,
           progress: bool, batch_steps: int | None, checkpoint_s: float | None = None) -> Path:
    n = proto.n_steps()
    per_batch = 1 if backend.device_persists else max(1, int(batch_steps or proto.batch_steps))
    interval_s = float(proto.checkpoint_s if checkpoint_s is None else checkpoint_s)
    t_commit = time.monotonic()
    kill_after = os.environ.get(KILL_ENV)
    bar = tqdm(total=n, initial=first_step, desc=proto.name, unit="step", disable=not progress,
               dynamic_ncols=True, leave=False)
    i = first_step
    before: int | None = None
    try:
        while i < n:
            last = min(n, i + per_batch - (i % per_batch)) - 1  # batches align to step numbers
            while i <= last:
                before = _count(backend)
                _step_with_retry(proto, run, i)
                after = _count(backend)
                if before is not None and after is not None and after != before:
                    run.record_pulses(i, after - before)
                before = None
                i += 1
                bar.update(1)
                if i <= last and time.monotonic() - t_commit >= interval_s:
                    last = i - 1     # a long batch: commit what it has done
            for message in backend.fault_events():
                run.log_fault(last, message)
            run.commit({"step": last, "protocol": proto.state_dict(),
                        "backend": backend.state_dict(), "pulse_count": _count(backend)})
            t_commit = time.monotonic()
            if kill_after is not None and last // per_batch == int(kill_after):
                os.kill(os.getpid(), signal.SIGKILL)
            if stop.signum and i < n:
                name = signal.Signals(stop.signum).name
                _stopped(run, "interrupted", f"{name} after step {last}; `hil resume {run.path}`",
                         last, kind="interrupt")
                raise RunInterrupted(f"{name}: stopped after step {last}", stop.signum)
        proto.finish(run)
        run.log_history("complete", f"{n} steps", n - 1)
        run.commit()
        run.set_status("complete", None, finished_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    except DiskFullError:
        raise  # nothing more can be written; the file holds the last commit (status running)
    except RunInterrupted as exc:
        if run.status == "running":
            _abandon(run, backend, i, before)
            name = signal.Signals(exc.signum).name if exc.signum else "interrupt"
            _stopped(run, "interrupted", f"{name} during step {i} ({exc}); `hil resume {run.path}`",
                     i, kind="interrupt")
        raise
    except KeyboardInterrupt:
        if run.status == "running":
            _abandon(run, backend, i, before)
            _stopped(run, "interrupted", f"interrupted during step {i}; `hil resume {run.path}`",
                     i, kind="interrupt")
        raise RunInterrupted(f"interrupted during step {i}", signal.SIGINT) from None
    except TransportError as exc:
        _abandon(run, backend, i, before)
        _stopped(run, "interrupted", f"transport error at step {i} (pulses are never repeated "
                 f"automatically; check the setup, then `hil resume {run.path}`): {exc}", i)
        raise
    except BaseException as exc:
        _abandon(run, backend, i, before)
        _stopped(run, "failed", f"{type(exc).__name__} at step {i}: {exc}", i)
        raise
    finally:
        bar.close()
    return run.path


def _abandon(run: Run, backend: Backend, step: int, before: int | None) -> None:
    """Drop the rows of the batch that did not complete; on a bench, note what the device
    counter says the step in flight applied (read by `_settle` on resume)."""
    run.discard_pending()
    try:
        for message in backend.fault_events():
            run.log_fault(step, message)
    except Exception:  # the faults list is a convenience; never mask the real error
        pass
    if backend.device_persists and before is not None:
        try:
            run.set_status(run.status, run.attrs.get("message"),
                           inflight={"step": step, "before": before, "after": _count(backend)})
        except RunFileError:
            pass


def _stopped(run: Run, status: str, message: str, step: int, kind: str = "fault") -> None:
    """Record why the run stopped: a /history row and the status, in one commit (best
    effort: a full disk leaves the last commit)."""
    try:
        run.log_history(kind, message, step)
        run.commit()
        run.set_status(status, message)
    except RunFileError as exc:
        log.error("could not record the stop in %s: %s", run.path, exc)


def _step_with_retry(proto: Protocol, run: Run, i: int) -> None:
    for attempt in range(MAX_READ_RETRIES + 1):
        try:
            proto.step(i, run)
            return
        except TransportError as exc:
            if not (proto.idempotent_steps and exc.transient) or attempt == MAX_READ_RETRIES:
                raise
            log.warning("step %d: transient transport error, retrying read (%s)", i, exc)
            run.log_fault(i, f"retry {attempt + 1}: {exc}")


def _warn_free_space(proto: Protocol, backend: Backend, out: Path) -> None:
    """Warn when the disk has less free space than the run is expected to need."""
    need = expected_bytes(proto, backend)
    if need is None:
        return
    try:
        free = free_bytes(out)
    except OSError:
        return
    if free < 1.2 * need:
        import sys
        print(f"hil: warning: only {free / 1e6:.1f} MB free for {out}; the run needs about "
              f"{need / 1e6:.1f} MB (a full disk stops it cleanly; resume after freeing space)",
              file=sys.stderr)


def expected_bytes(proto: Protocol, backend: Backend) -> int | None:
    """Rough size of a run's data where the protocol's shape tells it (maps and events)."""
    rows, cols = backend.shape
    p = proto.p
    maps = int(getattr(p, "n_snapshots", 0) or 0) * rows * cols * 4
    mask = getattr(proto, "mask", None)
    cells = int(mask.sum()) if mask is not None and hasattr(mask, "sum") else 1
    events = proto.n_steps() * max(1, cells) * EVENT_DTYPE.itemsize if mask is not None else 0
    return maps + events or None
