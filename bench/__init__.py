"""Benchmarks of gridplan on synthetic cities (see bench/README.md)."""
