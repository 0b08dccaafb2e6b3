"""Simulated arrays: state + line voltages -> per-cell physics."""
