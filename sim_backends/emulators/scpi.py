"""Base of the SCPI emulators: error queue, IEEE 488.2 status registers and common commands,
and dispatch of program messages through a per-instrument command table
(`sim_backends.emulators.scpi_parser`).

Common commands (IEEE 488.2 ch. 10): ``*CLS *ESE *ESE? *ESR? *IDN? *OPC *OPC? *RST *SRE
*SRE? *STB? *TST? *WAI *TRG``.  Every emulated operation is complete when its command
returns, so ``*OPC?`` answers ``1`` at once and ``*OPC`` sets the Operation Complete bit.
Errors set the Standard Event Status bits of their class (-1xx command error 32, -2xx
execution error 16, -3xx device error 8, -4xx query error 4).
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Callable

from sim_backends.emulators.line import LineEmulator

SCPI_ERRORS = {
    0: "No error",
    -100: "Command error",
    -102: "Syntax error",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -121: "Invalid character in number",
    -221: "Settings conflict",
    -222: "Data out of range",
    -223: "Too much data",
    -224: "Illegal parameter value",
    -350: "Queue overflow",
}


class ScpiError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class ErrorQueue:
    """SCPI error/event queue: FIFO; when full the newest entry becomes -350."""

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

    def __len__(self) -> int:
        return len(self.q)


#: handler(emulator, suffixes, query, params) -> reply or None
Handler = Callable[..., "str | None"]


def esr_bit(code: int) -> int:
    """Standard Event Status bit of an error code."""
    return {1: 32, 2: 16, 3: 8, 4: 4}.get(-code // 100, 8) if code < 0 else 8


class ScpiEmulator(LineEmulator):
    """A SCPI instrument; subclasses set `IDN`, `COMMANDS` (pattern, handler) and `reset`."""

    IDN = "emulator"
    #: (SCPI pattern, handler) of the instrument's own subsystems, compiled on first use
    COMMANDS: tuple[tuple[str, Handler], ...] = ()
    _compiled: list | None = None

    def __init__(self, lock: threading.RLock | None = None) -> None:
        super().__init__(lock)
        self.err = ErrorQueue()
        self.esr = self.ese = self.sre = 0

    @classmethod
    def table(cls) -> list:
        if cls.__dict__.get("_compiled") is None:
            from sim_backends.emulators.scpi_parser import compile_pattern
            cls._compiled = [(compile_pattern(p), fn) for p, fn in cls.COMMANDS]
        return cls._compiled

    def reset(self) -> None:  # pragma: no cover - instrument specific
        pass

    def trigger(self) -> None:
        """``*TRG`` (bus trigger); default: nothing to trigger."""

    def changed(self, channel: int) -> None:
        """A setting of ``channel`` changed (apply it to the bench); default: nothing."""

    # -- errors ----------------------------------------------------------------------------
    def error(self, code: int) -> None:
        self.err.push(code)
        self.esr |= esr_bit(code)

    def too_long(self) -> None:
        self.error(-223)

    def reject(self, line: str) -> str | None:
        self.error(-100)
        return None

    # -- dispatch --------------------------------------------------------------------------
    def handle(self, line: str) -> str | None:
        from sim_backends.emulators.scpi_parser import match, parse_message, split_tokens

        replies = []
        for unit in parse_message(line):
            try:
                if isinstance(unit, ScpiError):
                    raise unit
                if unit.header.startswith("*"):
                    r = self.common(unit.header, unit.query, unit.params)
                else:
                    tokens = split_tokens(unit.header)
                    for nodes, fn in self.table():
                        suffixes = match(nodes, tokens)
                        if suffixes is not None:
                            r = fn(self, suffixes, unit.query, list(unit.params))
                            break
                    else:
                        raise ScpiError(-113)
            except ScpiError as e:
                self.error(e.code)
                continue
            if r is not None:
                replies.append(r)
        return ";".join(replies) if replies else None

    def common(self, header: str, query: bool, params: tuple[str, ...]) -> str | None:
        """IEEE 488.2 common commands."""
        from sim_backends.emulators.scpi_parser import number

        def none() -> None:
            if params:
                raise ScpiError(-108)

        key = header + ("?" if query else "")
        if key in ("*ESE", "*SRE"):
            if len(params) != 1:
                raise ScpiError(-109 if not params else -108)
            v = number(params[0])
            if not 0 <= v <= 255:
                raise ScpiError(-222)
            setattr(self, key[1:].lower(), int(v))
            return None
        none()
        if key == "*IDN?":
            return self.IDN
        if key == "*OPC?":
            return "1"
        if key == "*OPC":
            self.esr |= 1
            return None
        if key == "*WAI":
            return None
        if key == "*TST?":
            return "+0"
        if key == "*RST":
            self.reset()
            return None
        if key == "*CLS":
            self.err.clear()
            self.esr = 0
            return None
        if key == "*TRG":
            self.trigger()
            return None
        if key == "*ESR?":
            v, self.esr = self.esr, 0
            return f"+{v}"
        if key == "*ESE?":
            return f"+{self.ese}"
        if key == "*SRE?":
            return f"+{self.sre}"
        if key == "*STB?":
            stb = (4 if len(self.err) else 0) | (32 if self.esr & self.ese else 0)
            stb |= 64 if stb & self.sre else 0
            return f"+{stb}"
        raise ScpiError(-113)

    # -- helpers for handlers --------------------------------------------------------------
    @staticmethod
    def args(params: list[str], lo: int, hi: int) -> list[str]:
        if len(params) < lo:
            raise ScpiError(-109)
        if len(params) > hi:
            raise ScpiError(-108)
        return params

    def system(self, suffixes, query, params):
        """``SYSTem:ERRor[:NEXT]?``."""
        if not query:
            raise ScpiError(-113)
        self.args(params, 0, 0)
        return self.err.pop()

    def system_version(self, suffixes, query, params):
        if not query:
            raise ScpiError(-113)
        return "1999.0"
