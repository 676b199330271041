"""The key ring: AES-256-GCM sealing, key files, the environment, rotation."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from corral import Host, KeyRing, SecretKeyError, Settings
from corral._connections.crypto import ENV_KEY, ENV_OLD_KEYS, encode_key, rotation_lock
from ..oauth_server import pack_with_auth

AAD = b"connection-1\0Demo"


def test_seal_then_open_round_trips_and_hides_the_plaintext() -> None:
    ring = KeyRing.generate()
    blob = ring.seal(b"the-plain-secret", AAD)
    assert b"the-plain-secret" not in blob
    assert ring.open(blob, AAD) == b"the-plain-secret"
    assert ring.key_id_of(blob) == ring.current_key_id


def test_sealing_twice_gives_different_blobs() -> None:
    ring = KeyRing.generate()
    assert ring.seal(b"x", AAD) != ring.seal(b"x", AAD)


def test_other_associated_data_fails_closed() -> None:
    ring = KeyRing.generate()
    blob = ring.seal(b"secret", AAD)
    with pytest.raises(SecretKeyError, match="tampered with or moved"):
        ring.open(blob, b"connection-2\0Demo")


@pytest.mark.parametrize("position", [0, 1, 9, 21, -1])
def test_any_flipped_byte_fails_closed(position: int) -> None:
    ring = KeyRing.generate()
    blob = bytearray(ring.seal(b"secret", AAD))
    blob[position] ^= 0x01
    with pytest.raises(SecretKeyError):
        ring.open(bytes(blob), AAD)


def test_truncated_blob_fails_closed() -> None:
    ring = KeyRing.generate()
    with pytest.raises(SecretKeyError, match="truncated"):
        ring.open(ring.seal(b"secret", AAD)[:20], AAD)


def test_a_foreign_key_fails_closed_naming_the_key_id_only() -> None:
    sealer, stranger = KeyRing.generate(), KeyRing.generate()
    blob = sealer.seal(b"secret", AAD)
    with pytest.raises(SecretKeyError) as info:
        stranger.open(blob, AAD)
    assert sealer.current_key_id in str(info.value)
    assert ENV_KEY in str(info.value)


def test_key_file_is_created_private_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "secret.key"
    first = KeyRing.from_env_or_file(path, environ={})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = KeyRing.from_env_or_file(path, environ={})
    assert again.current_key_id == first.current_key_id
    assert again.open(first.seal(b"s", AAD), AAD) == b"s"


def test_generate_never_overwrites_an_existing_key_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    KeyRing.generate(path)
    with pytest.raises(FileExistsError):
        KeyRing.generate(path)


def test_key_file_open_to_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    KeyRing.generate(path)
    os.chmod(path, 0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        KeyRing.from_file(path)


def test_bad_key_file_line_is_named_without_its_content(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    KeyRing.generate(path)
    with open(path, "a") as handle:
        handle.write("not-a-key-at-all\n")
    with pytest.raises(SecretKeyError) as info:
        KeyRing.from_file(path)
    assert "line 2" in str(info.value)
    assert "not-a-key-at-all" not in str(info.value)


def test_missing_key_file_is_a_secret_key_error(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError, match="does not exist"):
        KeyRing.from_file(tmp_path / "absent.key")


def test_environment_key_wins_over_the_file(tmp_path: Path) -> None:
    env_key = os.urandom(32)
    ring = KeyRing.from_env_or_file(tmp_path / "secret.key", environ={ENV_KEY: encode_key(env_key)})
    assert ring.path is None
    assert not (tmp_path / "secret.key").exists()
    assert KeyRing([env_key]).current_key_id == ring.current_key_id


@pytest.mark.parametrize("value", ["%%%not base64%%%", encode_key(b"short")])
def test_bad_environment_key_names_the_variable_not_the_value(value: str) -> None:
    with pytest.raises(SecretKeyError) as info:
        KeyRing.from_env({ENV_KEY: value})
    assert ENV_KEY in str(info.value)
    assert value not in str(info.value)


def test_old_environment_keys_still_open(tmp_path: Path) -> None:
    old, new = os.urandom(32), os.urandom(32)
    blob = KeyRing([old]).seal(b"sealed long ago", AAD)
    ring = KeyRing.from_env({ENV_KEY: encode_key(new), ENV_OLD_KEYS: encode_key(old)})
    assert ring is not None
    assert ring.open(blob, AAD) == b"sealed long ago"
    assert ring.needs_reseal(blob)
    assert not ring.needs_reseal(ring.seal(b"fresh", AAD))


def test_rotation_keeps_old_keys_opening_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    ring = KeyRing.generate(path)
    old_id = ring.current_key_id
    old_blob = ring.seal(b"before", AAD)
    new_id = ring.rotate_to_new_key()
    assert new_id != old_id
    assert ring.key_id_of(ring.seal(b"after", AAD)) == new_id
    assert ring.open(old_blob, AAD) == b"before"
    reloaded = KeyRing.from_file(path)
    assert reloaded.key_ids == (old_id, new_id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_retiring_old_keys_stops_them_opening(tmp_path: Path) -> None:
    ring = KeyRing.generate(tmp_path / "secret.key")
    old_blob = ring.seal(b"before", AAD)
    ring.rotate_to_new_key()
    assert ring.retire_old_keys() == 1
    with pytest.raises(SecretKeyError):
        ring.open(old_blob, AAD)
    assert KeyRing.from_file(tmp_path / "secret.key").key_ids == ring.key_ids


def test_environment_ring_cannot_rotate_itself() -> None:
    ring = KeyRing.from_env({ENV_KEY: encode_key(os.urandom(32))})
    assert ring is not None
    with pytest.raises(SecretKeyError, match=ENV_OLD_KEYS):
        ring.rotate_to_new_key()


def test_repr_shows_key_ids_only() -> None:
    key = os.urandom(32)
    ring = KeyRing([key])
    text = repr(ring)
    assert ring.current_key_id in text
    assert encode_key(key) not in text and key.hex() not in text


def test_a_configured_key_is_used_like_the_environment_variable(tmp_path: Path) -> None:
    key = os.urandom(32)
    ring = KeyRing.from_env_or_file(tmp_path / "secret.key", environ={},
                                    env_key=encode_key(key))
    assert ring.current_key_id == KeyRing([key]).current_key_id
    assert not (tmp_path / "secret.key").exists()
    with pytest.raises(SecretKeyError, match=ENV_KEY):
        KeyRing.from_env_or_file(tmp_path / "secret.key", environ={}, env_key="bad")


# -- a ring follows its key file ----------------------------------------------------------


def test_a_ring_follows_a_rotation_made_by_another_ring(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    running = KeyRing.generate(path)
    old_blob = running.seal(b"before", AAD)  # sealing looked at the file
    assert running.refresh() is False  # unchanged since: not read again
    rotator = KeyRing.from_file(path)
    new_id = rotator.rotate_to_new_key()
    new_blob = rotator.seal(b"after", AAD)
    assert running.open(new_blob, AAD) == b"after"  # unknown key: re-read the file, retry
    assert running.key_id_of(running.seal(b"x", AAD)) == new_id  # seals with the newest
    assert rotator.retire_old_keys() == 1
    assert running.key_id_of(running.seal(b"y", AAD)) == new_id
    assert running.key_ids == (new_id,)
    assert running.open(old_blob, AAD) == b"before"  # a key it held still opens a stale read
    with pytest.raises(SecretKeyError):
        KeyRing.from_file(path).open(old_blob, AAD)  # but is gone from the file


def test_a_blob_of_a_key_in_no_file_still_fails_closed(tmp_path: Path) -> None:
    ring = KeyRing.generate(tmp_path / "secret.key")
    stranger = KeyRing.generate().seal(b"s", AAD)
    with pytest.raises(SecretKeyError, match="not in the key ring"):
        ring.open(stranger, AAD)


def test_a_key_file_that_goes_missing_keeps_the_keys_held_and_makes_none(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "secret.key"
    ring = KeyRing.generate(path)
    blob = ring.seal(b"s", AAD)
    path.unlink()
    for _ in range(3):
        assert ring.open(ring.seal(b"t", AAD), AAD) == b"t"
    assert ring.open(blob, AAD) == b"s"
    assert not path.exists()
    assert len([r for r in caplog.records if "does not exist" in r.getMessage()]) == 1


def test_a_missing_key_file_beside_sealed_records_is_refused_naming_both(
        tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    with pytest.raises(SecretKeyError) as info:
        KeyRing.from_env_or_file(path, environ={}, sealed_records=lambda: 7)
    assert str(path) in str(info.value) and "7 sealed records" in str(info.value)
    assert info.value.details == {"path": str(path), "sealed_records": 7}
    assert not path.exists()
    assert KeyRing.from_env_or_file(path, environ={}, sealed_records=lambda: 0).path == path


def test_a_rotation_lock_clears_key_material_left_by_a_killed_writer(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    KeyRing.generate(path)
    leftover = tmp_path / ".secret.key.0123abcd.tmp"
    leftover.write_bytes(b"an old key\n")
    with rotation_lock(path):
        assert not leftover.exists()
    assert path.exists()


# -- the host: a lost key file is a refusal, a fresh data dir gets a key ----------------------


def test_a_host_refuses_a_lost_key_file_while_secrets_are_sealed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    bearer = pack_with_auth({"kind": "bearer"})
    with Host(settings) as host:
        for i in range(3):
            host.connections.create(principal="p", pack=bearer, name=f"c{i}",
                                    secret={"token": f"t{i}"})
    key_file = tmp_path / "secret.key"
    saved = key_file.read_bytes()
    key_file.unlink()
    with Host(settings) as host, pytest.raises(SecretKeyError) as info:
        host.connections  # noqa: B018
    assert str(key_file) in str(info.value) and "3 sealed records" in str(info.value)
    assert not key_file.exists()  # no silent new key
    key_file.write_bytes(saved)
    key_file.chmod(0o600)
    with Host(settings) as host:
        (first, *_) = host.connections.list("p")
        assert host.connections.test("p", first.id, bearer).status == "active"


def test_a_fresh_data_dir_gets_a_private_key_file_on_first_use(tmp_path: Path) -> None:
    with Host(Settings(data_dir=tmp_path / "fresh")) as host:
        assert host.connections.list("p") == []
    key_file = tmp_path / "fresh" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(KeyRing.from_file(key_file).key_ids) == 1


def test_a_store_whose_secrets_were_all_deleted_may_get_a_new_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    bearer = pack_with_auth({"kind": "bearer"})
    with Host(settings) as host:
        made = host.connections.create(principal="p", pack=bearer, name="c",
                                       secret={"token": "t"})
        host.connections.delete("p", made.id)
    (tmp_path / "secret.key").unlink()
    with Host(settings) as host:
        assert host.connections.list("p") == []
    assert (tmp_path / "secret.key").exists()
