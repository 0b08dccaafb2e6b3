"""Physics-shaped device models (pure functions on numpy arrays)."""
