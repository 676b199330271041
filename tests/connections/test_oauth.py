"""OAuth2 against a real local server: PKCE, state, code exchange, refresh, client
credentials, the store's start/complete authorization flow, and token requests held to
the fetch policy (scheme, declared domains, addresses, redirects, size, one deadline)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from corral._connections import oauth as _oauth
from corral import ArgumentError, AuthFlowError, ConnectionStore, FetchClient, FetchConfig, KeyRing, Manifest
from corral._connections.oauth import TokenClient, TokenRoute

from ..oauth_server import OAuthServer, call_with, pack_with_auth, token_client

REDIRECT = "https://corral.example.test/oauth/callback"


@pytest.fixture
def server() -> Iterator[OAuthServer]:
    with OAuthServer() as srv:
        yield srv


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """The user's browser (it visits the authorize URL)."""
    with httpx.Client(trust_env=False) as client:
        yield client


@pytest.fixture
def tokens() -> Iterator[TokenClient]:
    client = token_client()
    yield client
    client.close()


@pytest.fixture
def route(server: OAuthServer) -> TokenRoute:
    return TokenRoute("Demo", (server.token_domain,))


def code_options(server: OAuthServer, **extra: object) -> dict[str, object]:
    return {"authorize_url": server.authorize_url, "token_url": server.token_url, **extra}


def oauth_manifest(server: OAuthServer, **extra: object) -> Manifest:
    return pack_with_auth({"kind": "oauth2_code", **code_options(server, **extra)},
                          domains=("api.example.test", server.token_domain))


def approve(http: httpx.Client, url: str) -> tuple[str, str]:
    """Play the user: open the authorize URL, read code and state off the redirect."""
    response = http.get(url)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return query["code"][0], query["state"][0]


# -- the protocol pieces ---------------------------------------------------------------------


def test_pkce_challenge_is_the_s256_of_the_verifier() -> None:
    pkce = _oauth.new_pkce()
    assert 43 <= len(pkce.verifier) <= 128
    assert pkce.challenge == _oauth.s256_challenge(pkce.verifier)
    assert pkce.verifier not in repr(pkce)
    # base64url of a 32-byte digest, unpadded; the local server checks the hash itself
    assert len(pkce.challenge) == 43 and "=" not in pkce.challenge
    assert set(pkce.challenge + pkce.verifier) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_authorize_url_carries_client_state_scopes_and_challenge() -> None:
    options = {"authorize_url": "https://auth.example.test/authorize?tenant=t1",
               "token_url": "https://auth.example.test/token", "scopes": ["read", "write"],
               "scope_delimiter": ",", "extra_authorize_params": {"access_type": "offline"}}
    url = _oauth.authorize_url(options, client_id="cid", redirect_uri=REDIRECT,
                               state="st", code_challenge="ch")
    query = parse_qs(urlsplit(url).query)
    assert query == {"tenant": ["t1"], "response_type": ["code"], "client_id": ["cid"],
                     "redirect_uri": [REDIRECT], "state": ["st"], "scope": ["read,write"],
                     "code_challenge": ["ch"], "code_challenge_method": ["S256"],
                     "access_type": ["offline"]}


def test_code_exchange_with_pkce_then_refresh(server: OAuthServer, http: httpx.Client,
                                              tokens: TokenClient, route: TokenRoute) -> None:
    options = code_options(server)
    pkce = _oauth.new_pkce()
    url = _oauth.authorize_url(options, client_id=server.client_id, redirect_uri=REDIRECT,
                               state="s1", code_challenge=pkce.challenge)
    code, state = approve(http, url)
    assert state == "s1"
    granted = _oauth.exchange_code(tokens, route, options, client_id=server.client_id,
                                   client_secret=None, code=code, redirect_uri=REDIRECT,
                                   code_verifier=pkce.verifier, now=1000.0)
    assert server.is_live(granted.access_token)
    assert granted.expires_at == 1000.0 + server.expires_in
    assert granted.access_token not in repr(granted)
    assert granted.refresh_token is not None
    renewed = _oauth.refresh_tokens(tokens, route, options, client_id=server.client_id,
                                    client_secret=server.client_secret,
                                    refresh_token=granted.refresh_token, now=2000.0)
    assert server.is_live(renewed.access_token)
    assert renewed.access_token != granted.access_token
    assert server.counts == {"authorization_code": 1, "refresh_token": 1}


def test_a_wrong_pkce_verifier_is_refused(server: OAuthServer, http: httpx.Client,
                                          tokens: TokenClient, route: TokenRoute) -> None:
    options = code_options(server)
    pkce = _oauth.new_pkce()
    url = _oauth.authorize_url(options, client_id=server.client_id, redirect_uri=REDIRECT,
                               state="s", code_challenge=pkce.challenge)
    code, _ = approve(http, url)
    with pytest.raises(AuthFlowError) as info:
        _oauth.exchange_code(tokens, route, options, client_id=server.client_id,
                             client_secret=None,
                             code=code, redirect_uri=REDIRECT,
                             code_verifier=_oauth.new_pkce().verifier, now=0.0)
    assert info.value.details["rejected"] is True
    assert info.value.details["oauth_error"] == "invalid_grant"
    assert code not in str(info.value)


def test_client_credentials_grant(server: OAuthServer, tokens: TokenClient,
                                  route: TokenRoute) -> None:
    granted = _oauth.client_credentials(tokens, route, {"token_url": server.token_url,
                                               "scopes": ["a", "b"]},
                                        client_id=server.client_id,
                                        client_secret=server.client_secret, now=0.0)
    assert server.is_live(granted.access_token)
    assert server.last_token_form["scope"] == "a b"


def test_a_refused_secret_is_not_echoed(server: OAuthServer, tokens: TokenClient,
                                        route: TokenRoute) -> None:
    with pytest.raises(AuthFlowError) as info:
        _oauth.client_credentials(tokens, route, {"token_url": server.token_url},
                                  client_id=server.client_id,
                                  client_secret="wrong-secret-value", now=0.0)
    assert "HTTP 401" in str(info.value) and "invalid_client" in str(info.value)
    assert "wrong-secret-value" not in str(info.value)
    assert info.value.details["rejected"] is True
    assert info.value.retryable is False


def test_an_unreachable_token_endpoint_is_retryable_not_a_refusal(
        tokens: TokenClient) -> None:
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(AuthFlowError) as info:
        _oauth.client_credentials(tokens, TokenRoute("Demo", (f"oauth.test:{port}",)),
                                  {"token_url": f"http://oauth.test:{port}/token"},
                                  client_id="c", client_secret="s", now=0.0)
    assert info.value.details["rejected"] is False
    assert info.value.retryable is True
    assert f"oauth.test:{port}/token" in str(info.value)


def test_a_token_endpoint_without_access_token_is_an_error(
        server: OAuthServer, tokens: TokenClient, route: TokenRoute) -> None:
    with pytest.raises(AuthFlowError, match="404"):
        _oauth.client_credentials(tokens, route, {"token_url": server.token_url[:-6] + "/nothing"},
                                  client_id="c", client_secret="s", now=0.0)


# -- the store's authorization flow ------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConnectionStore]:
    with ConnectionStore(tmp_path / "db", KeyRing.generate(), http=token_client()) as s:
        yield s


def test_full_authorization_code_flow_makes_a_working_connection(
        server: OAuthServer, http: httpx.Client, store: ConnectionStore) -> None:
    pack = oauth_manifest(server, scopes=["read"])
    url, state = store.start_authorization(pack=pack, principal="alice",
                                           client_id=server.client_id, redirect_uri=REDIRECT,
                                           client_secret=server.client_secret, name="Work")
    assert "code_challenge=" in url and f"state={state}" in url
    code, returned_state = approve(http, url)
    info = store.complete_authorization(returned_state, code, principal="alice")
    assert (info.pack, info.name, info.kind, info.status) == ("Demo", "Work", "oauth2_code",
                                                              "active")
    assert [c.id for c in store.list("alice")] == [info.id]
    creds = store.credentials("alice", info.id, pack)
    assert call_with(creds, server.base_url + "/api/oauth") == 200


def test_a_state_works_once(server: OAuthServer, http: httpx.Client,
                            store: ConnectionStore) -> None:
    pack = oauth_manifest(server)
    url, state = store.start_authorization(pack=pack, principal="alice",
                                           client_id=server.client_id, redirect_uri=REDIRECT)
    code, _ = approve(http, url)
    store.complete_authorization(state, code)
    with pytest.raises(AuthFlowError, match="unknown or already used"):
        store.complete_authorization(state, code)


def test_an_unknown_state_is_refused_without_a_token_request(
        server: OAuthServer, store: ConnectionStore) -> None:
    with pytest.raises(AuthFlowError, match="unknown or already used"):
        store.complete_authorization("made-up-state", "made-up-code")
    assert server.counts == {}


def test_another_principal_cannot_complete_my_flow(server: OAuthServer, http: httpx.Client,
                                                   store: ConnectionStore) -> None:
    pack = oauth_manifest(server)
    url, state = store.start_authorization(pack=pack, principal="alice",
                                           client_id=server.client_id, redirect_uri=REDIRECT)
    code, _ = approve(http, url)
    with pytest.raises(AuthFlowError):
        store.complete_authorization(state, code, principal="mallory")
    assert store.list("mallory") == [] and store.list("alice") == []


def test_an_expired_state_is_refused(tmp_path: Path, server: OAuthServer,
                                     http: httpx.Client) -> None:
    now = [1000.0]
    with ConnectionStore(tmp_path / "db", KeyRing.generate(), http=token_client(),
                         clock=lambda: now[0]) as store:
        pack = oauth_manifest(server)
        url, state = store.start_authorization(pack=pack, principal="alice",
                                               client_id=server.client_id,
                                               redirect_uri=REDIRECT, ttl_s=60)
        code, _ = approve(http, url)
        now[0] += 61
        with pytest.raises(AuthFlowError, match="expired; start again"):
            store.complete_authorization(state, code)
    assert server.counts == {}


def test_reconnecting_keeps_the_connection_id(server: OAuthServer, http: httpx.Client,
                                              store: ConnectionStore) -> None:
    pack = oauth_manifest(server)
    url, state = store.start_authorization(pack=pack, principal="alice",
                                           client_id=server.client_id, redirect_uri=REDIRECT)
    first = store.complete_authorization(state, *[approve(http, url)[0]])
    url, state = store.start_authorization(pack=pack, principal="alice",
                                           client_id=server.client_id, redirect_uri=REDIRECT,
                                           connection_id=first.id)
    again = store.complete_authorization(state, approve(http, url)[0])
    assert again.id == first.id
    assert len(store.list("alice")) == 1


def test_start_refuses_packs_and_redirects_that_do_not_fit(server: OAuthServer,
                                                           store: ConnectionStore) -> None:
    bearer = pack_with_auth({"kind": "bearer"})
    with pytest.raises(ArgumentError, match="not oauth2_code"):
        store.start_authorization(pack=bearer, principal="a", client_id="c",
                                  redirect_uri=REDIRECT)
    pack = oauth_manifest(server)
    with pytest.raises(ArgumentError, match="redirect_uri"):
        store.start_authorization(pack=pack, principal="a", client_id="c",
                                  redirect_uri="javascript:alert(1)")


def test_flow_without_pkce_uses_the_client_secret(server: OAuthServer, http: httpx.Client,
                                                  store: ConnectionStore) -> None:
    pack = oauth_manifest(server, pkce=False)
    url, state = store.start_authorization(pack=pack, principal="alice",
                                           client_id=server.client_id, redirect_uri=REDIRECT,
                                           client_secret=server.client_secret)
    assert "code_challenge" not in url
    info = store.complete_authorization(state, approve(http, url)[0])
    assert info.status == "active"
    assert "code_verifier" not in server.last_token_form


# -- token requests under the fetch policy -------------------------------------------------


class HostileTokenServer:
    """A token endpoint on 127.0.0.1 that misbehaves as ``mode`` says, counting the bytes
    it manages to send and the requests that reach it (by path)."""

    def __init__(self, mode: str, *, interval_s: float = 0.01) -> None:
        self.mode = mode
        self.interval_s = interval_s
        self.sent = 0
        self.paths: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stop = threading.Event()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def domain(self) -> str:
        return f"oauth.test:{self.port}"

    def __enter__(self) -> HostileTokenServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                request += chunk
            self.paths.append(request.split(b" ", 2)[1].decode())
            try:
                getattr(self, "_" + self.mode)(conn)
            except OSError:
                pass  # the client hung up: what the defences do

    def _send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.sent += len(data)

    def _drip_body(self, conn: socket.socket) -> None:
        self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 60000\r\n\r\n")  # under the cap
        for _ in range(60000):
            if self._stop.is_set():
                return
            self._send(conn, b" ")
            time.sleep(self.interval_s)

    def _drip_head(self, conn: socket.socket) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 100000:
            if self._stop.is_set():
                return
            self._send(conn, bytes([byte]))
            time.sleep(self.interval_s)

    def _huge(self, conn: socket.socket) -> None:
        self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 209715200\r\n\r\n")
        self._zeros(conn, 200)

    def _huge_chunked(self, conn: socket.socket) -> None:
        self._send(conn, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
        block = b" " * 65536
        for _ in range(200 * 16):
            self._send(conn, b"10000\r\n" + block + b"\r\n")

    def _zeros(self, conn: socket.socket, mib: int) -> None:
        block = b" " * 65536
        for _ in range(mib * 16):
            self._send(conn, block)

    def _redirect(self, conn: socket.socket) -> None:
        self._send(conn, f"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://oauth.test:"
                         f"{self.port}/elsewhere\r\nContent-Length: 0\r\n\r\n".encode())


def grant_through(server: HostileTokenServer, client: TokenClient) -> AuthFlowError:
    with pytest.raises(AuthFlowError) as info:
        _oauth.client_credentials(client, TokenRoute("Demo", (server.domain,)),
                                  {"token_url": f"http://{server.domain}/token"},
                                  client_id="c", client_secret="client-secret-XYZ", now=0.0)
    return info.value


def test_a_drip_fed_body_is_cut_by_the_one_total_deadline() -> None:
    with HostileTokenServer("drip_body") as server:
        error = grant_through(server, token_client(deadline_s=0.3))
    assert error.retryable is True and "timeout" in str(error)
    # every read was quick, so only a total deadline ends it; 60 000 bytes were coming
    assert server.sent < 100 + 5000


def test_a_drip_fed_head_is_cut_by_the_one_total_deadline() -> None:
    with HostileTokenServer("drip_head") as server:
        error = grant_through(server, token_client(deadline_s=0.3))
    assert "timeout" in str(error)
    assert server.sent < 5000, "the head never ends; the deadline must"


def test_a_200_mib_token_response_is_refused_not_read() -> None:
    for mode in ("huge", "huge_chunked"):
        with HostileTokenServer(mode) as server:
            error = grant_through(server, token_client(max_response_bytes=64 * 1024))
        assert error.retryable is False and error.details["rule"] == "response_body", mode
        assert server.sent < 32 * 1024 * 1024, mode  # socket buffers at most, not 200 MiB


def test_a_token_endpoint_redirect_is_refused_and_the_secret_not_resent() -> None:
    with HostileTokenServer("redirect") as server:
        error = grant_through(server, token_client())
    assert error.details["rule"] == "redirect_limit"
    assert server.paths == ["/token"], "nothing went to the redirect's target"


def test_token_urls_outside_the_policy_never_reach_the_network(server: OAuthServer) -> None:
    client = token_client(hosts=("oauth.test",))
    attempts = {
        "undeclared_domain": (f"http://{server.token_domain}/token", ("api.example.test",)),
        "port": (f"http://{server.token_domain}/token", ("oauth.test",)),
        "scheme": (f"http://api.example.test:{server.port}/token",
                   (f"api.example.test:{server.port}",)),  # plain http, not a test mapping
        "ip_literal": (f"http://127.0.0.1:{server.port}/token", (f"127.0.0.1:{server.port}",)),
    }
    for what, (url, domains) in attempts.items():
        with pytest.raises(AuthFlowError) as info:
            _oauth.client_credentials(client, TokenRoute("Demo", domains), {"token_url": url},
                                      client_id=server.client_id,
                                      client_secret=server.client_secret, now=0.0)
        assert info.value.retryable is False, what
        assert server.client_secret not in str(info.value)
    assert server.counts == {}, "no token request reached the server"
    client.close()


def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    config = FetchConfig(allow_http=False, resolver=lambda name, port: ["127.0.0.1"],
                         max_redirects=0)
    client = TokenClient(FetchClient(config))
    with HostileTokenServer("huge") as server:
        with pytest.raises(AuthFlowError) as info:
            _oauth.client_credentials(client, TokenRoute("Demo", (f"idp.example:{server.port}",)),
                                      {"token_url": f"https://idp.example:{server.port}/token"},
                                      client_id="c", client_secret="s", now=0.0)
    assert "refused" in str(info.value) and server.paths == []
    client.close()


def test_the_host_builds_its_token_client_under_the_policy(tmp_path: Path) -> None:
    from corral._host import Host
    from corral._settings import Settings

    settings = Settings(data_dir=tmp_path, allow_http=True, host_map={"oauth.test": "127.0.0.1"},
                        oauth_deadline_s=0.3)
    with HostileTokenServer("drip_body") as server, Host(settings) as host:
        store = host.connections
        pack = pack_with_auth({"kind": "oauth2_client_credentials",
                               "token_url": f"http://{server.domain}/token"},
                              domains=(server.domain,))
        info = store.create(principal="a", pack=pack, name="svc",
                            secret={"client_id": "c", "client_secret": "s"})
        with pytest.raises(AuthFlowError, match="timeout"):
            store.test("a", info.id, pack)
    assert server.sent < 100 + 5000
