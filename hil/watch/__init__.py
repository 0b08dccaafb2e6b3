"""Live view of a run file in the browser (`hil watch`): `snapshot` reads, `server` serves."""
from hil.watch.server import WatchServer

__all__ = ["WatchServer"]
