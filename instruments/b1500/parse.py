"""Pure parsers of B1500A replies."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from hil.errors import InstrumentError
from instruments._line import parse_error_reply
from instruments.b1500 import constants as k

_DATUM_RE = re.compile(r"^([A-Z])([A-Za-z])([A-Z])([+-]\d{3}\.\d{3}E[+-]\d{2})$")


@dataclass(frozen=True)
class Datum:
    """One FMT 1 datum: ``NAI+000.005E-09`` -> status N, channel 1, type I, 5e-12."""

    status: str
    channel: int
    kind: str
    value: float

    @property
    def ok(self) -> bool:
        """True for status N (or sweep step W/E)."""
        return self.status in k.STATUS_OK

    @property
    def compliance(self) -> bool:
        """This channel (C) or another (T) reached its compliance."""
        return self.status in ("C", "T")

    @property
    def overflow(self) -> bool:
        """Over range / aborted: the value is the dummy 199.999E+99 and means nothing."""
        return self.status == "V" or self.value >= k.DUMMY_VALUE

    @property
    def si(self) -> float:
        """The value, NaN where it has no meaning (overflow)."""
        return math.nan if self.overflow else self.value


def parse_datum(token: str) -> Datum:
    """Parse one ``FMT 1`` field (``NAI+000.005E-09``)."""
    m = _DATUM_RE.match(token.strip())
    if not m:
        raise InstrumentError(f"cannot parse B1500 datum {token!r}: expected FMT 1 "
                              "'<status><channel><type>±ddd.dddE±dd', e.g. 'NAI+000.005E-09'")
    status, letter, kind, num = m.groups()
    if status not in k.STATUS:
        raise InstrumentError(f"unknown B1500 status {status!r} in {token!r}")
    return Datum(status, k.letter_channel(letter), kind, float(num))


def parse_data(reply: str) -> list[Datum]:
    """Parse a comma separated FMT 1 reply (spot, sweep or sampling data)."""
    reply = reply.strip()
    if not reply:
        raise InstrumentError("empty B1500 data reply")
    return [parse_datum(t) for t in reply.split(",")]


def parse_errx(reply: str) -> tuple[int, str]:
    """``+0,"No Error."`` -> (0, 'No Error.')."""
    return parse_error_reply(reply)


def parse_unt(reply: str) -> list[tuple[str, int]]:
    """``UNT?`` -> [(model, revision)] for the ten slots; ('0', 0) for an empty slot."""
    slots = [s for s in reply.strip().split(";")]
    if len(slots) != k.N_SLOTS:
        raise InstrumentError(f"UNT? reply has {len(slots)} slots, expected {k.N_SLOTS}: {reply!r}")
    out = []
    for s in slots:
        try:
            model, rev = s.split(",")
            out.append((model.strip(), int(rev)))
        except ValueError as exc:
            raise InstrumentError(f"cannot parse UNT? slot {s!r} in {reply!r}") from exc
    return out


def modules(reply: str) -> dict[int, str]:
    """``UNT?`` -> {slot: kind} for installed modules (kind e.g. 'HRSMU', 'SPGU')."""
    return {slot: k.MODULE_KINDS.get(model, model)
            for slot, (model, _rev) in enumerate(parse_unt(reply), start=1) if model != "0"}


def parse_opc(reply: str) -> bool:
    """``*OPC?`` -> True when '1'."""
    if reply.strip() not in ("0", "1", "+1", "+0"):
        raise InstrumentError(f"unexpected *OPC? reply {reply!r}: expected 1")
    return reply.strip().lstrip("+") == "1"


def parse_spst(reply: str) -> bool:
    """``SPST?`` -> True while the SPGU is busy (1), False when stopped/complete (0)."""
    r = reply.strip()
    if r not in ("0", "1"):
        raise InstrumentError(f"unexpected SPST? reply {reply!r}: expected 0 or 1")
    return r == "1"


def parse_lrn0(reply: str) -> list[int]:
    """``*LRN? 0`` -> enabled channels: ``CN1,2,101`` -> [1, 2, 101]; ``CL`` -> []."""
    r = reply.strip()
    if r == "CL":
        return []
    if not r.startswith("CN"):
        raise InstrumentError(f"unexpected *LRN? 0 reply {reply!r}: expected CN<chs> or CL")
    try:
        return [int(x) for x in r[2:].replace(" ", "").split(",") if x]
    except ValueError as exc:
        raise InstrumentError(f"cannot parse channels in *LRN? 0 reply {reply!r}") from exc


_LRN_RE = re.compile(r"^\s*([A-Z]+)\s*(.*?)\s*$")


def parse_lrn(reply: str) -> list[tuple[str, list[str]]]:
    """``*LRN?`` -> [(command, params)]: ``WM2,2;WT1.0,0.0,0.0,0.0,0.0`` ->
    [('WM', ['2', '2']), ('WT', ['1.0', ...])].  The instrument lists each setting as the
    command that sets it, ``;``-separated, with or without a space after the header."""
    out = []
    for part in filter(None, (x.strip() for x in reply.strip().split(";"))):
        m = _LRN_RE.match(part)
        if not m:
            raise InstrumentError(f"cannot parse *LRN? entry {part!r} in {reply!r}")
        head, rest = m.groups()
        out.append((head, [x.strip() for x in rest.split(",")] if rest else []))
    return out


def parse_numbers(reply: str, n: int, what: str) -> tuple[float, ...]:
    """``+0.0E+00,+1.0E-06`` -> (0.0, 1e-06); InstrumentError unless exactly ``n`` numbers."""
    try:
        vals = tuple(float(x) for x in reply.strip().split(","))
    except ValueError as exc:
        raise InstrumentError(f"{what}: expected {n} numbers, got {reply!r}") from exc
    if len(vals) != n:
        raise InstrumentError(f"{what}: expected {n} numbers, got {reply!r}")
    return vals
