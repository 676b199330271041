"""API keys in LMDB: hashed, made and revoked in one transaction each, shared by every
process on a data dir; never lost to a concurrent writer or a kill -9, never brought back
after a revocation; the key file of earlier releases imported once."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral import (ArgumentError, Closed, ConfigError, NotFoundError, StorageFull,
                    Unauthenticated)
from corral._server.apikeys import ADMIN, CALLER, ApiKeyStore

from ..conftest import PACKS, REPO, built
from .test_server_e2e import free_port, start_serve, stop_serve

ADMIN_KEY = "admin-key-for-the-key-tests-0123"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ApiKeyStore]:
    with ApiKeyStore(tmp_path / "api-keys") as keys:
        yield keys


# -- one process ----------------------------------------------------------------------------


def test_keys_are_stored_hashed_and_authenticate_their_owner(store: ApiKeyStore) -> None:
    info, key = store.create("alice", CALLER)
    data = (store.path / "data.mdb").read_bytes()
    assert key.encode() not in data and hashlib.sha256(key.encode()).digest() in data
    assert (store.path / "data.mdb").stat().st_mode & 0o777 == 0o600
    principal = store.authenticate(key)
    assert (principal.name, principal.role, principal.key_id) == ("alice", CALLER, info.id)
    for wrong in (key + "x", key[:-1], "", None):
        with pytest.raises(Unauthenticated):
            store.authenticate(wrong)
    with pytest.raises(ArgumentError):
        store.create("dave", "root")


def test_admin_key_is_generated_once_or_taken_from_config(tmp_path: Path) -> None:
    with ApiKeyStore(tmp_path / "keys") as store:
        first = store.ensure_admin()
        assert first is not None and store.authenticate(first).role == ADMIN
        assert store.ensure_admin() is None, "not twice"
    with ApiKeyStore(tmp_path / "keys") as again:
        assert again.ensure_admin() is None, "not after a restart either"
        assert [k.role for k in again.list_keys()] == [ADMIN]
    with ApiKeyStore(tmp_path / "other") as other:
        assert other.ensure_admin("configured-admin-key-0123") is None
        assert other.authenticate("configured-admin-key-0123").is_admin
        assert other.ensure_admin("configured-admin-key-0123") is None
        assert len(other.list_keys()) == 1, "a configured key is stored once"
        with pytest.raises(ConfigError):
            other.import_key("short", "admin", ADMIN)


def test_a_revoked_key_is_refused_at_once_and_an_unknown_id_is_not_found(
        store: ApiKeyStore) -> None:
    info, key = store.create("carol")
    kept_info, kept = store.create("carol")
    store.revoke(info.id)
    with pytest.raises(Unauthenticated):
        store.authenticate(key)
    assert store.authenticate(kept).key_id == kept_info.id
    assert [k.id for k in store.list_keys()] == [kept_info.id]
    with pytest.raises(NotFoundError):
        store.revoke(info.id)


def test_a_key_checked_before_is_refused_once_any_store_object_revokes_it(
        tmp_path: Path) -> None:
    with ApiKeyStore(tmp_path / "api-keys") as serving, \
            ApiKeyStore(tmp_path / "api-keys") as admin_side:
        info, key = serving.create("frank")
        kept_info, kept = serving.create("frank")
        for _ in range(3):  # remembered after the first check
            assert serving.authenticate(key).key_id == info.id
            assert serving.authenticate(kept).key_id == kept_info.id
        admin_side.revoke(info.id)
        with pytest.raises(Unauthenticated):
            serving.authenticate(key)
        assert serving.authenticate(kept).key_id == kept_info.id
        later_info, later = admin_side.create("grace")
        assert serving.authenticate(later).key_id == later_info.id
    with pytest.raises(Closed):
        serving.authenticate(kept)  # a closed store answers nothing from memory


def corral_keys(data_dir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    done = subprocess.run([sys.executable, "-m", "corral", "keys", *args, "--data-dir",
                           str(data_dir)], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_corral_keys_in_another_process_takes_effect_in_a_running_store_at_once(
        tmp_path: Path) -> None:
    with ApiKeyStore(tmp_path / "api-keys") as running:
        printed = corral_keys(tmp_path, "create", "erin").strip().splitlines()
        key_id, key = printed[0].split()[3], printed[-1]
        assert running.authenticate(key).name == "erin", "a new key works at once"
        corral_keys(tmp_path, "revoke", key_id)
        with pytest.raises(Unauthenticated):
            running.authenticate(key)  # no grace period: the next check refuses it


def test_a_full_key_store_grows_to_its_ceiling_then_answers_storage_full(
        tmp_path: Path) -> None:
    small, ceiling = 64 * 1024, 256 * 1024
    with ApiKeyStore(tmp_path / "keys", map_size=small, max_map_size=ceiling) as store:
        made: list[tuple[str, str]] = []
        with pytest.raises(StorageFull) as full:
            for i in range(10_000):
                info, key = store.create(f"owner-{i:05d}-" + "x" * 80)
                made.append((info.id, key))
        assert len(made) > 100 and store._store.map_size() == ceiling
        message = str(full.value)
        assert full.value.kind == "storage_full" and "API key store" in message
        assert not any(word in message.lower() for word in ("mdb", "lmdb", "map_full"))
        assert full.value.details["setting"] == "api_keys_map_max_bytes"
        assert all(store.authenticate(key).key_id == key_id for key_id, key in made)
        for key_id, _ in made[::2]:
            store.revoke(key_id)  # a full store can still shrink, and the space is used again
        assert store.authenticate(store.create("after")[1]).name == "after"


# -- the file of earlier releases -------------------------------------------------------------


def legacy_file(path: Path, keys: dict[str, tuple[str, str]]) -> None:
    """An ``api-keys.json`` as earlier releases wrote it: id -> (owner, key)."""
    path.write_text(json.dumps({"keys": [
        {"id": key_id, "owner": owner, "role": ADMIN if owner == "admin" else CALLER,
         "created_at": 1.0 + n, "sha256": hashlib.sha256(key.encode()).hexdigest()}
        for n, (key_id, (owner, key)) in enumerate(keys.items())]}))


def test_an_old_key_file_is_imported_once_and_renamed_aside(tmp_path: Path) -> None:
    old = {"0a0a0a0a": ("admin", "corral_0a0a0a0a_old-admin-key"),
           "1b1b1b1b": ("alice", "corral_1b1b1b1b_old-alice-key")}
    legacy_file(tmp_path / "api-keys.json", old)
    with ApiKeyStore(tmp_path / "api-keys") as store:
        assert not (tmp_path / "api-keys.json").exists()
        assert (tmp_path / "api-keys.json.migrated").is_file()
        for key_id, (owner, key) in old.items():
            assert (store.authenticate(key).name, store.authenticate(key).key_id) == (
                owner, key_id)
        assert store.ensure_admin() is None, "the imported admin key counts"
        store.revoke("1b1b1b1b")
    # the file comes back (a kill between the import and the rename, or a restored
    # backup): a revoked key must not come back with it
    os.replace(tmp_path / "api-keys.json.migrated", tmp_path / "api-keys.json")
    with ApiKeyStore(tmp_path / "api-keys.json") as reopened:  # an old caller's path
        assert reopened.path == tmp_path / "api-keys"
        with pytest.raises(Unauthenticated):
            reopened.authenticate(old["1b1b1b1b"][1])
        assert reopened.authenticate(old["0a0a0a0a"][1]).is_admin
        assert not (tmp_path / "api-keys.json").exists()


def test_a_damaged_old_key_file_refuses_to_open_naming_it(tmp_path: Path) -> None:
    (tmp_path / "api-keys.json").write_text('{"keys": [{"id": "x"')
    with pytest.raises(ConfigError) as refused:
        ApiKeyStore(tmp_path / "api-keys")
    assert "api-keys.json" in str(refused.value) and "damaged" in str(refused.value)
    assert (tmp_path / "api-keys.json").is_file(), "left for the operator"


# -- many processes ---------------------------------------------------------------------------


def worker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.server.key_worker", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env={k: v for k, v in os.environ.items()
                                           if not k.startswith("CORRAL_")})


def acknowledged(output: str) -> list[dict[str, Any]]:
    """The whole lines a worker printed (a kill may cut the last one short)."""
    return [json.loads(line) for line in output.splitlines(keepends=True)
            if line.endswith("\n")]


def serve(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process, _ = start_serve(data_dir, port, CORRAL_ADMIN_KEY=ADMIN_KEY,
                             CORRAL_PACKS=str(built(PACKS / "hello")))
    return process, f"http://127.0.0.1:{port}"


def works(url: str, key: str) -> int:
    return httpx.get(f"{url}/v1/packs", headers={"Authorization": f"Bearer {key}"},
                     timeout=30).status_code


@pytest.mark.timeout(300)
def test_many_processes_and_two_servers_lose_no_key_and_revive_none(tmp_path: Path) -> None:
    servers = [serve(tmp_path), serve(tmp_path)]  # two servers on one data dir
    urls = [url for _, url in servers]
    try:
        workers = [worker("mix", str(tmp_path), "40", "18", ADMIN_KEY, *urls)
                   for _ in range(3)]
        lines: list[dict[str, Any]] = []
        for process in workers:
            out, err = process.communicate(timeout=240)
            assert process.returncode == 0, err
            lines += acknowledged(out)
        created = {line["id"]: line["key"] for line in lines if line["op"] == "created"}
        revoked = {line["id"] for line in lines if line["op"] == "revoked"}
        assert len(created) == 3 * (40 + 18) and len(revoked) == 3 * 6
        usable_at_once = [line["statuses"] for line in lines if line["op"] == "used"]
        assert usable_at_once == [[200, 200]] * 3 * 18, "a key works everywhere once made"
        refused_at_once = [line["statuses"] for line in lines if line["op"] == "checked"]
        assert refused_at_once == [[401, 401]] * 3 * 6, "revoked means refused, everywhere"
        for key_id, key in created.items():
            expected = 401 if key_id in revoked else 200
            assert [works(url, key) for url in urls] == [expected, expected], key_id
        listed = corral_keys(tmp_path, "list")
        assert {key_id for key_id in created if key_id in listed} == set(created) - revoked
    finally:
        for process, _ in servers:
            assert stop_serve(process) == 0


@pytest.mark.timeout(300)
def test_kill_9_while_making_keys_loses_only_keys_never_acknowledged(tmp_path: Path) -> None:
    server, url = serve(tmp_path)
    rng = random.Random(15)
    made: dict[str, str] = {}
    try:
        for _ in range(6):  # a process making keys beside the server, killed at random
            process = worker("forever", str(tmp_path))
            assert process.stdout is not None
            for _ in range(rng.randint(1, 12)):
                assert process.stdout.readline(), process.stderr.read() if process.stderr else ""
            process.send_signal(signal.SIGKILL)
            out, _ = process.communicate(timeout=30)
            assert process.returncode == -signal.SIGKILL
            made.update({line["id"]: line["key"] for line in acknowledged(out)
                         if line["op"] == "created"})
        made.update(kill_the_server_while_it_makes_keys(server, url, rng))
    finally:
        if server.poll() is None:
            stop_serve(server)
    server, url = serve(tmp_path)  # the next start succeeds
    try:
        assert len(made) >= 6
        assert {key_id: works(url, key) for key_id, key in made.items()} == {
            key_id: 200 for key_id in made}
    finally:
        assert stop_serve(server) == 0


def kill_the_server_while_it_makes_keys(server: subprocess.Popen[str], url: str,
                                        rng: random.Random) -> dict[str, str]:
    """Keys made over HTTP while the server is SIGKILLed: those answered 201."""
    answered: dict[str, str] = {}
    enough = threading.Event()

    def make() -> None:
        with httpx.Client(base_url=url, timeout=10,
                          headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
            for i in range(10_000):
                try:
                    made = client.post("/v1/keys", json={"name": f"h{i}", "role": "caller"})
                except httpx.TransportError:
                    return
                assert made.status_code == 201, made.text
                answered[made.json()["id"]] = made.json()["key"]
                if len(answered) >= target:
                    enough.set()

    target = rng.randint(3, 30)
    maker = threading.Thread(target=make)
    maker.start()
    assert enough.wait(60)
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=30)
    maker.join(timeout=60)
    assert not maker.is_alive()
    return answered
