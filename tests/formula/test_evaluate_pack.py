"""Formulas evaluated through real packs: parallel pack calls, dedup, cache, short-circuit."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral import (MANIFEST_SECTION, FormulaSyntaxError, Host, Settings, read_manifest,
                    set_custom_section)
from corral.testing import Exchange, LocalServer, Reply

from ..conftest import PACKS, TEST_PACKS, built

HOST = "api.example.test"


class HoldingServer(LocalServer):
    """Holds each request until ``release_at`` requests are in flight together (or a few
    seconds pass), and records the peak number in flight."""

    def __init__(self, release_at: int = 1, max_hold_s: float = 20.0) -> None:
        super().__init__(name="holding-server")
        self.active = self.peak = 0
        self.release_at = release_at
        self.max_hold_s = max_hold_s
        self._flight = threading.Condition()
        self.start()

    @property
    def paths(self) -> list[str]:
        return [r.raw_target for r in self.requests]

    def unmatched(self, exchange: Exchange) -> Reply:
        """Every path: this server has no routes, it holds whatever arrives."""
        with self._flight:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self._flight.notify_all()
            self._flight.wait_for(lambda: self.peak >= self.release_at, timeout=self.max_hold_s)
            self._flight.wait(timeout=0.2)  # stay in flight a moment, so overlap can show
            self.active -= 1
        return Reply(json={"path": exchange.request.raw_target})

    def url(self, path: str, host: str = HOST) -> str:
        return super().url(path, host)


@pytest.fixture
def server() -> Iterator[HoldingServer]:
    s = HoldingServer()
    yield s
    s.close()


def make_host(tmp_path: Path, server: HoldingServer, **settings: Any) -> Host:
    host = Host(Settings(data_dir=tmp_path / "data", allow_http=True,
                         host_map={HOST: "127.0.0.1"}, **settings))
    wasm = built(TEST_PACKS / "fetcher").read_bytes()
    manifest = read_manifest(wasm).to_dict()
    manifest["pack"]["network_domains"] = [f"{HOST}:{server.port}"]
    manifest["limits"]["max_fetches"] = 50
    for formula in manifest["formulas"]:
        if formula["name"] == "Cached":
            formula["cache_ttl_s"] = 60
    host.register_bytes(set_custom_section(wasm, MANIFEST_SECTION, json.dumps(manifest).encode()))
    host.register_dir(PACKS / "hello")
    return host


def calls(server: HoldingServer, formula: str, n: int) -> str:
    return ", ".join(f'fetcher.{formula}("{server.url(f"/item/{i}")}")' for i in range(n))


def test_eight_independent_pack_calls_are_in_flight_together(tmp_path: Path,
                                                             server: HoldingServer) -> None:
    server.release_at = 8
    with make_host(tmp_path, server, per_pack_concurrency=8) as host:
        result = host.evaluate(f"=Count(List({calls(server, 'Fetch', 8)}))")
    assert result == 8
    assert server.peak == 8


def test_a_per_pack_limit_caps_the_calls_in_flight(tmp_path: Path, server: HoldingServer) -> None:
    server.release_at = 2
    with make_host(tmp_path, server, per_pack_concurrency=2) as host:
        assert host.evaluate(f"=Count(List({calls(server, 'Fetch', 8)}))") == 8
    assert server.peak == 2
    assert len(server.paths) == 8


def test_identical_calls_run_once_and_cached_results_are_reused(tmp_path: Path,
                                                                server: HoldingServer) -> None:
    url = server.url("/same")
    cached = f'fetcher.Cached("{url}", 60)'
    formula = f"=First(List({cached}, {cached})).status"
    with make_host(tmp_path, server) as host:
        assert host.evaluate(f'=First(List(fetcher.Fetch("{url}"), fetcher.Fetch("{url}"))).status') == 200
        assert server.paths.count("/same") == 1, "identical calls in one formula run once"
        assert host.evaluate(formula) == 200
        assert host.evaluate(formula) == 200, "the same formula again: the formula memo"
        hits = host.metrics.value("corral_cache_total", result="hit")
        assert host.evaluate(f"={cached}.status * 1") == 200, "another formula, same call"
        assert host.metrics.value("corral_cache_total", result="hit") == hits + 1
    assert server.paths.count("/same") == 2, "the repeats within the TTL came from the caches"


def memo_key(host: Any, text: str) -> Any:
    """The memo key of ``text`` evaluated by no principal in the host's default context."""
    return host.evaluator.memo.key(text, None, {}, None, host.invocation().cache_scope())


def test_formulas_that_read_the_clock_or_act_are_not_memoised(tmp_path: Path,
                                                              server: HoldingServer) -> None:
    url = server.url("/clock")
    with make_host(tmp_path, server) as host:
        formula = f'=Concatenate(Now(), fetcher.Cached("{url}", 60).status)'
        host.evaluate(formula)
        host.evaluate(formula)
        assert host.evaluator.memo.get(memo_key(host, formula))[0] is False
        pure = f'=fetcher.Cached("{url}", 60).status'
        host.evaluate(pure)
        assert host.evaluator.memo.get(memo_key(host, pure))[0] is True
        uncached = f'=fetcher.Fetch("{url}").status'
        host.evaluate(uncached)
        host.evaluate(uncached)
    assert server.paths.count("/clock") == 3, "one cached call, then Fetch (no TTL) twice"


def test_a_memoised_result_cannot_be_changed_by_its_caller(tmp_path: Path,
                                                           server: HoldingServer) -> None:
    formula = '=List(hello.Greet("Ada"), hello.Add(1, 2))'
    with make_host(tmp_path, server) as host:
        first = host.evaluate(formula)
        assert host.evaluator.memo.get(memo_key(host, formula))[0] is True
        first[0] = "tampered"
        assert host.evaluate(formula) == ["Hello, Ada!", 3.0]


def test_a_new_pack_version_is_not_answered_from_the_memo(tmp_path: Path,
                                                          server: HoldingServer) -> None:
    with make_host(tmp_path, server) as host:
        assert host.evaluate('=hello.Greet("Ada")') == "Hello, Ada!"
        wasm = built(PACKS / "hello").read_bytes()
        manifest = read_manifest(wasm).to_dict()
        manifest["pack"]["version"] = "0.2.0"
        host.register_bytes(set_custom_section(wasm + b"", MANIFEST_SECTION,
                                               json.dumps(manifest).encode()))
        memo = host.evaluator.memo
        assert memo.get(memo_key(host, '=hello.Greet("Ada")'))[0] is False
        assert host.evaluate('=hello.Greet("Ada")') == "Hello, Ada!"


def test_the_untaken_branch_makes_no_call(tmp_path: Path, server: HoldingServer) -> None:
    with make_host(tmp_path, server) as host:
        assert host.evaluate(f'=If(1 > 2, fetcher.Fetch("{server.url("/no")}"), "skipped")') == "skipped"
        assert host.evaluate(f'=Or(true, fetcher.Fetch("{server.url("/no")}"))') is True
    assert server.paths == []


def test_formulas_combine_pack_results_with_builtins(tmp_path: Path,
                                                     server: HoldingServer) -> None:
    with make_host(tmp_path, server) as host:
        assert host.evaluate('=Upper(hello.Greet("Ada")) & " " & hello.Add(2, 3)') == "HELLO, ADA! 5"
        assert host.evaluate('=hello.Describe("Anna").palindrome') is True
        assert host.evaluate('=hello.WordCount(Join(" ", List("a", "b", "c")))') == 3
        with pytest.raises(FormulaSyntaxError) as info:
            host.evaluate('=hello.Greet("Ada"')
        assert info.value.line == 1 and "^" in info.value.context
