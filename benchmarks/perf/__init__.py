"""Corral's performance suite: ``python -m benchmarks.perf [--quick] [--json PATH] [--plot PATH]``.

Each benchmark module (``bench_*.py``) has ``run(ctx) -> BenchResult``; the runner
(``_runner.py``) prints a table, writes the JSON report and a PNG plot, and says plainly
which targets were met. docs/performance.md describes the method and the latest numbers.

This file imports nothing: the helper processes (``loadgen``, ``_local_api``) start fast
and without the suite's imports.
"""
