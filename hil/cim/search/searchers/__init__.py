"""Bit-width searchers; each is ``search(objective, budget, *, seed, progress, ...) -> SearchResult``."""
