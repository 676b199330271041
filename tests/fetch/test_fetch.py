"""FetchClient against real local servers reached through the host map (and real attacks)."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlencode

import httpcore
import pytest

from corral import (Closed, ConfigError, FetchCache, FetchClient, FetchConfig, FetchDenied,
                    FetchNetworkError, FetchTimeout, FetchTooLarge, PinnedTransport)
from tests.fetch_servers import TEST_HOST, ApiServer, make_tls_files

from .bearer import Bearer, QueryKey

OTHER_HOST = "api.other.test"
PACK_HASH = "0" * 64


class Resolver:
    """A DNS stand-in: each name answers the next of its scripted answers (the last repeats)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.answers:
            raise socket.gaierror(f"test resolver: no such name {host}")
        script = self.answers[host]
        return script.pop(0) if len(script) > 1 else script[0]


class RoutedConnector(httpcore.SyncBackend):
    """The test's 'internet': records where each connection goes and routes public test
    addresses to the local server; anything else is unreachable (nothing leaves loopback)."""

    def __init__(self, routes: dict[str, str]) -> None:
        self.routes = routes
        self.connected: list[tuple[str, int]] = []

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        self.connected.append((host, port))
        if host != "127.0.0.1" and host not in self.routes:
            raise httpcore.ConnectError(f"test network: no route to {host}")
        return super().connect_tcp(self.routes.get(host, host), port, timeout, local_address,
                                   socket_options)


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with ApiServer() as api:
        yield api


def make_client(server: ApiServer, *, cache: FetchCache | None = None,
                connector: httpcore.NetworkBackend | None = None, **settings: Any) -> FetchClient:
    settings.setdefault("allow_http", True)
    settings.setdefault("host_map", {TEST_HOST: "127.0.0.1", OTHER_HOST: "127.0.0.1"})
    config = FetchConfig(**settings)
    transport = PinnedTransport(config, connector=connector) if connector else None
    return FetchClient(config, cache=cache, transport=transport)


def domains(server: ApiServer) -> list[str]:
    return [f"example.test:{server.port}", f"other.test:{server.port}"]


def fetch(client: FetchClient, server: ApiServer, path_or_url: str, *,
          credentials: Any = None, principal: str = "", approved: tuple[str, ...] = (),
          **request: Any) -> dict[str, Any]:
    url = path_or_url if "://" in path_or_url else server.url(path_or_url)
    return client.fetch({"url": url, **request}, pack="Test", pack_hash=PACK_HASH,
                        principal=principal, domains=domains(server), credentials=credentials,
                        approved_domains=approved)


def redirect(to: str, code: int = 302) -> str:
    return "/redirect?" + urlencode({"to": to, "code": code})


def fetch_with(client: FetchClient, server: ApiServer, path: str, credentials: Any,
               **request: Any) -> dict[str, Any]:
    """A fetch holding ``credentials``, with every declared domain approved."""
    return fetch(client, server, path, credentials=credentials,
                 approved=tuple(domains(server)), **request)


def refused(client: FetchClient, server: ApiServer, path_or_url: str, **request: Any
            ) -> FetchDenied:
    with pytest.raises(FetchDenied) as info:
        fetch(client, server, path_or_url, **request)
    return info.value


# -- the basics ----------------------------------------------------------------------------


@pytest.mark.parametrize("target, on_the_wire", [
    ("/echo?q=a%20b&x=1", "/echo?q=a%20b&x=1"),  # nothing to encode: sent as written
    ("/echo?q=a b", "/echo?q=a%20b"),  # a space is encoded
    ("/echo/\u00fc?q=\u00fc", "/echo/%C3%BC?q=%C3%BC"),  # so is non-ASCII
])
def test_request_targets_reach_the_server_encoded_once(server: ApiServer, target: str,
                                                       on_the_wire: str) -> None:
    with make_client(server) as client:
        fetch(client, server, server.url(target))
    arrived = server.requests[-1]
    assert arrived.raw_target == on_the_wire
    assert arrived.headers["host"] == f"{TEST_HOST}:{server.port}"


def test_bodies_are_framed_with_their_length(server: ApiServer) -> None:
    with make_client(server) as client:
        fetch(client, server, "/echo", method="POST", body="abc")
        assert server.requests[-1].headers["content-length"] == "3"
        assert server.requests[-1].body == b"abc"
        fetch(client, server, "/echo", method="POST")
        assert server.requests[-1].headers["content-length"] == "0"
        fetch(client, server, "/echo")
        assert "content-length" not in server.requests[-1].headers


def test_each_thread_keeps_its_connection_and_close_ends_them_all(server: ApiServer) -> None:
    client = make_client(server)

    def two_fetches() -> list[int]:
        before = len(server.requests)
        for _ in range(2):
            assert fetch(client, server, "/json")["status"] == 200
        return [r.peer_port for r in server.requests[before:]]

    mine = two_fetches()
    theirs: list[int] = []
    worker = threading.Thread(target=lambda: theirs.extend(two_fetches()))
    worker.start()
    worker.join(10)
    assert mine[0] == mine[1], "a thread reuses its kept-alive connection"
    assert theirs[0] == theirs[1] and theirs[0] != mine[0], "another thread has its own"
    client.close()
    with pytest.raises(Closed, match="fetch client is closed"):
        fetch(client, server, "/json")



def test_json_fetch_works(server: ApiServer) -> None:
    with make_client(server) as client:
        response = fetch(client, server, "/json?q=1")
    assert response["status"] == 200
    assert response["headers"]["content-type"] == "application/json"
    assert json.loads(response["body"]) == {"ok": True, "path": "/json", "query": {"q": ["1"]}}


def test_binary_bodies_stay_bytes_and_text_is_decoded(server: ApiServer) -> None:
    with make_client(server) as client:
        assert isinstance(fetch(client, server, "/json", binary=True)["body"], bytes)
        assert isinstance(fetch(client, server, "/json", binary=False)["body"], str)


def test_method_body_and_guest_headers_reach_the_server(server: ApiServer) -> None:
    with make_client(server) as client:
        response = fetch(client, server, "/echo", method="post", body="héllo",
                         headers={"X-Trace": "abc", "Content-Type": "text/plain"})
    echoed = json.loads(response["body"])
    assert echoed["method"] == "POST"
    assert echoed["body"] == "héllo"
    assert echoed["headers"]["x-trace"] == "abc"
    assert echoed["headers"]["user-agent"] == "corral"


def test_compressed_bodies_are_decoded(server: ApiServer) -> None:
    with make_client(server) as client:
        gzipped = fetch(client, server, "/gzip")
        deflated = fetch(client, server, "/deflate")
    assert json.loads(gzipped["body"]) == {"compressed": True}
    assert "content-encoding" not in gzipped["headers"]
    assert deflated["body"] == "deflated " * 100


@pytest.mark.parametrize("request_map, rule", [
    ({"url": "https://x", "verb": "GET"}, "request"),
    ({"url": "https://x", "method": "TRACE"}, "method"),
    ({"url": "https://x", "cache_ttl_s": -1}, "request"),
    ({"url": "https://x", "binary": "yes"}, "request"),
    ({"url": "https://x", "body": 12}, "request"),
    ({"url": "https://x", "headers": {"Host": "evil.net"}}, "header"),
    ({"url": "https://x", "headers": ["X-A", "1"]}, "header"),
    ({}, "malformed"),
])
def test_malformed_requests_are_refused(server: ApiServer, request_map: dict[str, Any],
                                        rule: str) -> None:
    request_map = {k: (server.url("/json") if v == "https://x" else v)
                   for k, v in request_map.items()}
    with make_client(server) as client, pytest.raises(FetchDenied) as info:
        client.fetch(request_map, pack="Test", pack_hash=PACK_HASH, domains=domains(server))
    assert info.value.rule == rule
    assert server.hits() == 0


def test_request_body_is_capped(server: ApiServer) -> None:
    with make_client(server, max_request_bytes=10) as client, \
            pytest.raises(FetchTooLarge) as info:
        fetch(client, server, "/echo", method="POST", body=b"x" * 11)
    assert info.value.rule == "request_body"
    assert server.hits() == 0


def test_a_closed_client_says_so_and_closes_once(server: ApiServer) -> None:
    client = make_client(server)
    client.close()
    client.close()
    with pytest.raises(Closed, match="fetch client is closed"):
        fetch(client, server, "/json")


def test_bad_host_config_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="host_map"):
        FetchConfig(host_map={"api.example.test": "localhost"})
    with pytest.raises(ConfigError, match="total_timeout_s"):
        FetchConfig(total_timeout_s=0)


def test_connection_refused_is_a_network_error(server: ApiServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with make_client(server) as client, pytest.raises(FetchNetworkError) as info:
        client.fetch({"url": f"http://{TEST_HOST}:{closed_port}/"}, pack="Test",
                     pack_hash=PACK_HASH, domains=[f"example.test:{closed_port}"])
    assert info.value.kind == "fetch_network"


def test_cookies_never_carry_over_between_fetches(server: ApiServer) -> None:
    with make_client(server) as client:
        assert "session=s3cr3t" in fetch(client, server, "/set-cookie")["headers"]["set-cookie"]
        echoed = json.loads(fetch(client, server, "/echo")["body"])
    assert "cookie" not in echoed["headers"]


# -- redirects -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [301, 302, 307, 308])
@pytest.mark.parametrize("target, rule", [
    ("http://127.0.0.1:{port}/json", "ip_literal"),
    ("http://2130706433:{port}/json", "ip_literal"),
    ("http://[::1]:{port}/json", "ip_literal"),
    ("http://169.254.169.254/latest/meta-data/", "ip_literal"),
    ("http://internal.example.test:{port}/json", "private_address"),
    ("http://metadata.example.test:{port}/json", "metadata_address"),
    ("http://evil.test:{port}/json", "undeclared_domain"),
    ("file:///etc/passwd", "scheme"),
    ("gopher://api.example.test:{port}/json", "scheme"),
    ("http://user@api.example.test:{port}/json", "userinfo"),
    ("http://api.example.test:1/json", "port"),
])
def test_redirects_are_checked_by_the_full_policy(server: ApiServer, code: int, target: str,
                                                  rule: str) -> None:
    resolver = Resolver({"internal.example.test": [["127.0.0.1"]],
                         "metadata.example.test": [["169.254.169.254"]]})
    with make_client(server, resolver=resolver) as client:
        error = refused(client, server, redirect(target.format(port=server.port), code))
    assert error.rule == rule, error
    assert server.hits("/json") == 0


def test_redirects_within_the_declared_domains_are_followed(server: ApiServer) -> None:
    with make_client(server) as client:
        relative = fetch(client, server, redirect("/json?via=relative"))
        absolute = fetch(client, server, redirect(f"http://{OTHER_HOST}:{server.port}/json", 308))
    assert json.loads(relative["body"])["query"] == {"via": ["relative"]}
    assert absolute["status"] == 200


def test_redirects_stop_at_the_limit(server: ApiServer) -> None:
    with make_client(server, max_redirects=3) as client:
        assert fetch(client, server, "/hops/3")["status"] == 200
        error = refused(client, server, "/hops/4")
    assert error.rule == "redirect_limit"
    assert server.hits("/json") == 1


@pytest.mark.parametrize("code, method, has_body", [(303, "GET", False), (302, "GET", False),
                                                    (307, "POST", True), (308, "POST", True)])
def test_redirect_methods(server: ApiServer, code: int, method: str, has_body: bool) -> None:
    with make_client(server) as client:
        response = fetch(client, server, redirect("/echo", code), method="POST",
                         body="payload", headers={"Content-Type": "text/plain"})
    echoed = json.loads(response["body"])
    assert echoed["method"] == method
    assert (echoed["body"] == "payload") is has_body


def test_guest_authorization_does_not_follow_to_another_origin(server: ApiServer) -> None:
    with make_client(server) as client:
        response = fetch(client, server, redirect(f"http://{OTHER_HOST}:{server.port}/echo"),
                         headers={"Authorization": "Basic Z3Vlc3Q6", "X-Keep": "1"})
    echoed = json.loads(response["body"])
    assert "authorization" not in echoed["headers"]
    assert echoed["headers"]["x-keep"] == "1"


# -- addresses: resolution, rebinding, TLS ------------------------------------------------


def test_a_name_resolving_to_a_private_address_is_refused(server: ApiServer) -> None:
    resolver = Resolver({"internal.example.test": [["93.184.216.34", "10.0.0.7"]]})
    with make_client(server, resolver=resolver) as client:
        error = refused(client, server, f"http://internal.example.test:{server.port}/json")
    assert error.rule == "private_address"
    assert "10.0.0.7" in str(error)
    assert error.url == f"http://internal.example.test:{server.port}/json"
    assert server.hits() == 0


def test_dns_rebinding_connects_to_the_checked_address(server: ApiServer) -> None:
    # The attacker's DNS answers a public address to the check and loopback afterwards.
    resolver = Resolver({"rebind.example.test": [["8.8.8.8"], ["127.0.0.1"]]})
    connector = RoutedConnector({"8.8.8.8": "127.0.0.1"})
    url = f"http://rebind.example.test:{server.port}/json"
    with make_client(server, resolver=resolver, connector=connector) as client:
        assert fetch(client, server, url)["status"] == 200
    assert resolver.calls == ["rebind.example.test"]
    assert connector.connected == [("8.8.8.8", server.port)]
    # A new connection asks again, and the private answer is refused before connecting.
    with make_client(server, resolver=resolver, connector=connector) as client:
        assert refused(client, server, url).rule == "private_address"
    assert connector.connected == [("8.8.8.8", server.port)]
    assert server.hits() == 1


def test_tls_is_verified_against_the_name_while_connecting_to_the_mapped_address(
        tmp_path: Path) -> None:
    ca, cert, key = make_tls_files(tmp_path, [TEST_HOST])
    with ApiServer(tls=(cert, key)) as tls_server:
        host_map = {TEST_HOST: "127.0.0.1", "wrong.example.test": "127.0.0.1"}
        with make_client(tls_server, allow_http=False, ca_file=str(ca),
                         host_map=host_map) as client:
            ok = client.fetch({"url": tls_server.url("/json")}, pack="Test",
                              pack_hash=PACK_HASH, domains=[f"example.test:{tls_server.port}"])
            with pytest.raises(FetchNetworkError, match="CERTIFICATE_VERIFY_FAILED|hostname"):
                client.fetch({"url": tls_server.url("/json", host="wrong.example.test")},
                             pack="Test", pack_hash=PACK_HASH,
                             domains=[f"example.test:{tls_server.port}"])
    assert ok["status"] == 200
    assert tls_server.hits("/json") == 1


# -- hostile responses ---------------------------------------------------------------------


def test_an_endless_body_is_cut_at_the_cap(server: ApiServer) -> None:
    with make_client(server, max_response_bytes=1 << 20) as client, \
            pytest.raises(FetchTooLarge) as info:
        fetch(client, server, "/endless")
    assert info.value.rule == "response_body"
    assert info.value.kind == "fetch_too_large"


def test_a_declared_length_over_the_cap_is_refused_before_reading(server: ApiServer) -> None:
    with make_client(server, max_response_bytes=10) as client, \
            pytest.raises(FetchTooLarge, match="declares"):
        fetch(client, server, "/json")


@pytest.mark.parametrize("count, size", [(150, 10), (2, 40_000), (1, 200_000)])
def test_huge_response_headers_are_refused(server: ApiServer, count: int, size: int) -> None:
    with make_client(server) as client, pytest.raises(FetchTooLarge) as info:
        fetch(client, server, f"/huge-headers?count={count}&size={size}")
    assert info.value.rule == "response_headers"


def test_a_gzip_bomb_is_cut_after_decompression(server: ApiServer) -> None:
    with make_client(server, max_response_bytes=1 << 20) as client, \
            pytest.raises(FetchTooLarge, match="after decompression") as info:
        fetch(client, server, "/gzip-bomb?mb=16")
    assert info.value.rule == "response_body"


def test_a_slow_drip_times_out_on_the_total_timeout(server: ApiServer) -> None:
    with make_client(server, total_timeout_s=0.5, read_timeout_s=5) as client, \
            pytest.raises(FetchTimeout) as info:
        fetch(client, server, "/slow?every=0.05")
    assert info.value.kind == "fetch_timeout"


def test_the_call_deadline_bounds_a_fetch(server: ApiServer) -> None:
    with make_client(server) as client, pytest.raises(FetchTimeout):
        client.fetch({"url": server.url("/slow?every=0.05")}, pack="Test",
                     pack_hash=PACK_HASH, domains=domains(server),
                     deadline=time.monotonic() + 0.4)


# -- credentials ---------------------------------------------------------------------------


def test_credentials_go_only_to_hosts_they_apply_to(server: ApiServer) -> None:
    credentials = Bearer("tok-1")
    with make_client(server) as client:
        own = fetch_with(client, server, "/echo", credentials)
        other = fetch_with(client, server, f"http://{OTHER_HOST}:{server.port}/echo", credentials)
    assert json.loads(own["body"])["headers"]["authorization"] == "Bearer tok-1"
    assert "authorization" not in json.loads(other["body"])["headers"]


def test_credentials_are_not_carried_across_a_redirect_to_another_host(server: ApiServer
                                                                        ) -> None:
    credentials = Bearer("tok-1")
    to_other = redirect(f"http://{OTHER_HOST}:{server.port}/echo")
    with make_client(server) as client:
        response = fetch_with(client, server, to_other, credentials)
        same_host = fetch_with(client, server, redirect("/echo"), credentials)
    first, second = server.requests[0], server.requests[1]
    assert first.headers["authorization"] == "Bearer tok-1"
    assert second.path == "/echo" and "authorization" not in second.headers
    assert "authorization" not in json.loads(response["body"])["headers"]
    assert json.loads(same_host["body"])["headers"]["authorization"] == "Bearer tok-1"


def test_the_guest_may_not_set_credential_headers_or_params(server: ApiServer) -> None:
    with make_client(server) as client:
        header = refused(client, server, "/echo", headers={"Authorization": "Bearer mine"},
                         credentials=Bearer("tok"))
        param = refused(client, server, "/echo?api_key=mine", credentials=QueryKey("k"))
    assert (header.rule, param.rule) == ("header", "param")
    assert server.hits() == 0


def test_query_credentials_are_injected_and_never_shown_in_errors(server: ApiServer) -> None:
    credentials = QueryKey("SECRET-KEY")
    with make_client(server) as client:
        echoed = json.loads(fetch_with(client, server, "/echo?q=1", credentials)["body"])
        with pytest.raises(FetchDenied) as info:
            fetch_with(client, server, "/reflect-redirect?" + urlencode(
                {"to": f"http://evil.test:{server.port}/steal"}), credentials)
    assert echoed["query"] == {"q": ["1"], "api_key": ["SECRET-KEY"]}
    assert info.value.rule == "redirect_secret", "refused before it is even read as a URL"
    assert "SECRET-KEY" not in str(info.value)
    assert "SECRET-KEY" not in json.dumps(info.value.to_dict())


def test_a_401_refreshes_once_and_retries_once(server: ApiServer) -> None:
    server.valid_token = "fresh"
    credentials = Bearer("stale", next_token="fresh")
    with make_client(server) as client:
        response = fetch_with(client, server, "/auth", credentials)
    assert response["status"] == 200
    assert credentials.refreshes == 1
    assert [r.headers["authorization"] for r in server.requests] == ["Bearer stale",
                                                                     "Bearer fresh"]


def test_a_401_that_persists_is_returned_after_one_retry(server: ApiServer) -> None:
    server.valid_token = "unobtainable"
    refreshable, hopeless = Bearer("stale", next_token="also-stale"), Bearer("stale")
    with make_client(server) as client:
        assert fetch_with(client, server, "/auth", refreshable)["status"] == 401
        assert server.hits("/auth") == 2
        assert fetch_with(client, server, "/auth", hopeless)["status"] == 401
    assert server.hits("/auth") == 3
    assert (refreshable.refreshes, hopeless.refreshes) == (1, 1)


def test_a_401_without_credentials_is_just_returned(server: ApiServer) -> None:
    with make_client(server) as client:
        assert fetch(client, server, "/auth")["status"] == 401
    assert server.hits("/auth") == 1


# -- the GET cache through the client -----------------------------------------------------


def test_a_second_identical_get_within_ttl_does_not_reach_the_server(server: ApiServer,
                                                                     tmp_path: Path) -> None:
    with FetchCache(tmp_path / "cache") as cache, make_client(server, cache=cache) as client:
        first = fetch(client, server, "/json", cache_ttl_s=60)
        second = fetch(client, server, "/json", cache_ttl_s=60)
        uncached = fetch(client, server, "/json")
    assert first == second == uncached
    assert server.hits("/json") == 2


def test_non_2xx_and_non_get_responses_are_never_cached(server: ApiServer, tmp_path: Path
                                                        ) -> None:
    with FetchCache(tmp_path / "cache") as cache, make_client(server, cache=cache) as client:
        for _ in range(2):
            assert fetch(client, server, "/status/404", cache_ttl_s=60)["status"] == 404
            fetch(client, server, "/echo", method="POST", body="x", cache_ttl_s=60)
    assert server.hits("/status/404") == 2
    assert server.hits("/echo") == 2


def test_cache_entries_are_scoped_to_the_connection(server: ApiServer, tmp_path: Path) -> None:
    alice, bob = Bearer("a"), Bearer("b")
    bob.identity = "conn-2"
    with FetchCache(tmp_path / "cache") as cache, make_client(server, cache=cache) as client:
        a1 = fetch_with(client, server, "/echo", alice, cache_ttl_s=60)
        b1 = fetch_with(client, server, "/echo", bob, cache_ttl_s=60)
        a2 = fetch_with(client, server, "/echo", alice, cache_ttl_s=60)
    assert json.loads(a1["body"])["headers"]["authorization"] == "Bearer a"
    assert json.loads(b1["body"])["headers"]["authorization"] == "Bearer b"
    assert a2 == a1
    assert server.hits("/echo") == 2


def test_identical_gets_in_flight_share_one_request(server: ApiServer, tmp_path: Path) -> None:
    gate = server.hold_responses()
    results: list[dict[str, Any]] = []
    with FetchCache(tmp_path / "cache") as cache, make_client(server, cache=cache) as client:
        workers = [threading.Thread(target=lambda: results.append(
            fetch(client, server, "/json", cache_ttl_s=60))) for _ in range(4)]
        for worker in workers:
            worker.start()
        _wait_for(lambda: cache.followers_waiting() == 3)
        gate.set()
        for worker in workers:
            worker.join(10)
    assert len(results) == 4 and all(r == results[0] for r in results)
    assert server.hits("/json") == 1


def _wait_for(condition: Any, limit_s: float = 10.0) -> None:
    stop = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < stop, "condition never became true"
        time.sleep(0.01)


# -- ambient state and concurrency --------------------------------------------------------


def test_environment_proxies_are_ignored(server: ApiServer, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    with ApiServer() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        with make_client(server) as client:
            assert fetch(client, server, "/json")["status"] == 200
        assert proxy.hits() == 0
    assert server.hits("/json") == 1


def test_one_client_serves_many_threads(server: ApiServer) -> None:
    statuses: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        for i in range(5):
            status = fetch(client, server, f"/json?n={n}&i={i}")["status"]
            with lock:
                statuses.append(status)

    with make_client(server) as client:
        workers = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
    assert statuses == [200] * 40
    assert server.hits("/json") == 40
