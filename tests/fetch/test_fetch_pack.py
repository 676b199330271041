"""The fetch policy proven through a real pack: guest -> corral.fetch import -> policy -> network.

Every bypass is tried by the `fetcher` test pack (Zig) against real servers on 127.0.0.1,
and each refusal must name its rule and leave the target server untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral import (MANIFEST_SECTION, FetchDenied, FetchError, FetchLimitExceeded, FetchTooLarge,
                    Host, Pack, Settings, read_manifest, set_custom_section)

from ..conftest import TEST_PACKS, built
from ..fetch_servers import TEST_HOST, ApiServer

PRIVATE_NAME = f"internal.{TEST_HOST}"
METADATA_NAME = f"metadata.{TEST_HOST}"


def with_domains(wasm: Path, domains: list[str]) -> bytes:
    """The same pack with its manifest's network_domains replaced (ports are per test run)."""
    data = wasm.read_bytes()
    manifest = read_manifest(data).to_dict()
    manifest["pack"]["network_domains"] = domains
    return set_custom_section(data, MANIFEST_SECTION, json.dumps(manifest).encode())


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with ApiServer() as api:
        yield api


@pytest.fixture(scope="module")
def fetch_host(server: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    def resolver(name: str, port: int) -> list[str]:
        return {PRIVATE_NAME: ["10.1.2.3"], METADATA_NAME: ["169.254.169.254"]}.get(
            name, ["203.0.113.7"])

    settings = Settings(data_dir=tmp_path_factory.mktemp("host"), allow_http=True,
                        host_map={TEST_HOST: "127.0.0.1", "undeclared.test": "127.0.0.1"})
    host = Host(settings, resolver=resolver)
    yield host
    host.close()


@pytest.fixture(scope="module")
def fetcher(fetch_host: Host, server: ApiServer) -> Pack:
    wasm = built(TEST_PACKS / "fetcher")
    return fetch_host.register_bytes(with_domains(wasm, [f"{TEST_HOST}:{server.port}"]))


def call(host: Host, formula: str, *args: Any) -> Any:
    return host.call("fetcher", formula, *args)


def denied_rule(host: Host, formula: str, *args: Any) -> str:
    with pytest.raises(FetchDenied) as info:
        call(host, formula, *args)
    assert info.value.rule, "a refusal names its rule"
    assert "fetcher" in str(info.value.details.get("pack", "")), "and the pack"
    return str(info.value.rule)


def test_pack_fetches_json_and_transforms_it(fetch_host: Host, fetcher: Pack,
                                              server: ApiServer) -> None:
    assert call(fetch_host, "Summary", server.url("/json")) == "/json is ok"
    assert call(fetch_host, "Fetch", server.url("/status/404"))["status"] == 404


@pytest.mark.parametrize("code", [301, 302, 307, 308])
@pytest.mark.parametrize("target, rule", [
    ("http://127.0.0.1:{port}/json", "ip_literal"),
    ("http://169.254.169.254/latest/meta-data/", "ip_literal"),
    ("http://undeclared.test:{port}/json", "undeclared_domain"),
    (f"http://{PRIVATE_NAME}:{{port}}/json", "private_address"),
])
def test_redirects_to_forbidden_targets_are_refused(fetch_host: Host, fetcher: Pack,
                                                    server: ApiServer, code: int, target: str,
                                                    rule: str) -> None:
    before = server.hits("/json")
    url = server.url(f"/redirect?code={code}&to=" + target.format(port=server.port))
    assert denied_rule(fetch_host, "Fetch", url) == rule
    assert server.hits("/json") == before, "the redirect target was never reached"


@pytest.mark.parametrize("url, rule", [
    ("http://127.0.0.1:{port}/json", "ip_literal"),
    ("http://127.1:{port}/json", "ip_literal"),
    ("http://2130706433:{port}/json", "ip_literal"),
    ("http://0x7f000001:{port}/json", "ip_literal"),
    ("http://0177.0.0.1:{port}/json", "ip_literal"),
    ("http://[::ffff:127.0.0.1]:{port}/json", "ip_literal"),
    ("http://[::1]:{port}/json", "ip_literal"),
    ("http://0.0.0.0:{port}/json", "ip_literal"),
    ("http://%s@127.0.0.1:{port}/json" % TEST_HOST, "userinfo"),
    ("http://%s%%40evil.test:{port}/json" % TEST_HOST, "userinfo"),
    ("http://undeclared.test:{port}/json", "undeclared_domain"),
    ("http://evil-%s:{port}/json" % TEST_HOST, "undeclared_domain"),
    ("http://%s.evil.net:{port}/json" % TEST_HOST, "undeclared_domain"),
    ("http://%s:1/json" % TEST_HOST, "port"),
    ("ftp://%s:{port}/json" % TEST_HOST, "scheme"),
    ("file:///etc/passwd", "scheme"),
    (f"http://{PRIVATE_NAME}:{{port}}/json", "private_address"),
    (f"http://{METADATA_NAME}:{{port}}/json", "metadata_address"),
])
def test_direct_bypass_attempts_are_refused(fetch_host: Host, fetcher: Pack, server: ApiServer,
                                            url: str, rule: str) -> None:
    before = len(server.requests)
    assert denied_rule(fetch_host, "Fetch", url.format(port=server.port)) == rule
    assert len(server.requests) == before


@pytest.mark.parametrize("name, value", [
    ("Host", "evil.test"),
    ("Transfer-Encoding", "chunked"),
    ("Connection", "close"),
    ("X-Injected", "a\r\nX-Evil: 1"),
])
def test_guest_may_not_set_forbidden_headers(fetch_host: Host, fetcher: Pack, server: ApiServer,
                                             name: str, value: str) -> None:
    assert denied_rule(fetch_host, "FetchWithHeader", server.url("/echo"), name, value) == "header"


def test_endless_body_is_cut_at_the_cap(fetch_host: Host, fetcher: Pack,
                                        server: ApiServer) -> None:
    with pytest.raises(FetchTooLarge):
        call(fetch_host, "Fetch", server.url("/endless"))


def test_gzip_bomb_is_cut_after_decompression(fetch_host: Host, fetcher: Pack,
                                              server: ApiServer) -> None:
    with pytest.raises(FetchTooLarge):
        call(fetch_host, "Fetch", server.url("/gzip-bomb?mb=64"))
    assert json.loads(call(fetch_host, "Fetch", server.url("/gzip"))["body"])


def test_huge_headers_are_refused(fetch_host: Host, fetcher: Pack, server: ApiServer) -> None:
    with pytest.raises(FetchError) as info:
        call(fetch_host, "Fetch", server.url("/huge-headers?count=500&size=200"))
    assert info.value.kind in ("fetch_too_large", "fetch_denied")


def test_fetches_per_call_are_limited(fetch_host: Host, fetcher: Pack, server: ApiServer) -> None:
    assert call(fetch_host, "Many", server.url("/json"), 5) == 5
    with pytest.raises(FetchLimitExceeded):
        call(fetch_host, "Many", server.url("/json"), 6)


def test_the_guest_sees_the_error_kind(fetch_host: Host, fetcher: Pack, server: ApiServer) -> None:
    assert call(fetch_host, "Status", f"http://undeclared.test:{server.port}/") == "error:denied"
    assert call(fetch_host, "Status", server.url("/status/503")) == "status:503"


def test_get_cache_answers_within_ttl_without_reaching_the_server(
        fetch_host: Host, fetcher: Pack, server: ApiServer) -> None:
    url = server.url("/json?cache-test=1")
    first = call(fetch_host, "Cached", url, 60)
    second = call(fetch_host, "Cached", url, 60)
    assert first == second
    assert sum(1 for r in server.requests if r.query.get("cache-test")) == 1


def test_non_2xx_responses_are_never_cached(fetch_host: Host, fetcher: Pack,
                                            server: ApiServer) -> None:
    url = server.url("/status/500")
    before = server.hits("/status/500")
    for _ in range(2):
        assert call(fetch_host, "Cached", url, 60)["status"] == 500
    assert server.hits("/status/500") == before + 2


def test_refusals_are_counted_by_rule(fetch_host: Host, fetcher: Pack, server: ApiServer) -> None:
    before = fetch_host.metrics.value("corral_fetch_denials_total", pack="fetcher",
                                      rule="undeclared_domain")
    denied_rule(fetch_host, "Fetch", f"http://undeclared.test:{server.port}/")
    assert fetch_host.metrics.value("corral_fetch_denials_total", pack="fetcher",
                                    rule="undeclared_domain") == before + 1
