"""Runs the benchmarks in order, prints the table, writes the JSON report and the plot.

Exit status: 0 when every benchmark ran (whether or not its targets were met: a missed
target is a finding, reported in the table and the JSON), 1 when a benchmark failed to
run, 2 for bad command-line arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Sequence

from . import (bench_cache, bench_cluster, bench_cold_start, bench_formula, bench_fuel,
               bench_http, bench_invoke, bench_js, bench_js_engine, bench_memory,
               bench_scheduler, bench_store, bench_tenancy, bench_workers)
from ._artifacts import REPO, build_all
from ._context import Context
from ._results import BenchResult, SuiteReport, format_result, format_summary, machine_info

BENCHMARKS: dict[str, ModuleType] = {
    "invoke": bench_invoke,
    "cold_start": bench_cold_start,
    "result_cache": bench_cache,
    "http": bench_http,
    "scheduler": bench_scheduler,
    "fuel": bench_fuel,
    "memory": bench_memory,
    "tenancy": bench_tenancy,
    "workers": bench_workers,
    "cluster": bench_cluster,
    "formula_parse": bench_formula,
    "js": bench_js,
    "js_engine": bench_js_engine,
    "store": bench_store,
}
RESULTS_DIR = REPO / "results"


def default_json_path() -> Path:
    return RESULTS_DIR / "perf.json"


def default_plot_path() -> Path:
    return RESULTS_DIR / "perf.png"


def run_suite(*, quick: bool, only: Sequence[str] = (), echo: bool = True) -> SuiteReport:
    """Run the selected benchmarks (all by default) and return the report."""
    unknown = [name for name in only if name not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(BENCHMARKS)}")
    report = SuiteReport(quick=quick, started_at=datetime.now(timezone.utc).isoformat(),
                         machine=machine_info())
    started = time.perf_counter()
    failures = build_all()
    report.build_seconds = time.perf_counter() - started
    if echo:
        print(f"== Built the packs and the Extism plugin ({report.build_seconds:.1f} s)",
              flush=True)
        for failure in failures:
            print(f"   build failed: {failure}", flush=True)
    with tempfile.TemporaryDirectory(prefix="corral-perf-") as scratch:
        ctx = Context(quick=quick, workdir=Path(scratch))
        for name, module in BENCHMARKS.items():
            if only and name not in only:
                continue
            result = _run_one(name, module, ctx)
            report.results.append(result)
            if echo:
                print(format_result(result), flush=True)
    report.seconds = time.perf_counter() - started
    return report


def _run_one(name: str, module: ModuleType, ctx: Context) -> BenchResult:
    started = time.perf_counter()
    try:
        result: BenchResult = module.run(ctx)
    except Exception as exc:  # one broken benchmark must not hide the others' numbers
        traceback.print_exc(file=sys.stderr)
        result = BenchResult(name, getattr(module, "TITLE", name),
                             error=f"{exc.__class__.__name__}: {exc}")
    result.seconds = time.perf_counter() - started
    return result


def write_json(report: SuiteReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=2, allow_nan=True) + "\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.perf",
        description="Corral's performance suite: prints a table, writes JSON and a PNG plot.")
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help=f"where to write the JSON report (default {default_json_path()})")
    parser.add_argument("--plot", type=Path, default=None, metavar="PATH",
                        help=f"where to write the PNG plot (default {default_plot_path()})")
    parser.add_argument("--only", default="", metavar="NAMES",
                        help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    return run_and_write(quick=args.quick, json_path=args.json, plot_path=args.plot, only=only)


def run_and_write(*, quick: bool, json_path: Path | None, plot_path: Path | None,
                  only: Sequence[str] = ()) -> int:
    try:
        report = run_suite(quick=quick, only=only)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_summary(report))
    json_file = json_path or default_json_path()
    write_json(report, json_file)
    print(f"JSON: {json_file}")
    plot_file = plot_path or default_plot_path()
    try:
        from ._plot import write_plot

        write_plot(report, plot_file)
        print(f"plot: {plot_file}")
    except ImportError as exc:
        print(f"plot: skipped, matplotlib is not installed ({exc})", file=sys.stderr)
    return 1 if report.failed else 0
