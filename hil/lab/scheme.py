"""Host-side H-1E1T selective programming: the row-wise phases of MTT Fig. 5a as `Lines`.

Same scheme as `sim_backends.arrays.h1e1t.H1E1TArray.program` (REFERENCE §2): for each
amplitude level, potentiation then depression, one pulse per row that has targets:
  potentiate row i at V_P: EG_i = V_P, ED_i = V_D, TG = 0 on targets, V_SS elsewhere;
  depress row i at |V|:    EG_i = 0,   ED_i = |V|, TG = V_SS on targets, 0 elsewhere;
all other rows EG = ED = 0; ES = 0.  Amplitudes are rounded to 1 mV (DAC).
"""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from hil.backend import Lines
from hil.errors import ParameterError

DAC_RESOLUTION_V = 1e-3


def h1e1t_levels(card: dict[str, Any]) -> tuple[float, float]:
    """(V_D, V_SS) of the card's ``[h1e1t]`` table."""
    h = card.get("h1e1t", {})
    try:
        return float(h["v_d_V"]), float(h["v_ss_V"])
    except KeyError:
        raise ParameterError(f"device card {card.get('name')!r} has no h1e1t.v_d_V / v_ss_V: "
                             "not an H-1E1T ECRAM card") from None


def h1e1t_row_pulses(mask: np.ndarray, amplitude_V: np.ndarray | float,
                     card: dict[str, Any]) -> Iterator[Lines]:
    """The physical pulses (one `Lines` each) that program ``mask`` at ``amplitude_V``."""
    v_d, v_ss = h1e1t_levels(card)
    mask = np.asarray(mask, bool)
    rows, cols = mask.shape
    amp = np.round(np.broadcast_to(np.asarray(amplitude_V, float), mask.shape)
                   / DAC_RESOLUTION_V) * DAC_RESOLUTION_V
    mag = np.abs(amp)
    for potentiate in (True, False):
        sel = mask & ((amp > 0) if potentiate else (amp < 0))
        for level in np.unique(mag[sel]):
            target = sel & (mag == level)
            for i in np.flatnonzero(target.any(axis=1)):
                eg, ed = np.zeros(rows), np.zeros(rows)
                if potentiate:
                    eg[i], ed[i] = level, v_d
                    tg = np.where(target[i], 0.0, v_ss)
                else:
                    ed[i] = level
                    tg = np.where(target[i], v_ss, 0.0)
                yield Lines(gate_rows=eg, select_cols=tg, drain=ed, source=0.0)
