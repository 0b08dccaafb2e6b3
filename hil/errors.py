"""Errors a user can act on.  The CLI prints them as one line and exits non-zero."""


class HilError(Exception):
    """Base class: the message names the bad value and what is allowed."""


class ParameterError(HilError, ValueError):
    """A protocol, device or CLI parameter is out of range or unknown."""


class RunFileError(HilError):
    """A run file is missing, not HDF5, truncated, or in the wrong state for the request."""


class StationError(HilError):
    """A station file is malformed or names something that does not exist."""


class InstrumentError(HilError):
    """An instrument reported an error or answered something we cannot parse."""


class TransportError(HilError):
    """The connection to an instrument failed (timeout, disconnect, garbled frame).

    ``transient`` errors may be retried for reads; writes (pulses) are never repeated.
    """

    def __init__(self, message: str, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class WriterBusyError(RunFileError):
    """Another process holds the run file's writer lock (a run or resume is in progress)."""


class DiskFullError(RunFileError):
    """A commit could not be written (disk full or I/O error); the file holds the last commit."""


class RunDamagedError(RunFileError):
    """A checksum failed: the file's bytes changed after they were written (bit flip, bad disk)."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP stopped a run; the CLI exits with 128 + ``signum``."""

    def __init__(self, message: str = "interrupted", signum: int = 2) -> None:
        super().__init__(message)
        self.signum = signum
