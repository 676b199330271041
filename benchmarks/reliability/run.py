"""Run the reliability benchmark: ``python -m benchmarks.reliability [--quick] [--json P]
[--plot P] [--seed N] [--only IDS] [--jobs N] [--keep DIR]`` (also ``corral bench
reliability``).

Each scenario runs in a scratch directory of its own, against real ``corral serve``,
``corral keys`` and Host processes. The table is printed, the JSON and the PNG written.
Exit status: 0 when every invariant held, 1 when any was broken (or a scenario could not
run to the end), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

from corral._cli.bench import add_reliability_options

from . import damaged_modules, disk_full, kill_connections, kill_keys, kill_packs, kill_rotate
from . import two_servers
from ._packs import BasePacks
from ._procs import REPO, kill_all
from ._report import Report, ScenarioResult
from ._tally import Context, Tally


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    run: Callable[[Context], Tally]
    baseline: str = ""


SCENARIOS = [
    Scenario("packs_http", "kill -9 during POST /v1/packs", kill_packs.run_http,
             "2 of 57 upload kills: no start until fixed by hand"),
    Scenario("packs_register", "kill -9 during Host.register_* in a child",
             kill_packs.run_register),
    Scenario("connections_http", "kill -9 during connection creates and deletes",
             kill_connections.run_connections, "0 lost (all 237 kills)"),
    Scenario("keys_http", "kill -9 during POST/DELETE /v1/keys", kill_keys.run_http,
             "9 of 597 HTTP keys lost beside the CLI"),
    Scenario("keys_cli", "kill -9 during corral keys create/revoke beside the server",
             kill_keys.run_cli_keys, "7 of 15 created lost; 7 of 17 revoked came back"),
    Scenario("result_cache", "kill -9 during calls that cache", kill_connections.run_cache,
             "0 lost (all 237 kills)"),
    Scenario("rotation", "kill -9 during corral keys rotate beside the server",
             kill_rotate.run_rotation, "running server 500s on every connection"),
    Scenario("damaged_modules", "flipped, truncated, swapped module files",
             damaged_modules.run_damaged, "SIGILL/SIGSEGV every start; swaps used silently"),
    Scenario("disk_full", "a full tmpfs data dir", disk_full.run_disk_full,
             "500, or 400 with LMDB internals"),
    Scenario("two_servers", "two corral serve on one data dir", two_servers.run_two_servers,
             "18 of 95 keys lost; packs 404 on the other"),
]
IDS = [s.id for s in SCENARIOS]
#: Scenarios run two at a time: most of their time is spent starting processes, one core
#: each, and the development machine has two.
DEFAULT_JOBS = 2


def default_json_path() -> Path:
    return REPO / "results" / "reliability.json"


def default_plot_path() -> Path:
    return REPO / "results" / "reliability.png"


def run_one(scenario: Scenario, ctx: Context) -> ScenarioResult:
    started = time.perf_counter()
    result = ScenarioResult(scenario.id, scenario.title, Tally(), scenario.baseline)
    try:
        result.tally = scenario.run(ctx)
    except Exception as exc:  # a broken scenario must not hide the others' counts
        traceback.print_exc(file=sys.stderr)
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        kill_all(owner=threading.current_thread().name)
    result.seconds = time.perf_counter() - started
    return result


def run_suite(*, quick: bool, seed: int, only: Sequence[str] = (), keep: Path | None = None,
              jobs: int = DEFAULT_JOBS,
              progress: Callable[[ScenarioResult], None] | None = None) -> Report:
    """Run the selected scenarios (all by default), ``jobs`` at a time, and return the
    report. Scenarios share nothing but the machine: running two at once changes how
    many writes fit between kills, not what a check finds."""
    unknown = [name for name in only if name not in IDS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(IDS)}")
    report = Report(quick=quick, seed=seed, started_at=datetime.now(timezone.utc).isoformat())
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="corral-reliability-", dir=keep))
    try:
        ctx = Context(quick=quick, seed=seed, workdir=workdir)
        ctx.extra["packs"] = BasePacks(workdir / "packs")
        chosen = [s for s in SCENARIOS if not only or s.id in only]
        with ThreadPoolExecutor(max_workers=max(1, jobs),
                                thread_name_prefix="scenario") as pool:
            futures = [pool.submit(run_one, scenario, ctx) for scenario in chosen]
            for future in as_completed(futures):
                if progress is not None:
                    progress(future.result())
        report.results = [future.result() for future in futures]
    finally:
        kill_all()
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def run_from_args(args: argparse.Namespace) -> int:
    """Run, print the table, write the JSON and the plot; 0 only if every invariant held."""
    seed = args.seed if args.seed is not None else secrets.randbelow(1 << 31)
    only = [name.strip() for name in (args.only or "").split(",") if name.strip()]
    print(f"corral bench reliability: seed {seed} ({'quick' if args.quick else 'full'} run)",
          flush=True)

    def show(result: ScenarioResult) -> None:
        counts = result.tally.counts()
        print(f"  [{result.verdict:>7}] {result.id:<17} {result.seconds:5.1f} s  "
              f"kills {counts['kills']:>3}  acked {counts['acknowledged']:>5}", flush=True)

    try:
        report = run_suite(quick=args.quick, seed=seed, only=only, keep=args.keep,
                           jobs=args.jobs, progress=show)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print()
    print(report.table())
    json_path = args.json or default_json_path()
    report.write_json(json_path)
    print(f"\nJSON: {json_path}")
    _plot(report, args.plot or default_plot_path())
    return 0 if report.passed else 1


def _plot(report: Report, path: Path) -> None:
    try:
        from ._plot import write_plot
    except ImportError as exc:
        print(f"plot: skipped, matplotlib is not installed ({exc})", file=sys.stderr)
        return
    write_plot(report, path)
    print(f"plot: {path}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reliability",
                                     description="Corral's reliability benchmark (also "
                                                 "corral bench reliability)")
    add_reliability_options(parser)
    return run_from_args(parser.parse_args(argv))
