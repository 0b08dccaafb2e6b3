"""Simulated arrays: state + line voltages -> per-cell physics, vectorized over the array.

- `h1e1t.H1E1TArray`: ECRAM H-1E1T array (EG, ED, ES, TG lines; MTT Table S2 / Fig. 5).
- `rram_1t1r.RRAM1T1RArray`: 1T1R RRAM array (WL, BL, SL lines; V/2 or V/3 schemes).
Both expose: ``read``, ``conductance`` (noise-free), ``apply_lines``, ``program``, ``sweep``,
``mtt_currents``, ``state_dict``/``load_state_dict``; state is float32 and the RNG is seeded.
"""
