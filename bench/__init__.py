"""Benchmarks of syncd against its baselines; ``python -m bench.run_all`` (see README.md)."""
