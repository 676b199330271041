"""``corral bench``: run the benchmarks that live in the checkout's ``benchmarks/``.

The benchmarks are not part of the installed package (they build hostile packs from
source and start local servers), so they are imported from the repository root,
``corral._toolchain.sdk.repo_root()``. ``register_bench_command`` adds the ``bench`` command
and one sub-command per benchmark; add new ones to ``_BENCHMARKS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any, Callable

from .._errors import ConfigError
from .._toolchain.sdk import repo_root

Register = Callable[[Any], None]


def _import_benchmark(module: str) -> Any:
    """``benchmarks.<module>`` from the checkout, or a ConfigError that says why not."""
    root = repo_root()
    if not (root / "benchmarks" / "__init__.py").is_file():
        raise ConfigError(f"the benchmarks are not in {root}; run `corral bench` from a "
                          "source checkout", setting="benchmarks")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(f"benchmarks.{module}")


def add_security_options(parser: argparse.ArgumentParser) -> None:
    """The security benchmark's options; ``python -m benchmarks.security`` uses them too."""
    parser.add_argument("--quick", action="store_true",
                        help="run the fast subset (every category) instead of the full suite")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help="write the report as JSON (default results/security/report.json)")
    parser.add_argument("--markdown", type=Path, default=None, metavar="PATH",
                        help="write the report as Markdown (default results/security/report.md)")
    parser.add_argument("--only", default=None, metavar="TEXT",
                        help="run only the attacks of this category or whose name contains it")


def _run_security(args: argparse.Namespace) -> int:
    code: int = _import_benchmark("security.run").run_from_args(args)
    return code


def _register_security(bench: Any) -> None:
    parser = bench.add_parser(
        "security", help="run the hostile-pack corpus against a fresh host and report what "
                         "was contained (exit 1 if anything was not)")
    add_security_options(parser)
    parser.set_defaults(func=_run_security)


def _run_perf(args: argparse.Namespace) -> int:
    from .bench_perf import run_perf

    return run_perf(args.quick, args.json, args.plot, only=args.only)


def _register_perf(bench: Any) -> None:
    parser = bench.add_parser(
        "perf", help="run the performance suite beside its baselines and report each target")
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help="write the results as JSON (default results/perf.json)")
    parser.add_argument("--plot", type=Path, default=None, metavar="PATH",
                        help="write a PNG plot (default results/perf.png)")
    parser.add_argument("--only", default="", metavar="NAMES",
                        help="comma-separated benchmarks to run (e.g. js; default: all)")
    parser.set_defaults(func=_run_perf)


def add_reliability_options(parser: argparse.ArgumentParser) -> None:
    """The reliability benchmark's options; ``python -m benchmarks.reliability`` uses them."""
    parser.add_argument("--quick", action="store_true",
                        help="a small subset (about 20 kills, under a minute)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help="write the report as JSON (default results/reliability.json)")
    parser.add_argument("--plot", type=Path, default=None, metavar="PATH",
                        help="write a PNG plot (default results/reliability.png)")
    parser.add_argument("--seed", type=int, default=None, metavar="N",
                        help="the seed of every random choice (default: a new one, printed)")
    parser.add_argument("--only", default=None, metavar="IDS",
                        help="comma-separated scenario ids to run (default: all)")
    parser.add_argument("--jobs", type=int, default=2, metavar="N",
                        help="scenarios run at once (default 2)")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="keep the scratch data dirs and logs in a new directory in DIR")


def _run_reliability(args: argparse.Namespace) -> int:
    code: int = _import_benchmark("reliability.run").run_from_args(args)
    return code


def _register_reliability(bench: Any) -> None:
    parser = bench.add_parser(
        "reliability", help="kill -9 the write paths, damage module files, fill the disk, "
                            "share a data dir; exit 1 if an invariant broke")
    add_reliability_options(parser)
    parser.set_defaults(func=_run_reliability)


#: One entry per benchmark.
_BENCHMARKS: list[Register] = [_register_security, _register_perf, _register_reliability]


def register_bench_command(subparsers: Any) -> None:
    """Add ``corral bench <benchmark>`` to the CLI's sub-command parsers."""
    bench = subparsers.add_parser("bench", help="run a benchmark from benchmarks/")
    which = bench.add_subparsers(dest="benchmark", required=True)
    for register in _BENCHMARKS:
        register(which)
