"""Device models, simulated arrays and the vectorized `SimBackend`."""
