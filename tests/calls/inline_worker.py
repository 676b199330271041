"""A process that runs one CPU-bound pack call after another inline, for test_inline.py.

    python -m tests.calls.inline_worker PACK_WASM DATA_DIR SECONDS

It prints ``ready`` once the pack is loaded, calls ``busy.Loop`` for SECONDS (while the
test stops and resumes this process), then prints the scheduler's counts as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from corral import Host, Settings


def main(wasm: str, data_dir: str, seconds: str) -> None:
    with Host(Settings(data_dir=Path(data_dir), inline_budget_ms=2)) as host:
        host.register_bytes(Path(wasm).read_bytes())
        assert host.call("busy", "Loop") == 1
        print("ready", flush=True)
        end = time.monotonic() + float(seconds)
        calls = 0
        while time.monotonic() < end:
            assert host.call("busy", "Loop") == 1
            calls += 1
        stats = host.scheduler.stats()
        print(json.dumps({"calls": calls, "inline": stats.inline, "started": stats.started,
                          "abandoned": stats.abandoned}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
