"""OAuth2 through the real HTTP service, attacked: a flow finishes only in the browser
that started it (login CSRF refused, nothing stored for anyone), the cookie that binds
it, and the redirect_uri taken from public_url alone."""

from __future__ import annotations

from dataclasses import replace
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi.testclient import TestClient

from corral._server.apikeys import ApiKeyStore
from corral._server.app import create_app

from . import test_server
from .test_server import Service, auth

service = test_server.service  # the same module-scoped fixture, made again for this module


def start(client: TestClient, key: str, service: Service, **params: str) -> Any:
    response = client.get("/v1/oauth2/oauthdemo/start", headers=auth(key),
                          params={"client_id": service.oauth.client_id, **params})
    assert response.status_code == 200, response.text
    return response


def approve(service: Service, authorize_url: str) -> str:
    """The user approves at the provider; the callback path and query it sends back to."""
    status, headers = service.oauth.authorize(dict(parse_qsl(urlsplit(authorize_url).query)))
    assert status == 302
    back = urlsplit(headers["Location"])
    return back.path + "?" + back.query


def ids(service: Service, who: str) -> set[str]:
    return {c["id"] for c in service.get(who, "/v1/connections").json()}


def browser(service: Service) -> TestClient:
    return TestClient(service.client.app, raise_server_exceptions=False)


def test_a_flow_finished_in_another_browser_is_refused_and_stores_nothing(
        service: Service) -> None:
    before = {who: ids(service, who) for who in ("alice", "bob")}
    exchanges = service.oauth.counts["authorization_code"]
    attacker, victim = browser(service), browser(service)
    started = start(attacker, service.keys["bob"], service)  # bob starts, in his browser
    callback = approve(service, started.json()["authorize_url"])  # alice approves at the IdP
    finished = victim.get(callback)  # alice's browser comes back without bob's cookie
    assert finished.status_code == 400 and finished.json()["kind"] == "auth_flow"
    assert "another browser session" in finished.json()["detail"]
    assert {who: ids(service, who) for who in ("alice", "bob")} == before
    assert service.oauth.counts["authorization_code"] == exchanges, "the code was never used"
    replay = attacker.get(callback)  # the refused attempt burned the state
    assert replay.status_code == 400 and "unknown or already used" in replay.json()["detail"]
    assert ids(service, "bob") == before["bob"]


def test_a_cookie_of_the_same_name_but_another_value_is_refused(service: Service) -> None:
    attacker, victim = browser(service), browser(service)
    started = start(attacker, service.keys["bob"], service)
    name = next(iter(SimpleCookie(started.headers["set-cookie"])))
    victim.cookies.set(name, "forged-binding", path="/v1/oauth2/callback")
    finished = victim.get(approve(service, started.json()["authorize_url"]))
    assert finished.status_code == 400 and finished.json()["kind"] == "auth_flow"


def test_the_starting_browser_completes_into_the_starters_account(service: Service) -> None:
    alices_browser = browser(service)
    first = start(alices_browser, service.keys["alice"], service, name="one")
    second = start(alices_browser, service.keys["alice"], service, name="two")  # side by side
    made = []
    for started in (second, first):
        done = alices_browser.get(approve(service, started.json()["authorize_url"]))
        assert done.status_code == 200, done.text
        made.append(done.json())
        assert "max-age=0" in done.headers["set-cookie"].lower(), "the cookie is cleared"
    assert [c["name"] for c in made] == ["two", "one"]
    assert {c["id"] for c in made} <= ids(service, "alice")
    assert not {c["id"] for c in made} & ids(service, "bob")


def test_the_binding_cookie_is_httponly_lax_short_lived_and_scoped(service: Service) -> None:
    started = start(browser(service), service.keys["alice"], service)
    raw = started.headers["set-cookie"]
    cookie = next(iter(SimpleCookie(raw).values()))
    assert cookie.key.startswith("corral_oauth_")
    assert cookie["httponly"] and cookie["samesite"].lower() == "lax"
    assert cookie["path"] == "/v1/oauth2/callback"
    assert 0 < int(cookie["max-age"]) <= 600
    assert not cookie["secure"], "public_url is http here; https sets Secure (next test)"
    assert cookie.value not in started.text, "the binding is only in the cookie"


def test_redirect_uri_comes_from_public_url_only(service: Service, tmp_path: Path) -> None:
    keys = ApiKeyStore(tmp_path / "keys.json")
    key = keys.create("carol")[1]
    public = replace(service.host.settings, public_url="https://corral.example/base/")
    with TestClient(create_app(service.host, public, keys=keys)) as client:
        started = client.get("/v1/oauth2/oauthdemo/start",
                             headers={**auth(key), "Host": "evil.example"},
                             params={"client_id": service.oauth.client_id})
        assert started.status_code == 200, started.text
        query = dict(parse_qsl(urlsplit(started.json()["authorize_url"]).query))
        assert query["redirect_uri"] == "https://corral.example/base/v1/oauth2/callback"
        cookie = next(iter(SimpleCookie(started.headers["set-cookie"]).values()))
        assert cookie["secure"] and cookie["path"] == "/base/v1/oauth2/callback"
    unset = replace(service.host.settings, public_url=None)
    with TestClient(create_app(service.host, unset, keys=keys)) as client:
        refused = client.get("/v1/oauth2/oauthdemo/start", headers=auth(key),
                             params={"client_id": service.oauth.client_id})
        assert refused.status_code == 503
        assert refused.json()["kind"] == "oauth_unavailable"
        assert "public_url" in refused.json()["detail"]


def test_corral_serve_takes_the_public_url(tmp_path: Path) -> None:
    import argparse

    from corral._server.serve import _settings_from, register_serve_command

    parser = argparse.ArgumentParser()
    register_serve_command(parser.add_subparsers())
    args = parser.parse_args(["serve", "--data-dir", str(tmp_path),
                              "--public-url", "https://corral.example"])
    settings = _settings_from(args, public_url=args.public_url)
    assert settings.public_url == "https://corral.example"
