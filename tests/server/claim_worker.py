"""A process that tries to claim one due automation run, for test_automations_http.py.

    python -m tests.server.claim_worker STORE_DIR AUTOMATION_ID DUE_AT GO_FILE

It opens the automation store, waits until GO_FILE exists (so every worker claims at
once) and prints ``won`` or ``lost``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from corral._server.automations_store import AutomationStore
from corral._stores.lmdb_env import open_shared


def main(store_dir: str, automation_id: str, due_at: str, go_file: str) -> None:
    with AutomationStore(open_shared(Path(store_dir), map_size=1 << 20, max_dbs=4)) as store:
        deadline = time.monotonic() + 60
        while not Path(go_file).exists() and time.monotonic() < deadline:
            time.sleep(0.001)
        won = store.claim(automation_id, float(due_at)) is not None
    print("won" if won else "lost", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
