"""Where a secret cannot be confined it is not sent: credentials over https only (or to a
loopback test mapping), never across a change of scheme, host or port, never to a redirect
that would carry them on, and a call holding them only on auth and approved domains.

FetchClient against real servers on 127.0.0.1, TLS where the case needs it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urlencode

import pytest

from corral import FetchClient, FetchDenied
from corral.testing import Exchange
from tests.fetch_servers import TEST_HOST, ApiServer, make_tls_files

from .bearer import Bearer, QueryKey
from .test_fetch import OTHER_HOST, Resolver, RoutedConnector, make_client

TOKEN = "S3cr3t/Tok+en=="  # characters that every encoding below changes


@pytest.fixture
def server() -> Iterator[ApiServer]:
    with ApiServer() as api:
        yield api


@pytest.fixture
def second() -> Iterator[ApiServer]:
    with ApiServer() as api:
        yield api


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[ApiServer, Path]]:
    ca, cert, key = make_tls_files(tmp_path, [TEST_HOST, "public.example.test"])
    with ApiServer(tls=(cert, key)) as api:
        yield api, ca


def send(client: FetchClient, url: str, credentials: Any, ports: list[int], *,
         approved: bool = True) -> dict[str, Any]:
    """One fetch of ``url`` holding ``credentials``; example.test and other.test are
    declared on each of ``ports`` (and approved unless told otherwise)."""
    declared = [f"{name}:{port}" for port in ports for name in ("example.test", "other.test")]
    return client.fetch({"url": url}, pack="Test", pack_hash="0" * 64, domains=declared,
                        credentials=credentials,
                        approved_domains=declared if approved else ())


def auth_header(server: ApiServer, path: str = "/echo") -> str | None:
    seen = [r for r in server.requests if r.path == path]
    assert seen, f"{path} was not reached"
    return seen[-1].headers.get("authorization")


# -- credentials only over https ----------------------------------------------------------


def test_plain_http_to_a_name_that_is_not_a_loopback_test_mapping_gets_no_credentials(
        server: ApiServer) -> None:
    # allow_http is on; the name resolves (through DNS) to a public address.
    resolver = Resolver({"public.example.test": [["8.8.8.8"]]})
    connector = RoutedConnector({"8.8.8.8": "127.0.0.1"})
    with make_client(server, resolver=resolver, connector=connector) as client:
        response = send(client, f"http://public.example.test:{server.port}/echo",
                        Bearer(TOKEN), [server.port])
    assert response["status"] == 200
    assert auth_header(server) is None
    assert TOKEN not in json.dumps(server.requests[-1].headers)


def test_a_host_map_entry_to_a_non_loopback_address_is_not_a_test_mapping(
        server: ApiServer) -> None:
    connector = RoutedConnector({"8.8.4.4": "127.0.0.1"})
    host_map = {TEST_HOST: "127.0.0.1", "lan.example.test": "8.8.4.4"}
    with make_client(server, host_map=host_map, connector=connector) as client:
        send(client, f"http://lan.example.test:{server.port}/echo", Bearer(TOKEN), [server.port])
        assert auth_header(server) is None
        send(client, server.url("/echo"), Bearer(TOKEN), [server.port])
    assert auth_header(server) == f"Bearer {TOKEN}", "the loopback test mapping does get them"


def test_https_carries_credentials_to_a_name_reached_through_dns(
        tls_server: tuple[ApiServer, Path]) -> None:
    api, ca = tls_server
    resolver = Resolver({"public.example.test": [["8.8.8.8"]]})
    connector = RoutedConnector({"8.8.8.8": "127.0.0.1"})
    with make_client(api, allow_http=False, ca_file=str(ca), resolver=resolver,
                     connector=connector) as client:
        response = send(client, f"https://public.example.test:{api.port}/echo", Bearer(TOKEN),
                        [api.port])
    assert response["status"] == 200
    assert auth_header(api) == f"Bearer {TOKEN}"


# -- never across a change of scheme, host or port -----------------------------------------


def test_a_redirect_from_https_to_http_on_the_same_host_drops_them(
        tls_server: tuple[ApiServer, Path], server: ApiServer) -> None:
    api, ca = tls_server
    downgrade = "/redirect?" + urlencode({"to": server.url("/echo")})
    with make_client(api, ca_file=str(ca)) as client:
        response = send(client, api.url(downgrade), Bearer(TOKEN), [api.port, server.port])
    assert response["status"] == 200
    assert auth_header(api, "/redirect") == f"Bearer {TOKEN}"
    assert auth_header(server) is None, "the plain-http hop went without the token"


@pytest.mark.parametrize("make", [Bearer, QueryKey], ids=["header", "query"])
def test_a_redirect_to_another_port_drops_headers_and_query_credentials(
        server: ApiServer, second: ApiServer, make: Callable[[str], Any]) -> None:
    hop = "/redirect?" + urlencode({"to": second.url("/echo?page=2")})
    with make_client(server) as client:
        echoed = json.loads(send(client, server.url(hop), make(TOKEN),
                                 [server.port, second.port])["body"])
    first = server.requests[-1]
    assert first.headers.get("authorization") == f"Bearer {TOKEN}" or \
        first.query.get("api_key") == [TOKEN], "the first hop carried them"
    assert "authorization" not in echoed["headers"]
    assert echoed["query"] == {"page": ["2"]}


def test_once_dropped_they_do_not_come_back_on_a_later_hop(server: ApiServer,
                                                           second: ApiServer) -> None:
    back = second.url("/redirect?" + urlencode({"to": server.url("/echo")}))
    with make_client(server) as client:
        send(client, server.url("/redirect?" + urlencode({"to": back})), Bearer(TOKEN),
             [server.port, second.port])
    assert auth_header(server, "/redirect") == f"Bearer {TOKEN}"
    assert auth_header(server) is None, "the hop back to the first origin came from elsewhere"


def test_same_origin_redirects_keep_them(server: ApiServer) -> None:
    with make_client(server) as client:
        send(client, server.url("/redirect?" + urlencode({"to": "/echo?page=2"})),
             Bearer(TOKEN), [server.port])
    assert auth_header(server) == f"Bearer {TOKEN}"


# -- a Location that carries a secret is refused ---------------------------------------------


def _html(text: str) -> str:
    return "".join(f"&#x{ord(c):x};" for c in text)


def _json(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


ENCODINGS: dict[str, Callable[[str], str]] = {
    "query": lambda t: f"?t={t}",
    "percent": lambda t: "?t=" + quote(t, safe=""),
    "percent-lower": lambda t: "?t=" + quote(t, safe="").lower(),
    "percent-twice": lambda t: "?t=" + quote(quote(t, safe=""), safe=""),
    "base64": lambda t: "?t=" + base64.b64encode(t.encode()).decode(),
    "base64url": lambda t: "?t=" + base64.urlsafe_b64encode(t.encode()).decode().rstrip("="),
    "hex": lambda t: "?t=" + t.encode().hex(),
    "html": lambda t: "?t=" + _html(t),
    "json": lambda t: "?t=" + _json(t),
    "path": lambda t: "/" + quote(t, safe=""),
    "fragment": lambda t: "#" + t,
}


def leaky(server: ApiServer, encode: Callable[[str], str], target: str) -> None:
    """/leak redirects to ``target`` plus the credential it received, encoded."""
    def handler(exchange: Exchange) -> None:
        request = exchange.request
        secret = (request.headers.get("authorization", "").removeprefix("Bearer ")
                  or request.query.get("api_key", [""])[0])
        exchange.send(302, b"", [("Location", target + encode(secret))])

    server.handle("GET", "/leak", handler)


@pytest.mark.parametrize("make", [Bearer, QueryKey], ids=["header", "query"])
@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_a_location_carrying_the_secret_is_refused_in_any_encoding(
        server: ApiServer, encoding: str, make: Callable[[str], Any]) -> None:
    leaky(server, ENCODINGS[encoding], f"http://{OTHER_HOST}:{server.port}/steal")
    with make_client(server) as client, pytest.raises(FetchDenied) as info:
        send(client, server.url("/leak"), make(TOKEN), [server.port])
    assert info.value.rule == "redirect_secret"
    assert server.hits("/leak") == 1 and server.hits("/steal") == 0
    shown = f"{info.value} {json.dumps(info.value.to_dict())}"
    assert TOKEN not in shown and quote(TOKEN, safe="") not in shown


def test_a_location_that_sets_the_injected_parameter_is_refused(server: ApiServer) -> None:
    leaky(server, lambda t: "?API_KEY=chosen-by-the-server", f"{server.url('/echo')}")
    with make_client(server) as client, pytest.raises(FetchDenied) as info:
        send(client, server.url("/leak"), QueryKey(TOKEN), [server.port])
    assert info.value.rule == "redirect_secret"
    assert server.hits("/echo") == 0


def test_a_short_secret_is_caught_where_it_is_a_whole_query_value(server: ApiServer) -> None:
    leaky(server, lambda t: f"?x={t}", f"http://{OTHER_HOST}:{server.port}/steal")
    with make_client(server) as client, pytest.raises(FetchDenied) as info:
        send(client, server.url("/leak"), Bearer("k9"), [server.port])
    assert info.value.rule == "redirect_secret"
    with make_client(server) as client:  # inside other text, two characters match nothing
        ok = send(client, server.url("/redirect?" + urlencode({"to": "/echo?q=book9"})),
                  Bearer("k9"), [server.port])
    assert ok["status"] == 200


# -- a call holding credentials reaches only auth and approved domains ----------------------


def test_unapproved_domains_are_refused_before_a_byte_is_sent(server: ApiServer) -> None:
    other = f"http://{OTHER_HOST}:{server.port}/echo"
    with make_client(server) as client:
        with pytest.raises(FetchDenied) as info:
            send(client, other, Bearer(TOKEN), [server.port], approved=False)
        assert info.value.rule == "unapproved_domain"
        assert server.hits() == 0


def test_an_approval_names_the_port_it_approves(server: ApiServer) -> None:
    declared = [f"example.test:{server.port}", f"other.test:{server.port}", "other.test:1"]
    with make_client(server) as client, pytest.raises(FetchDenied) as info:
        client.fetch({"url": f"http://{OTHER_HOST}:{server.port}/echo"}, pack="Test",
                     pack_hash="0" * 64,
                     domains=declared, credentials=Bearer(TOKEN),
                     approved_domains=["other.test:1"])
    assert info.value.rule == "unapproved_domain"
    assert server.hits() == 0


def test_approved_and_credential_free_fetches_reach_other_domains(server: ApiServer) -> None:
    other = f"http://{OTHER_HOST}:{server.port}/echo"
    with make_client(server) as client:
        approved = send(client, other, Bearer(TOKEN), [server.port])
        anonymous = send(client, other, None, [server.port], approved=False)
    assert approved["status"] == anonymous["status"] == 200
    assert "authorization" not in json.loads(approved["body"])["headers"]


def test_a_redirect_to_an_unapproved_domain_is_refused(server: ApiServer) -> None:
    hop = "/redirect?" + urlencode({"to": f"http://{OTHER_HOST}:{server.port}/echo"})
    with make_client(server) as client, pytest.raises(FetchDenied) as info:
        send(client, server.url(hop), Bearer(TOKEN), [server.port], approved=False)
    assert info.value.rule == "unapproved_domain"
    assert server.hits("/redirect") == 1 and server.hits("/echo") == 0
