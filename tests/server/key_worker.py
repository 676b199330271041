"""A process that makes and revokes API keys beside running servers, for test_apikeys.py.

    python -m tests.server.key_worker mix DATA_DIR BURST COUNT ADMIN_KEY URL [URL ...]
    python -m tests.server.key_worker forever DATA_DIR

``mix`` first makes BURST keys in its own store as fast as it can (as a script calling
``corral keys create`` would), then COUNT more, alternately in its store and over HTTP
from the servers in turn; it uses each of those on every server, revokes every third one
(alternately in the store and over HTTP) and right after each revocation asks every
server whether the key still works. ``forever`` makes keys in its store until it is
killed. Each step is one JSON line on stdout, printed only after the store or the server
acknowledged it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx

from corral._server.apikeys import ApiKeyStore


def say(**line: Any) -> None:
    print(json.dumps(line), flush=True)


def mix(data_dir: Path, burst: int, count: int, admin_key: str, urls: list[str]) -> None:
    store = ApiKeyStore(data_dir / "api-keys")
    for i in range(burst):
        info, key = store.create(f"burst-{i}")
        say(op="created", id=info.id, key=key)
    admin = {"Authorization": f"Bearer {admin_key}"}
    clients = [httpx.Client(base_url=url, timeout=30) for url in urls]
    for i in range(count):
        server = clients[i % len(clients)]
        if i % 2:
            made = server.post("/v1/keys", json={"name": f"http-{i}", "role": "caller"},
                               headers=admin)
            assert made.status_code == 201, made.text
            key_id, key = made.json()["id"], made.json()["key"]
        else:
            info, key = store.create(f"cli-{i}")
            key_id = info.id
        say(op="created", id=key_id, key=key)
        in_use = [c.get("/v1/packs", headers={"Authorization": f"Bearer {key}"}).status_code
                  for c in clients]
        say(op="used", id=key_id, statuses=in_use)
        if i % 3 == 2:
            if i % 2:
                gone = server.delete(f"/v1/keys/{key_id}", headers=admin)
                assert gone.status_code == 204, gone.text
            else:
                store.revoke(key_id)
            say(op="revoked", id=key_id)
            statuses = [c.get("/v1/packs", headers={"Authorization": f"Bearer {key}"})
                        .status_code for c in clients]
            say(op="checked", id=key_id, statuses=statuses)


def forever(data_dir: Path) -> None:
    store = ApiKeyStore(data_dir / "api-keys")
    i = 0
    while True:
        info, key = store.create(f"doomed-{i}")
        say(op="created", id=info.id, key=key)
        i += 1


def main(argv: list[str]) -> None:
    if argv[0] == "mix":
        mix(Path(argv[1]), int(argv[2]), int(argv[3]), argv[4], argv[5:])
    elif argv[0] == "forever":
        forever(Path(argv[1]))
    else:
        raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
