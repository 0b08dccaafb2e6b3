"""Measurement and programming protocols, written against `hil.backend.Backend` only."""
