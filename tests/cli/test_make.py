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
    chromium = tmp_path / "no-chromium-yet"  # so the set-up has to install it
    overrides = [f"MAKE_VENV=mkdir -p .venv && sh {recorder} venv",
                 f"PIP_INSTALL=sh {recorder} pip",
                 f"NPM_CI=mkdir -p node_modules && sh {recorder} npm",
                 f"CHROMIUM={chromium}",
                 f"INSTALL_CHROMIUM=sh {recorder} chromium && install -m 755 /dev/null {chromium}"]
    makes = [subprocess.Popen(["make", "--no-print-directory", "setup", *overrides], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outputs = [make.communicate(timeout=120)[0] for make in makes]
    assert [make.returncode for make in makes] == [0, 0], outputs
    steps = log.read_text().split("\n")[:-1]
    assert sorted(steps) == ["chromium", "npm", "npm", "npm", "pip", "venv"], steps
    assert (tmp_path / ".venv" / ".installed").is_file()
    assert (tmp_path / "guest-sdk/assemblyscript/node_modules/.installed").is_file()


def test_set_up_installs_chromium_only_where_it_is_missing(tmp_path: Path) -> None:
    _fresh_clone(tmp_path)
    log, busy = tmp_path / "steps.log", tmp_path / "step.busy"
    recorder = tmp_path / "record.sh"
    recorder.write_text(RECORDER.format(log=log, busy=busy))
    present = tmp_path / "chromium"
    present.write_text("#!/bin/sh\n")
    present.chmod(0o755)
    done = subprocess.run(["make", "--no-print-directory", "setup",
                           f"MAKE_VENV=mkdir -p .venv && sh {recorder} venv",
                           f"PIP_INSTALL=sh {recorder} pip",
                           f"NPM_CI=mkdir -p node_modules && sh {recorder} npm",
                           f"CHROMIUM={present}", f"INSTALL_CHROMIUM=sh {recorder} chromium"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "chromium" not in log.read_text().split("\n")
    assert (tmp_path / "build" / ".chromium-installed").is_file()
