"""Without Chromium the browser tests fail, naming what to install; they never skip."""

from __future__ import annotations

import os
import subprocess
import sys

from ..conftest import REPO


def test_a_missing_chromium_fails_the_browser_tests_and_says_what_to_install() -> None:
    env = {**os.environ, "CORRAL_TEST_CHROMIUM": "/nonexistent/chromium"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA",
         "tests/console/test_console_browser.py::test_a_wrong_key_is_told_and_gets_no_cookie"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "1 error" in out and "skipped" not in out, out
    assert "/nonexistent/chromium is missing" in out, out
    assert "apt-get install -y --no-install-recommends chromium" in out, out
