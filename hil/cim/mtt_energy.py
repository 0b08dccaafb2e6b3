"""MTT in situ quantization energy vs a digital platform (MTT §2.6, Fig. 7k), from a run file.

MTT side (per weight = one cell of the run, extrapolated to an N-cell square array):

- programming: every pulse of the ``write_verify`` run's event log, at its logged voltage
  and width: ECRAM (three-terminal) E = |V|·I_gate·width (the gate current is assumed in
  ``data/cim/mtt_energy.toml``); RRAM (two-terminal) E = |V|·min(G·|V|, I_compliance)·width
  with G the cell's last verify read before the pulse (measured);
- verify reads: every logged read, E = V_read²·G·t_read, V_read from the device card,
  G the read value;
- in situ quantization: ``quantize_reads_per_weight`` reads of the programmed cell;
- periphery: P·T_program with T_program = rounds·√N·(width + t_read) (row-wise programming,
  rounds measured), shared by the √N cells of a row: this is what makes the advantage grow
  with N.

Digital side (A100 + 980 PRO, per weight): read the FP32 hidden weight from the SSD, move it
over PCIe, quantize on the GPU (memory-bound), write hidden and binary weights back.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from hil.errors import ParameterError, RunFileError

PUBLISHED = {"ecram": 25.51, "rram": 4.84}  # MTT §2.6, at 4 Mb
FOUR_MB = 4 * 2 ** 20


def load_energy_card(path: str | Path | None = None) -> dict:
    """The ``mtt_energy`` card (or a TOML file with the same tables)."""
    p = Path(path) if path else Path(str(resources.files("hil_data") / "cim" / "mtt_energy.toml"))
    with p.open("rb") as f:
        return tomllib.load(f)


@dataclass(frozen=True)
class MttRunEnergy:
    """Per-cell energies measured from one write_verify run."""

    device: str
    n_cells: int
    mean_pulses: float
    rounds: int
    width_s: float
    pulse_J: float        # programming pulses, per cell
    verify_J: float       # verify reads, per cell
    quantize_J: float     # in situ quantization reads, per cell
    t_read_s: float
    periphery_W: float

    def per_weight_J(self, n_cells: int) -> float:
        """MTT energy per weight in an array of ``n_cells`` (square, row-wise programming)."""
        side = math.sqrt(n_cells)
        periph = self.periphery_W * self.rounds * side * (self.width_s + self.t_read_s) / n_cells
        return self.pulse_J + self.verify_J + self.quantize_J + periph


def mtt_run_energy(path: str | Path, card: dict | None = None) -> MttRunEnergy:
    """Energies of the pulses and reads a ``write_verify`` run logged, per programmed cell."""
    from hil.store import Run

    card = card or load_energy_card()
    m = card["mtt"]
    run = Run.open(path)
    attrs = run.attrs
    if attrs.get("protocol") != "write_verify":
        raise RunFileError(f"{str(path)!r} is a {attrs.get('protocol')!r} run; need write_verify")
    device = attrs.get("device") or {}
    kind = device.get("kind") if isinstance(device, dict) else None
    if kind not in ("ecram", "rram"):
        raise ParameterError(f"run device kind {kind!r}: MTT energy needs 'ecram' or 'rram'")
    v_read = float(device["read"]["v_read_V"])
    n_pulses = np.asarray(run.read_result("n_pulses"))
    state = np.asarray(run.read_result("state"))
    cells = state >= 0
    n_cells = int(cells.sum())
    ev = run.read_events()
    codes = __import__("json").loads(run.dataset_attrs("events")["op_codes"])
    is_read, is_pulse = ev["op"] == codes["read"], ev["op"] == codes["pulse"]
    if int(is_pulse.sum()) < int(n_pulses[cells].sum()):
        raise RunFileError(f"{str(path)!r}: {int(is_pulse.sum())} pulse events but "
                           f"{int(n_pulses[cells].sum())} pulses counted; per-cell events were "
                           "aggregated (event_cells_max) — rerun with per-cell events")
    t_read = float(m["t_read_s"])
    g_read = ev["G_S"][is_read].astype(np.float64)
    verify = float(np.nansum(v_read ** 2 * g_read * t_read))
    # last read conductance of each cell before each pulse (events are in time order)
    last_g = np.zeros(attrs["shape"])
    pulse_e = 0.0
    for e in ev[is_read | is_pulse]:
        if e["op"] == codes["read"]:
            last_g[e["row"], e["col"]] = e["G_S"]
            continue
        v, w = abs(float(e["V_V"])), float(e["width_s"])
        if kind == "ecram":
            i = float(m["ecram_gate_current_A"])
        else:
            i = min(last_g[e["row"], e["col"]] * v, float(m["rram_compliance_A"]))
        pulse_e += v * i * w
    final_g = np.asarray(run.read_result("final_G_S"), dtype=np.float64)[cells]
    quant = float(m["quantize_reads_per_weight"]) * float(np.mean(v_read ** 2 * final_g * t_read))
    widths = ev["width_s"][is_pulse]
    rounds = len(np.asarray(run.read_result("history")))
    return MttRunEnergy(kind, n_cells, float(n_pulses[cells].mean()), rounds,
                        float(np.median(widths)) if len(widths) else 0.0,
                        pulse_e / n_cells, verify / n_cells, quant, t_read,
                        float(m["periphery_power_W"]))


def digital_per_weight_J(card: dict | None = None) -> dict[str, float]:
    """A100 + 980 PRO energy per weight, by component (J)."""
    d = (card or load_energy_card())["digital"]
    wb, bb = float(d["weight_bytes"]), float(d["binary_bits"]) / 8
    out = {
        "ssd_read": wb / float(d["ssd_read_Bps"]) * float(d["ssd_power_W"]),
        "pcie": (wb + wb + bb) * 8 * float(d["pcie_energy_J_per_bit"]),
        "gpu": (wb + wb + bb) / float(d["gpu_mem_Bps"]) * float(d["gpu_power_W"]),
        "ssd_write": (wb + bb) / float(d["ssd_write_Bps"]) * float(d["ssd_power_W"]),
    }
    out["total"] = sum(out.values())
    return out


def advantage(run_energy: MttRunEnergy, n_cells: int = FOUR_MB, card: dict | None = None) -> float:
    """Digital / MTT energy ratio at an array of ``n_cells`` (default 4 Mb)."""
    if n_cells < 1:
        raise ParameterError(f"n_cells={n_cells} must be >= 1")
    return digital_per_weight_J(card)["total"] / run_energy.per_weight_J(n_cells)
