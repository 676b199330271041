"""``corral bench perf``: runs the performance suite in ``benchmarks/perf`` of the checkout.

The suite lives beside the package, not in it (it builds its own packs and an Extism
plugin, and starts helper processes), so it runs as ``python -m benchmarks.perf`` in a
child process with the repository as its working directory. Its exit status is returned
unchanged: 0 when every benchmark ran (targets met or not; the table and the JSON say
which), 1 when a benchmark failed to run, 2 for bad arguments.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .._errors import ConfigError
from .._toolchain.sdk import repo_root

SUITE_MODULE = "benchmarks.perf"


def suite_dir() -> Path:
    return repo_root() / "benchmarks" / "perf"


def perf_command(quick: bool, json_path: str | os.PathLike[str] | None,
                 plot_path: str | os.PathLike[str] | None, only: str = "") -> list[str]:
    """The command line that runs the suite (paths made absolute: the child's cwd differs)."""
    command = [sys.executable, "-m", SUITE_MODULE]
    if quick:
        command.append("--quick")
    if only:
        command += ["--only", only]
    if json_path is not None:
        command += ["--json", str(Path(json_path).resolve())]
    if plot_path is not None:
        command += ["--plot", str(Path(plot_path).resolve())]
    return command


def run_perf(quick: bool, json_path: str | os.PathLike[str] | None = None,
             plot_path: str | os.PathLike[str] | None = None, *, only: str = "") -> int:
    """Run the suite, printing its table; JSON and PNG default to ``results/perf.*``."""
    if not (suite_dir() / "__main__.py").is_file():
        raise ConfigError(f"the performance suite is not in this installation (looked in "
                          f"{suite_dir()}); run it from a source checkout",
                          setting="benchmarks")
    done = subprocess.run(perf_command(quick, json_path, plot_path, only), cwd=repo_root())
    return done.returncode
