"""The key ring: AES-256-GCM sealing, key files, the environment, rotation."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from corral import KeyRing, SecretKeyError
from corral._connections.crypto import ENV_KEY, ENV_OLD_KEYS, encode_key

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
