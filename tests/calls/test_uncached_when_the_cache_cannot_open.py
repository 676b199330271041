"""A result cache that cannot open (a full disk, a path that is not a directory) makes
calls run uncached, never fail; the host tries it again later and uses it once it opens."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from corral import Host, Settings

from ..conftest import PACKS, built


def test_calls_run_uncached_while_the_cache_cannot_open_and_use_it_once_it_can(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "result-cache"
    blocker.write_text("a file where the cache directory should be")
    with Host(Settings(data_dir=tmp_path)) as host:
        host.register_bytes(built(PACKS / "hello").read_bytes())
        with caplog.at_level(logging.WARNING, logger="corral.host"):
            assert host.call("hello", "Greet", "Ada") == "Hello, Ada!"
            assert host.call("hello", "Greet", "Ada") == "Hello, Ada!"
        assert host.scheduler.cache is None
        assert host.scheduler.stats().cache_hits == 0
        assert [r for r in caplog.records if "calls run uncached" in r.getMessage()]

        blocker.unlink()
        monkeypatch.setattr("corral._host._CACHE_RETRY_S", 0.0)
        host._cache_retry_at = 0.0  # the retry is due
        assert host.call("hello", "Greet", "Grace") == "Hello, Grace!"
        assert host.scheduler.cache is not None
        assert host.call("hello", "Greet", "Grace") == "Hello, Grace!"
        assert host.scheduler.stats().cache_hits == 1
