"""Two ``make`` commands started together on a fresh clone set the project up once, in turn.

The Makefile's set-up steps are overridable; here each is a recorder that notes its name and
refuses to run while another step is running. Both makes must succeed, no step may overlap
another, and each step must run exactly once (the second make finds the stamps done).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..conftest import REPO

RECORDER = """#!/bin/sh
# record.sh STEP: refuse to start while another step runs, note STEP, hold a moment.
if ! mkdir "{busy}" 2>/dev/null; then
    echo "overlap $1" >> "{log}"; exit 1
fi
echo "$1" >> "{log}"
sleep 0.3
rmdir "{busy}"
"""


def _fresh_clone(root: Path) -> None:
    shutil.copy(REPO / "Makefile", root / "Makefile")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    for sdk in ("guest-sdk/assemblyscript", "benchmarks/perf/extism", "guest-sdk/js"):
        (root / sdk).mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(REPO / sdk / name, root / sdk / name)


def test_two_makes_started_together_set_up_once_and_never_at_the_same_time(
        tmp_path: Path) -> None:
    _fresh_clone(tmp_path)
    log, busy = tmp_path / "steps.log", tmp_path / "step.busy"
    recorder = tmp_path / "record.sh"
    recorder.write_text(RECORDER.format(log=log, busy=busy))
    overrides = [f"MAKE_VENV=mkdir -p .venv && sh {recorder} venv",
                 f"PIP_INSTALL=sh {recorder} pip",
                 f"NPM_CI=mkdir -p node_modules && sh {recorder} npm"]
    makes = [subprocess.Popen(["make", "--no-print-directory", "setup", *overrides], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outputs = [make.communicate(timeout=120)[0] for make in makes]
    assert [make.returncode for make in makes] == [0, 0], outputs
    steps = log.read_text().split("\n")[:-1]
    assert sorted(steps) == ["npm", "npm", "npm", "pip", "venv"], steps
    assert (tmp_path / ".venv" / ".installed").is_file()
    assert (tmp_path / "guest-sdk/assemblyscript/node_modules/.installed").is_file()
