"""The blob store: capability ids, a TTL on an injectable clock, a size cap, per-principal
quotas freed by expiry, and a ceiling that answers StorageFull."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from corral import (
    BlobError,
    BlobExpired,
    BlobQuotaExceeded,
    BlobStore,
    BlobTooLarge,
    NotFoundError,
    StorageFull,
)
from corral._stores.blobs import content_type_or_none


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> BlobStore:
    with BlobStore(tmp_path / "blobs", ttl_s=60, max_bytes=100, quota_bytes=250,
                   map_size=1 << 20, clock=clock) as opened:
        yield opened


def test_a_blob_comes_back_with_its_content_type_until_it_expires(store: BlobStore,
                                                                   clock: Clock) -> None:
    stored = store.put("ada", b"\x00\x01png", "image/PNG")
    assert stored.expires_at == clock.now + 60
    blob = store.get(stored.id)
    assert (blob.data, blob.content_type) == (b"\x00\x01png", "image/png")
    clock.now += 59
    assert store.get(stored.id).data == b"\x00\x01png"
    clock.now += 1
    with pytest.raises(BlobExpired):
        store.get(stored.id)
    with pytest.raises(NotFoundError):  # the expired blob was purged
        store.get(stored.id)
    assert store.count() == 0


def test_ids_are_unguessable_and_not_kept_at_rest(store: BlobStore, tmp_path: Path) -> None:
    ids = {store.put("ada", b"x", "text/plain").id for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", i) for i in ids)  # 256 random bits each
    at_rest = (tmp_path / "blobs" / "data.mdb").read_bytes()
    assert not any(i.encode() in at_rest for i in ids)


@pytest.mark.parametrize("guess", ["", "A" * 43, "../../etc/passwd", "x" * 10_000, "é" * 43])
def test_a_guessed_id_is_not_found(store: BlobStore, guess: str) -> None:
    store.put("ada", b"secret", "text/plain")
    with pytest.raises(NotFoundError):
        store.get(guess)


def test_one_blob_over_the_cap_is_refused(store: BlobStore) -> None:
    store.put("ada", b"x" * 100, "text/plain")
    with pytest.raises(BlobTooLarge, match="blob_max_bytes"):
        store.put("ada", b"x" * 101, "text/plain")


def test_each_principal_has_its_own_quota_freed_by_expiry(store: BlobStore,
                                                          clock: Clock) -> None:
    store.put("ada", b"a" * 100, "text/plain")
    store.put("ada", b"a" * 100, "text/plain")
    with pytest.raises(BlobQuotaExceeded):
        store.put("ada", b"a" * 51, "text/plain")
    store.put("ada", b"a" * 50, "text/plain")  # exactly the quota
    store.put("bob", b"b" * 100, "text/plain")  # another caller is not held to ada's
    assert store.usage("ada") == 250
    clock.now += 61
    assert store.purge() == 4
    assert store.usage("ada") == store.usage("bob") == 0
    store.put("ada", b"a" * 100, "text/plain")


def test_a_refused_quota_stores_nothing(store: BlobStore) -> None:
    store.put("ada", b"a" * 100, "text/plain")
    store.put("ada", b"a" * 100, "text/plain")
    with pytest.raises(BlobQuotaExceeded):
        store.put("ada", b"a" * 100, "text/plain")
    assert store.count() == 2 and store.usage("ada") == 200


@pytest.mark.parametrize("bad", ["", "text", "text/html\r\nX-Evil: 1", "a/b c", "text/\x00",
                                 None, 5, "t" * 300 + "/x"])
def test_a_content_type_must_be_a_media_type(store: BlobStore, bad: object) -> None:
    assert content_type_or_none(bad) is None
    with pytest.raises(BlobError) as info:
        store.put("ada", b"x", bad)  # type: ignore[arg-type]
    assert info.value.rule == "content_type"


def test_media_types_with_parameters_are_kept() -> None:
    assert content_type_or_none("Text/HTML; charset=utf-8") == "text/html; charset=utf-8"
    assert content_type_or_none('multipart/mixed; boundary="a b"') == \
        'multipart/mixed; boundary="a b"'


def test_a_full_store_says_storage_full(tmp_path: Path, clock: Clock) -> None:
    with BlobStore(tmp_path / "full", ttl_s=60, max_bytes=64 * 1024, quota_bytes=1 << 30,
                   map_size=64 * 1024, max_map_size=256 * 1024, clock=clock) as small:
        with pytest.raises(StorageFull) as info:
            for _ in range(100):
                small.put("ada", b"z" * 60_000, "application/octet-stream")
        assert info.value.setting == "blob_map_max_bytes"
        assert "blob store" in info.value.message
