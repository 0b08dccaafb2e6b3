"""Probe station emulator (MPI SENTIO remote commands): die stepping and contact.

Separating the chuck lifts the pads off the probes: the bench then passes no current and
pulses reach no device, exactly what a driver must notice on a real prober.
"""
from __future__ import annotations

import threading

from instruments.probe_station.commands import format_reply
from sim_backends.emulators.bench import Bench
from sim_backends.emulators.line import LineEmulator

IDN = "MPI Corporation,SENTIO,HILEMU0004,3.6.0"
DIE_PITCH_UM = 5000.0
CONTACT_Z_UM, SEPARATION_Z_UM = 10000.0, 9700.0


class ProbeStationEmulator(LineEmulator):
    name = "SENTIO"

    def __init__(self, bench: Bench, dies: tuple[int, int] = (10, 10),
                 lock: threading.RLock | None = None) -> None:
        super().__init__(lock or bench.lock)
        self.bench = bench
        self.dies = dies
        self.die = (0, 0, 0)
        self.z = CONTACT_Z_UM if bench.contact else SEPARATION_Z_UM

    def too_long(self) -> None:
        pass  # SENTIO answers every line; an over-long one just gets an error reply below

    def reject(self, line: str) -> str | None:
        return format_reply(2, "injected execution error")

    def handle(self, line: str) -> str | None:
        cmd, _, arg = line.partition(" ")
        cmd = cmd.lower()
        args = [a.strip() for a in arg.split(",")] if arg.strip() else []
        if cmd == "*idn?":
            return IDN
        if cmd == "*rcs":
            return None
        if cmd == "move_chuck_contact":
            self.bench.contact, self.z = True, CONTACT_Z_UM
            return format_reply(0, f"{self.z:g}")
        if cmd == "move_chuck_separation":
            self.bench.contact, self.z = False, SEPARATION_Z_UM
            return format_reply(0, f"{self.z:g}")
        if cmd == "get_chuck_xy":
            return format_reply(0, f"{self.die[0] * DIE_PITCH_UM:g},{self.die[1] * DIE_PITCH_UM:g}")
        if cmd == "get_chuck_z":
            return format_reply(0, f"{self.z:g}")
        if cmd == "map:die:get_current_index":
            return format_reply(0, f"{self.die[0]},{self.die[1]}")
        if cmd == "map:step_die":
            if len(args) not in (2, 3):
                return format_reply(7, "map:step_die needs column,row[,subsite]")
            try:
                col, row, sub = (int(a) for a in (args + ["0"])[:3])
            except ValueError:
                return format_reply(6, f"invalid die index {arg!r}")
            if not (0 <= col < self.dies[0] and 0 <= row < self.dies[1] and 0 <= sub < 16):
                return format_reply(8, f"die {col},{row} subsite {sub} is outside the map")
            if self.bench.contact:  # SENTIO separates before stepping
                self.bench.contact, self.z = False, SEPARATION_Z_UM
            self.die = (col, row, sub)
            return format_reply(0, f"{col},{row},{sub}")
        return format_reply(4, f"unknown command {cmd!r}")
