"""Fault injection for emulators: what a flaky bench does to a driver.

``emu.faults.add("timeout", on="TI")`` drops the reply to the next command starting with
``TI`` (the command still runs); kinds:

- ``timeout``     the command runs, its reply is never sent
- ``partial``     the command runs, only the first half of the reply is sent (no terminator)
- ``garble``      the command runs, the reply bytes are corrupted
- ``error``       the command is rejected with the instrument's error (not executed)
- ``compliance``  the next measurement reports a compliance hit
- ``disconnect``  the connection drops before the command runs
"""
from __future__ import annotations

from dataclasses import dataclass

KINDS = ("timeout", "partial", "garble", "error", "compliance", "disconnect")


@dataclass
class Fault:
    kind: str
    on: str = ""        # command prefix (text) or message name (binary); "" = any
    count: int = 1      # how many times it fires
    after: int = 0      # matching commands to let through first


class FaultPlan:
    """Pending faults of one emulator (thread-safe enough: used under the bench lock)."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []
        self.fired: list[tuple[str, str]] = []

    def add(self, kind: str, on: str = "", count: int = 1, after: int = 0) -> None:
        """Fire ``kind`` ``count`` times on commands starting with ``on``, after ``after`` of them."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; allowed: {list(KINDS)}")
        self.pending.append(Fault(kind, on.upper(), count, after))

    def take(self, command: str, kinds: tuple[str, ...]) -> str | None:
        """The kind of the first pending fault among ``kinds`` matching ``command`` (consumed)."""
        head = command.strip().upper()
        for f in self.pending:
            if f.kind in kinds and head.startswith(f.on):
                if f.after > 0:
                    f.after -= 1
                    continue
                f.count -= 1
                if f.count <= 0:
                    self.pending.remove(f)
                self.fired.append((f.kind, command))
                return f.kind
        return None


def garble(reply: bytes) -> bytes:
    """Corrupt a reply but keep its terminator so the reader sees a complete bad line/frame."""
    if not reply:
        return reply
    body, term = (reply[:-1], reply[-1:]) if reply[-1:] in (b"\n", b"\x00") else (reply, b"")
    bad = bytes((b ^ 0x5A) or 0x01 for b in body)  # never creates a 0x00 delimiter
    return bad.replace(b"\n", b"\x7f") + term


def partial(reply: bytes) -> bytes:
    """First half of a reply, without its terminator."""
    return reply[: max(1, len(reply) // 2)].rstrip(b"\r\n\x00")
