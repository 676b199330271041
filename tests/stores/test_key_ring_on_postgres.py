"""The key ring of nodes sharing a store on PostgreSQL: it comes from shared configuration
only, the store records the ids (never the keys) of the keys its records need, a node
whose ring lacks one refuses to start naming what to set, and rotation across nodes (by
environment keys, in phases, or by one key file every node reads) never leaves a node
unable to open what another sealed."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest

from corral import ConnectionStore, Host, KeyRing, SecretKeyError, Settings
from corral._connections.crypto import ENV_KEY, ENV_OLD_KEYS, encode_key, key_id_for
from corral._connections.key_ids import DB_KEY_IDS, KeyIds
from corral._errors import ConfigError
from corral._server.serve import rotate_secret_key

from ..conftest import PACKS, REPO, built
from ..oauth_server import pack_with_auth

BEARER = pack_with_auth({"kind": "bearer"})


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (ENV_KEY, ENV_OLD_KEYS, "CORRAL_SECRET_KEY_FILE", "CORRAL_STORE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def opened() -> Iterator[list[ConnectionStore]]:
    stores: list[ConnectionStore] = []
    yield stores
    for store in stores:
        store.close()


def ring(sealing: bytes, *opening: bytes) -> KeyRing:
    """A ring as a node's environment makes it: ``CORRAL_SECRET_KEY`` seals, the keys in
    ``CORRAL_SECRET_KEY_OLD`` only open."""
    env = {ENV_KEY: encode_key(sealing),
           ENV_OLD_KEYS: ",".join(encode_key(k) for k in opening)}
    made = KeyRing.from_env(env)
    assert made is not None
    return made


def node(url: str, root: Path, name: str, keyring: KeyRing,
         opened: list[ConnectionStore]) -> ConnectionStore:
    store = ConnectionStore(root / name, keyring, store_url=url)
    opened.append(store)
    return store


def recorded_ids(store: ConnectionStore) -> set[str]:
    ids = KeyIds(ids_db=DB_KEY_IDS, secrets_db=b"secrets", states_db=b"oauth_states")
    return store._shared.read(ids.recorded)


def test_a_node_lacking_a_key_in_use_refuses_to_start_naming_the_settings(
        postgres_url: str, tmp_path: Path, opened: list[ConnectionStore]) -> None:
    old, other = os.urandom(32), os.urandom(32)
    first = node(postgres_url, tmp_path, "a", ring(old), opened)
    first.create(principal="p", pack=BEARER, name="n", secret={"token": "t"})
    assert recorded_ids(first) == {key_id_for(old)}
    with pytest.raises(SecretKeyError) as refused:
        node(postgres_url, tmp_path, "b", ring(other), opened)
    message = str(refused.value)
    assert key_id_for(old) in message and key_id_for(other) in message
    assert ENV_KEY in message and ENV_OLD_KEYS in message and "secret_key_file" in message
    assert "1 secrets" in message
    assert refused.value.details["missing_key_ids"] == [key_id_for(old)]
    assert encode_key(old) not in message and encode_key(other) not in message
    both = node(postgres_url, tmp_path, "b", ring(other, old), opened)
    assert [c.name for c in both.list("p")] == ["n"]


def test_ids_no_record_needs_are_dropped_and_do_not_stop_a_node(
        postgres_url: str, tmp_path: Path, opened: list[ConnectionStore]) -> None:
    gone, kept = os.urandom(32), os.urandom(32)
    first = node(postgres_url, tmp_path, "a", ring(gone), opened)
    made = first.create(principal="p", pack=BEARER, name="n", secret={"token": "t"})
    first.delete("p", made.id)
    assert recorded_ids(first) == {key_id_for(gone)}  # a superset until recounted
    second = node(postgres_url, tmp_path, "b", ring(kept), opened)
    assert recorded_ids(second) == set()
    second.create(principal="p", pack=BEARER, name="m", secret={"token": "u"})
    assert recorded_ids(first) == {key_id_for(kept)}


def test_rotation_by_environment_keys_in_phases_keeps_every_node_working(
        postgres_url: str, tmp_path: Path, opened: list[ConnectionStore]) -> None:
    old, new = os.urandom(32), os.urandom(32)
    a = node(postgres_url, tmp_path, "a", ring(old), opened)
    before = a.create(principal="p", pack=BEARER, name="before", secret={"token": "t1"})
    # Phase 1: every node learns the new key, still sealing with the old one.
    a, b = (node(postgres_url, tmp_path, n, ring(old, new), opened) for n in "ab")
    # Phase 2: nodes seal with the new key one by one; all open both meanwhile.
    a = node(postgres_url, tmp_path, "a", ring(new, old), opened)
    during = a.create(principal="p", pack=BEARER, name="during", secret={"token": "t2"})
    assert b.test("p", during.id, BEARER).id == during.id
    assert recorded_ids(a) == {key_id_for(old), key_id_for(new)}
    with pytest.raises(SecretKeyError, match=key_id_for(new)):
        node(postgres_url, tmp_path, "c", ring(old), opened)  # a node never given the new key
    b = node(postgres_url, tmp_path, "b", ring(new, old), opened)
    # Phase 3: one re-seal; then rings may drop the old key.
    assert a.rotate_keys() == 1
    assert recorded_ids(a) == {key_id_for(new)}
    c = node(postgres_url, tmp_path, "c", ring(new), opened)
    assert {c.test("p", i.id, BEARER).name for i in (before, during)} == {"before", "during"}
    with pytest.raises(SecretKeyError, match=key_id_for(new)):
        node(postgres_url, tmp_path, "d", ring(old), opened)


def shared_settings(url: str, root: Path, name: str, key_file: Path | None) -> Settings:
    return Settings(data_dir=root / name, store_url=url, secret_key_file=key_file, packs=())


def test_a_host_on_a_shared_store_takes_no_key_of_its_own(
        postgres_url: str, tmp_path: Path) -> None:
    with Host(shared_settings(postgres_url, tmp_path, "a", None)) as host, \
            pytest.raises(ConfigError) as unset:
        host.connections  # noqa: B018
    assert "secret_key" in str(unset.value) and "CORRAL_SECRET_KEY_FILE" in str(unset.value)
    missing = tmp_path / "shared" / "secret.key"
    with Host(shared_settings(postgres_url, tmp_path, "a", missing)) as host, \
            pytest.raises(SecretKeyError, match="does not exist") as absent:
        host.connections  # noqa: B018
    assert absent.value.details["path"] == str(missing)
    assert not missing.exists() and not (tmp_path / "a" / "secret.key").exists()


def test_rotation_by_one_key_file_every_node_reads(postgres_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "shared" / "secret.key"
    first_key = KeyRing.generate(key_file).current_key_id
    settings_a = shared_settings(postgres_url, tmp_path, "a", key_file)
    settings_b = replace(settings_a, data_dir=tmp_path / "b")
    with Host(settings_a) as a, Host(settings_b) as b:
        made = a.connections.create(principal="p", pack=BEARER, name="n",
                                    secret={"token": "t"})
        assert b.connections.test("p", made.id, BEARER).id == made.id
        rotator = replace(settings_a, data_dir=tmp_path / "rotator")  # `corral keys rotate`
        assert rotate_secret_key(rotator, grace_s=0.01) == (1, 1)
        after = KeyRing.from_file(key_file)
        assert after.key_ids != (first_key,) and len(after.key_ids) == 1
        # Both running nodes follow the file: they open the re-sealed secret and seal anew.
        assert a.connections.test("p", made.id, BEARER).id == made.id
        again = b.connections.create(principal="p", pack=BEARER, name="m",
                                     secret={"token": "u"})
        assert a.connections.test("p", again.id, BEARER).id == again.id
        assert recorded_ids(a.connections) == {after.current_key_id}
    with Host(replace(settings_a, data_dir=tmp_path / "c")) as c:
        assert len(c.connections.list("p")) == 2
    assert not (tmp_path / "a" / "secret.key").exists()


def test_corral_serve_on_a_shared_store_without_the_keys_in_use_exits_before_serving(
        postgres_url: str, tmp_path: Path, opened: list[ConnectionStore]) -> None:
    sealing = os.urandom(32)
    node(postgres_url, tmp_path, "a", ring(sealing), opened).create(
        principal="p", pack=BEARER, name="n", secret={"token": "t"})
    base = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    base.update(CORRAL_STORE_URL=postgres_url, CORRAL_PACKS=str(built(PACKS / "hello")),
                CORRAL_ADMIN_KEY="admin-key-for-the-ring-test")
    outcomes = {}
    for case, extra in {"no key": {}, "another key": {ENV_KEY: encode_key(os.urandom(32))}
                        }.items():
        done = subprocess.run(
            [sys.executable, "-m", "corral", "serve", "--data-dir", str(tmp_path / case),
             "--port", "0"], capture_output=True, text=True, timeout=120, cwd=REPO,
            env={**base, **extra}, check=False)
        outcomes[case] = (done.returncode, done.stdout + done.stderr)
    for code, output in outcomes.values():
        assert code != 0 and "serving on" not in output
        assert ENV_KEY in output and "secret_key_file" in output
    assert key_id_for(sealing) in outcomes["another key"][1]
    assert encode_key(sealing) not in "".join(o for _, o in outcomes.values())


def test_sealed_records_are_counted_on_the_shared_store(
        postgres_url: str, tmp_path: Path, opened: list[ConnectionStore]) -> None:
    from corral._connections.sealed import count_sealed

    store_dir = tmp_path / "a" / "connections"
    assert count_sealed(store_dir, map_size=1 << 20, store_url=postgres_url) == 0
    store = node(postgres_url, tmp_path, "a", ring(os.urandom(32)), opened)
    for name in ("one", "two"):
        store.create(principal="p", pack=BEARER, name=name, secret={"token": "t"})
    assert count_sealed(store_dir, map_size=1 << 20, store_url=postgres_url) == 2
    assert not store_dir.exists()
