"""Declarative SCPI settings: one table row = a setter and its query, per channel.

`number`, `choice` and `switch` build handlers for `ScpiEmulator.COMMANDS` that store the
value in ``emulator.ch[suffix][key]`` (or ``emulator.state[key]`` for ``channel=False``)
after checking it, and answer the query in the instrument's reply format.  ``MIN``,
``MAX`` and ``DEF`` are accepted wherever a number is.
"""
from __future__ import annotations

from typing import Any, Callable

from sim_backends.emulators.scpi import ScpiError
from sim_backends.emulators.scpi_parser import boolean, compile_pattern, nr3
from sim_backends.emulators.scpi_parser import number as parse_number


def _store(emu: Any, suffixes: list[int], channel: bool) -> dict:
    if not channel:
        return emu.state
    ch = suffixes[0] if suffixes else 1
    if ch not in emu.ch:
        raise ScpiError(-113)  # e.g. SOURce3 on a two-channel generator
    return emu.ch[ch]


def number(key: str, lo: float, hi: float, default: float, channel: bool = True,
           integer: bool = False, allow_inf: bool = False,
           after: Callable[[Any, int, float], None] | None = None,
           get: Callable[[Any, dict], float] | None = None):
    """A numeric setting in ``lo..hi``; ``after(emu, ch, value)`` applies couplings."""
    def handler(emu, suffixes, query, params):
        store = _store(emu, suffixes, channel)
        if query:
            if params and params[0].strip().upper()[:3] in ("MIN", "MAX", "DEF"):
                v = {"MIN": lo, "MAX": hi, "DEF": default}[params[0].strip().upper()[:3]]
                return nr3(v)
            emu.args(params, 0, 0)
            return nr3(get(emu, store) if get else store[key])
        (text,) = emu.args(params, 1, 1)
        v = parse_number(text, lo, hi, default)
        if allow_inf and v >= 9.9e37:
            v = 9.9e37
        elif not lo <= v <= hi:
            raise ScpiError(-222)
        if integer:
            v = float(round(v))
        if after is not None:
            after(emu, suffixes[0] if (channel and suffixes) else 1, v)
        else:
            store[key] = v
        emu.changed(suffixes[0] if (channel and suffixes) else 1)
        return None
    return handler


def choice(key: str, options: tuple[str, ...], channel: bool = True):
    """An enumerated setting; ``options`` in manual notation (``TRIGgered``); replies use
    the short form, as SCPI instruments do."""
    nodes = [compile_pattern(o)[0] for o in options]

    def handler(emu, suffixes, query, params):
        store = _store(emu, suffixes, channel)
        if query:
            emu.args(params, 0, 0)
            return store[key]
        (text,) = emu.args(params, 1, 1)
        word = text.strip().strip("'\"")
        for n in nodes:
            if n.accepts(word):
                store[key] = n.short
                emu.changed(suffixes[0] if (channel and suffixes) else 1)
                return None
        raise ScpiError(-224)
    return handler


def switch(key: str, channel: bool = True):
    """An ON/OFF setting; the query answers ``1`` or ``0``."""
    def handler(emu, suffixes, query, params):
        store = _store(emu, suffixes, channel)
        if query:
            emu.args(params, 0, 0)
            return "1" if store[key] else "0"
        (text,) = emu.args(params, 1, 1)
        store[key] = boolean(text)
        emu.changed(suffixes[0] if (channel and suffixes) else 1)
        return None
    return handler


def action(fn: Callable[[Any, list[int], list[str]], None]):
    """A command without a query (``PHASe:SYNChronize``, ``DISPlay:TEXT:CLEar``)."""
    def handler(emu, suffixes, query, params):
        if query:
            raise ScpiError(-113)
        fn(emu, suffixes, params)
        return None
    return handler
