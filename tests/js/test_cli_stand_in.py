"""``corral sync`` of a built Coda sample against a local TLS stand-in at its real https://
URL, configured the way a developer would: ``CORRAL_HOST_MAP`` with a port and
``CORRAL_CA_FILE``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from corral._toolchain.build import build_pack
from corral.testing import LocalServer, make_tls_files

from .runners import SAMPLES

EMOJIS = [{"annotation": "dog face", "hexcode": "1F436", "emoji": "\U0001f436",
           "group": "animals-nature"}]


def test_corral_sync_reaches_the_stand_in_through_the_settings(tmp_path: Path) -> None:
    (tmp_path / "emojis").mkdir()
    shutil.copyfile(SAMPLES / "sync-table" / "emojis.ts", tmp_path / "emojis" / "pack.ts")
    wasm = build_pack(tmp_path / "emojis").path
    ca, cert, key = make_tls_files(tmp_path, ["www.emoji.family"])
    with LocalServer(tls=(cert, key)) as server:
        server.route("GET", "/api/emojis", json=EMOJIS)
        env = {**os.environ, "CORRAL_HOST_MAP": f"www.emoji.family=127.0.0.1:{server.port}",
               "CORRAL_CA_FILE": str(ca),
               "PYTHONPATH": os.pathsep.join(str(Path(p).resolve()) for p in sys.path if p)}
        done = subprocess.run([sys.executable, "-m", "corral", "sync", str(wasm), "Emojis",
                               "--data-dir", str(tmp_path / "data")], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert server.requests[-1].headers["host"] == "www.emoji.family"
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if not rows:
        rows = json.loads(done.stdout)
    assert rows == [{"Name": "dog face", "Hexcode": "1F436", "Emoji": "\U0001f436",
                     "Group": "animals-nature",
                     "Image": "https://www.emoji.family/api/emojis/\U0001f436/noto/png"}]
