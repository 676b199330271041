"""OAuth2 against a real local server: PKCE, state, code exchange, refresh, client
credentials, the store's start/complete authorization flow, and token requests held to
the fetch policy (scheme, declared domains, addresses, redirects, size, one deadline)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from corral._connections import oauth as _oauth
from corral._connections.oauth import TokenClient, TokenRoute
from corral._pack.manifest import Manifest
from corral._connections.store import ConnectionStore
from corral._connections.crypto import KeyRing
from corral._errors import ArgumentError, AuthFlowError

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
