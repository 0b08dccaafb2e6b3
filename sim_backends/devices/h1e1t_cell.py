"""H-1E1T cell electrostatics: selector conductance and effective gate-channel voltage.

Pure functions of line voltages (MTT §2.3, Table S2): the selector nMOS (gate TG) and the
ECRAM channel divide between the ED and ES lines; the gate-channel voltage is EG minus the
drain-node potential, with the node capped at the selector's source-follower ceiling.
"""
from __future__ import annotations

import numpy as np

from sim_backends.devices.transistor import TransistorParams, channel_conductance


def selector_conductance(tg_V: np.ndarray, ed_V: np.ndarray, es_V: np.ndarray,
                         sel: TransistorParams) -> np.ndarray:
    """Selector channel conductance (S, float32), V_gs = TG - min(ED, ES) (the nMOS source is
    its lower terminal; the node starts there).  Broadcasts; small inputs are evaluated on
    their distinct values only."""
    tg, low = np.broadcast_arrays(np.asarray(tg_V, np.float32),
                                  np.minimum(np.asarray(ed_V, np.float32),
                                             np.asarray(es_V, np.float32)))
    if tg.size <= 4096:
        vals, inv = np.unique(np.stack([tg.ravel(), low.ravel()], axis=1), axis=0,
                              return_inverse=True)
        g = channel_conductance(vals[:, 0] - vals[:, 1], sel).astype(np.float32)
        return g[inv.reshape(-1)].reshape(tg.shape)
    return channel_conductance(tg - low, sel).astype(np.float32)


def gate_voltage(eg_V: np.ndarray, ed_V: np.ndarray, es_V: np.ndarray, tg_V: np.ndarray,
                 g_sel_S: np.ndarray, g_e_S: np.ndarray, v_t_V: float) -> np.ndarray:
    """Effective gate-channel voltage V_gc = EG - V_node (float32, broadcast).

    V_node: divider of the selector and the ECRAM channel between ED and ES, capped by the
    nMOS source-follower ceiling TG - V_T (the selector cannot lift the node higher)."""
    f32 = np.float32
    ed, es = np.asarray(ed_V, f32), np.asarray(es_V, f32)
    node = (g_sel_S * ed + g_e_S * es) / (g_sel_S + g_e_S)
    ceiling = np.maximum(np.asarray(tg_V, f32) - f32(v_t_V), np.minimum(ed, es))
    return (np.asarray(eg_V, f32) - np.minimum(node, ceiling)).astype(f32)
