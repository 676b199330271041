"""Corral's benchmarks (run from the repository root, e.g. ``python -m benchmarks.security``)."""
