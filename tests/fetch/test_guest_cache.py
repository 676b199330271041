"""The GET cache keeps only what the guest may see: shaped (JSON, redaction) before it is
stored, never a response the guest's side refused, and never the secret in clear on disk.
Through the guest side of the fetch import (GuestFetch), a real client, cache and server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lmdb
import pytest

from corral._errors import FetchNetworkError
from corral._fetch.cache import FetchCache
from corral._fetch.client import FetchClient, FetchConfig
from corral._fetch.guest import GuestFetch
from corral._metrics import Metrics
from tests.fetch_servers import TEST_HOST, ApiServer

from .bearer import Bearer

TOKEN = "tok-SECRET-9c1d"


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with ApiServer() as api:
        yield api


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[FetchCache]:
    with FetchCache(tmp_path / "fetch-cache") as opened:
        yield opened


@pytest.fixture
def client(cache: FetchCache) -> Iterator[FetchClient]:
    config = FetchConfig(allow_http=True, host_map={TEST_HOST: "127.0.0.1"})
    with FetchClient(config, cache=cache) as opened:
        yield opened


def guest(client: FetchClient, server: ApiServer, *, credentials: Any = None,
          pack_hash: str = "a" * 64) -> GuestFetch:
    return GuestFetch(client, Metrics(), pack="Test", pack_hash=pack_hash, principal="ada",
                      domains=[f"example.test:{server.port}"], credentials=credentials)


def fetch(fetcher: GuestFetch, server: ApiServer, path: str, **request: Any) -> dict[str, Any]:
    return fetcher.fetch({"url": server.url(path), "cache_ttl_s": 60, **request},
                         time.monotonic() + 10)


def entries(cache: FetchCache, tmp_path: Path) -> int:
    cache.close()
    env = lmdb.open(str(tmp_path / "fetch-cache"), subdir=True, readonly=True)
    try:
        return int(env.stat()["entries"])
    finally:
        env.close()


def test_an_echoed_token_is_stored_redacted_and_served_redacted(
        client: FetchClient, cache: FetchCache, server: ApiServer, tmp_path: Path) -> None:
    fetcher = guest(client, server, credentials=Bearer(TOKEN, "conn-1"))
    first = fetch(fetcher, server, f"/echo?note={TOKEN}")
    second = fetch(fetcher, server, f"/echo?note={TOKEN}")
    assert server.hits("/echo") == 1, "the second answer came from the cache"
    assert first == second
    assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}", "it was sent"
    assert TOKEN not in json.dumps(first)
    cache.close()
    for file in (tmp_path / "fetch-cache").iterdir():
        assert TOKEN.encode() not in file.read_bytes(), f"the token lies in clear in {file.name}"


def test_a_json_fetch_is_stored_decoded_and_apart_from_the_text_view(
        client: FetchClient, server: ApiServer) -> None:
    fetcher = guest(client, server)
    as_json = [fetch(fetcher, server, "/json", json=True) for _ in range(2)]
    as_text = [fetch(fetcher, server, "/json") for _ in range(2)]
    assert as_json[0] == as_json[1] and as_json[0]["json"]["ok"] is True
    assert as_json[0]["body"] == ""
    assert as_text[0] == as_text[1] and json.loads(as_text[0]["body"])["ok"] is True
    assert server.hits("/json") == 2, "one request per view, the repeats from the cache"


def test_a_response_the_guest_refused_is_never_cached(
        client: FetchClient, cache: FetchCache, server: ApiServer, tmp_path: Path) -> None:
    fetcher = guest(client, server)
    for _ in range(2):
        with pytest.raises(FetchNetworkError) as info:
            fetch(fetcher, server, "/status/200", json=True)  # a text body, not JSON
        assert info.value.rule == "json"
    assert server.hits("/status/200") == 2
    assert entries(cache, tmp_path) == 0


def test_a_new_version_of_a_pack_never_reads_the_old_versions_entries(
        client: FetchClient, server: ApiServer) -> None:
    old, new = guest(client, server, pack_hash="1" * 64), guest(client, server, pack_hash="2" * 64)
    fetch(old, server, "/json?v")
    fetch(new, server, "/json?v")
    fetch(old, server, "/json?v")
    assert server.hits("/json") == 2
