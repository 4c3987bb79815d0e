"""Benchmarks (not collected by the default pytest run): `python -m tests.bench.run`."""
