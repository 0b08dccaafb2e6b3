"""Physics-shaped device models: pure numpy functions of (state, voltages, width, rng).

- `ecram`: WOx/LiPON ECRAM ionic state -> conductance, sinh-field kinetics, retention.
- `rram`: bipolar filamentary RRAM (TaOx MTT study, HfOx 1T1R drift study).
- `transistor`: nMOS Eq 12 / Eq 13 (MTT Methods 4.4), continuous between regions.
- `mtt`: memory-transistor-transfer unit: divider node solve and I_ts (MTT §2.2).
- `drift`: reference statistical drift model (REFERENCE §5) and per-state empirical model.
- `faults`: stuck-at-on/off cells and dead lines.
Parameters come from device cards in ``data/devices/`` (each names its calibration source).
"""
