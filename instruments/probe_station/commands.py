"""Pure builders/parsers for MPI SENTIO remote commands.

Every SENTIO reply is ``<code>,<cmd id>,<message>``; the low 10 bits of ``code`` are the
error code (0 = no error), bit 10 flags the last die and bit 11 the last subsite.
"""
from __future__ import annotations

from dataclasses import dataclass

from hil.errors import InstrumentError
from instruments._line import fmt_num

ERRORS = {0: "NoError", 1: "InternalError", 2: "ExecutionError", 3: "CommandHandlerNotFound",
          4: "InvalidCommand", 5: "InvalidCommandFormat", 6: "InvalidParameter",
          7: "InvalidNumberOfParameters", 8: "ArgumentOutOfBounds", 12: "InvalidOperation"}
LAST_DIE = 1 << 10
LAST_SUBSITE = 1 << 11


@dataclass(frozen=True)
class Reply:
    error: int
    status: int
    cmd_id: int
    message: str


def parse_reply(reply: str) -> Reply:
    """``0,0,1,2`` -> Reply(error=0, status=0, cmd_id=0, message='1,2')."""
    parts = reply.strip().split(",", 2)
    if len(parts) < 2:
        raise InstrumentError(f"cannot parse SENTIO reply {reply!r}: expected CODE,ID,MESSAGE")
    try:
        code, cmd_id = int(parts[0]), int(parts[1])
    except ValueError as exc:
        raise InstrumentError(f"cannot parse SENTIO reply {reply!r}: non-numeric code") from exc
    return Reply(code & 0x3FF, code & ~0x3FF, cmd_id, parts[2] if len(parts) > 2 else "")


def format_reply(error: int, message: str, status: int = 0, cmd_id: int = 0) -> str:
    """Inverse of `parse_reply` (used by the emulator)."""
    return f"{error | status},{cmd_id},{message}"


def floats(message: str, n: int) -> tuple[float, ...]:
    """Parse ``n`` comma separated numbers of a reply message."""
    try:
        vals = tuple(float(v) for v in message.split(","))
    except ValueError as exc:
        raise InstrumentError(f"expected {n} numbers in SENTIO reply, got {message!r}") from exc
    if len(vals) != n:
        raise InstrumentError(f"expected {n} numbers in SENTIO reply, got {message!r}")
    return vals


def idn() -> str: return "*IDN?"
def rcs_native() -> str: return "*RCS 1"
def step_die(col: int, row: int, subsite: int = 0) -> str:
    return f"map:step_die {int(col)},{int(row)},{int(subsite)}"
def current_die() -> str: return "map:die:get_current_index"
def contact() -> str: return "move_chuck_contact"
def separate() -> str: return "move_chuck_separation"
def chuck_xy() -> str: return "get_chuck_xy"
def chuck_z() -> str: return "get_chuck_z"
def move_xy(x_um: float, y_um: float) -> str: return f"move_chuck_xy zero,{fmt_num(x_um)},{fmt_num(y_um)}"
