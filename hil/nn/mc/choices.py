"""Backend names (torch-free, so the CLI can list them without importing torch)."""

BACKENDS = ("local", "vectorized", "ray")
#: the fastest scheme on one machine (benchmarks/bench_mc.py): the per-instance loop
DEFAULT_BACKEND = "local"
