"""Benchmarks: python -m benchmarks.bench_step --help."""
