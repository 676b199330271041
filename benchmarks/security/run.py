"""Run the security benchmark: ``python -m benchmarks.security [--quick] [--json P]
[--markdown P]`` (also ``corral bench security``).

A fresh Host in a temporary data dir, hostile packs built from source, servers on
127.0.0.1 only. Each attack is judged (see ``harness``), then the same Host must answer
``hello.Greet``. At the end: one more normal call, and the process's RSS after gc
against the baseline taken after a warm-up call. Exits 1 if anything is not contained.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from corral._cli.bench import add_security_options

from .corpus import all_attacks, prepare
from .harness import REPO, Attack, Bench, Outcome
from .report import Report, environment

RSS_MARGIN_KIB = 192 * 1024
"""How far RSS may sit above the warm baseline after the run: allocator slack and arenas
(the decoders of decompression bombs, 16-way parallel attacks), the instance pool's
resident slots, and the pack versions attacks register (each compiles and keeps its
module, about 3.5 MiB). The full corpus left +151 MiB on a correct host; a leak of
400 KiB per attack would not fit in the margin over the corpus."""


def rss_kib() -> int:
    """This process's resident set size (VmRSS from /proc/self/status), in KiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def settle() -> None:
    """Collect garbage and hand free heap pages back to the OS (glibc keeps them in
    per-thread arenas otherwise), so RSS measures what is held, not allocator slack."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: RSS then includes the slack, which the margin allows for


def select(attacks: list[Attack], quick: bool, only: str | None = None) -> list[Attack]:
    chosen = [a for a in attacks if a.quick] if quick else list(attacks)
    if only:
        chosen = [a for a in chosen if only.lower() in a.name.lower()
                  or only.lower() == a.category]
    return chosen


def run_one(bench: Bench, attack: Attack) -> Outcome:
    seen, seconds = bench.observe(attack)
    problems = bench.judge(attack, seen)
    healthy = bench.healthy()
    if problems and attack.known_weakness:
        problems.append(f"known weakness: {attack.known_weakness}")
    note = "; ".join(problems)
    if not problems and attack.category == "neighbours" and isinstance(seen.value, dict):
        note = f"slowest victim call {seen.value['slowest_s'] * 1000:.0f} ms"
    return Outcome(name=attack.name, category=attack.category, language=attack.language,
                   expected=attack.expected + (f" ({attack.rule})" if attack.rule else ""),
                   observed=seen.label, contained=not problems, seconds=seconds,
                   healthy=healthy, note=note)


def run_suite(*, quick: bool = False, only: str | None = None,
              progress: Callable[[Outcome], None] | None = None) -> Report:
    """Run the (quick or full) corpus against a fresh Host and return the report."""
    report = Report(quick=quick, environment=environment(), rss_margin_kib=RSS_MARGIN_KIB)
    started = time.perf_counter()
    bench = Bench()
    try:
        bench.load_packs()
        prepare(bench)
        bench.healthy()  # warm-up: module cache, scheduler, result cache all loaded
        settle()
        report.rss_baseline_kib = rss_kib()
        for attack in select(all_attacks(), quick, only):
            outcome = run_one(bench, attack)
            report.outcomes.append(outcome)
            if progress is not None:
                progress(outcome)
        report.final_call_ok = bench.healthy()
        settle()
        report.rss_after_kib = rss_kib()
    finally:
        bench.close()
    report.seconds = time.perf_counter() - started
    return report


def default_results_dir() -> Path:
    return REPO / "results" / "security"


def run_from_args(args: argparse.Namespace) -> int:
    """Run, print the table, write JSON and Markdown; 0 only if everything was contained."""
    def show(outcome: Outcome) -> None:
        mark = "ok " if outcome.contained and outcome.healthy else "NOT"
        print(f"  [{mark}] {outcome.category:<10} {outcome.name}", file=sys.stderr, flush=True)

    report = run_suite(quick=args.quick, only=args.only, progress=show)
    print(report.table())
    results = default_results_dir()
    json_path = args.json or results / "report.json"
    markdown_path = args.markdown or results / "report.md"
    report.write(json_path, markdown_path)
    print(f"\nwrote {json_path} and {markdown_path}")
    return 0 if report.passed else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="corral bench security",
                                     description="Corral's security benchmark (also "
                                                 "python -m benchmarks.security)")
    add_security_options(parser)
    return run_from_args(parser.parse_args(argv))
