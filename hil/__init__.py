"""hil: hardware-in-the-loop framework for analog in-memory computing research."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hil-aimc")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
