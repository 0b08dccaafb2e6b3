"""Helpers shared by the SCPI emulators: header matching and the SCPI error queue."""
from __future__ import annotations

import re
from collections import deque

SCPI_ERRORS = {
    0: "No error",
    -100: "Command error",
    -102: "Syntax error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -121: "Invalid character in number",
    -222: "Data out of range",
    -223: "Too much data",
    -350: "Queue overflow",
}


class ErrorQueue:
    def __init__(self, size: int = 20) -> None:
        self.q: deque[int] = deque()
        self.size = size

    def push(self, code: int) -> None:
        if len(self.q) >= self.size:
            self.q[-1] = -350
        else:
            self.q.append(code)

    def pop(self) -> str:
        code = self.q.popleft() if self.q else 0
        return f'{code:+d},"{SCPI_ERRORS.get(code, "Error")}"'

    def clear(self) -> None:
        self.q.clear()


class ScpiError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def short_form(header: str) -> str:
    """``SOURce1:FUNCtion:PULSe:WIDTh`` style long forms -> canonical short upper form.

    Accepts short (``SOUR1:FUNC:PULS:WIDT``) and long (``SOURCE1:FUNCTION:PULSE:WIDTH``)
    mnemonics: each node is cut to its first 4 letters (3 when the 4th is a vowel, as
    SCPI does for e.g. ``BURSt``/``BURS``), keeping a numeric suffix.
    """
    nodes = []
    for node in header.strip().lstrip(":").upper().split(":"):
        m = re.fullmatch(r"([A-Z*]+\??)(\d*)(\??)", node)
        if not m:
            raise ScpiError(-113)
        word, num, q = m.groups()
        qq = "?" if word.endswith("?") or q else ""
        word = word.rstrip("?")
        if not word.startswith("*") and len(word) > 4:
            word = word[:4] if word[3] not in "AEIOU" else word[:3]
        nodes.append(word + num + qq)
    return ":".join(nodes)
