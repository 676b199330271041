"""Console sessions, attacked over HTTP against a real server: the cookie admits only while
the session lives and its key exists, never a state-changing request without the session's
own CSRF token, and only what the key's role may do."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from corral import Host, Settings, create_app
from corral._server.sessions import COOKIE_NAME, SESSION_TTL_S
from fastapi.testclient import TestClient

from ..conftest import PACKS, built
from .conftest import Console

GREET = {"formula": '=hello.Greet("Ada")'}


class SignedIn:
    def __init__(self, console: Console, answer: httpx.Response) -> None:
        assert answer.status_code == 201, answer.text
        self.console = console
        self.cookie = answer.cookies[COOKIE_NAME]
        self.csrf = answer.json()["csrf_token"]

    def send(self, method: str, path: str, *, csrf: str | None = None,
             headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        headers = {**(headers or {}), "Cookie": f"{COOKIE_NAME}={self.cookie}"}
        if csrf is not None:
            headers["X-CSRF-Token"] = csrf
        return httpx.request(method, self.console.url + path, headers=headers, timeout=30, **kw)


def sign_in(console: Console, key: str, **headers: str) -> httpx.Response:
    return httpx.post(console.url + "/v1/console/session", json={"key": key}, headers=headers,
                      timeout=30)


def session(console: Console, key: str | None = None) -> SignedIn:
    return SignedIn(console, sign_in(console, key or console.admin_key))


def is_problem(answer: httpx.Response, status: int) -> bool:
    return (answer.status_code == status
            and answer.headers["content-type"].startswith("application/problem+json"))


def test_signing_in_sets_an_httponly_strict_cookie_and_never_echoes_the_key(
        console: Console) -> None:
    answer = sign_in(console, console.admin_key)
    assert answer.status_code == 201
    cookie = answer.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes, cookie
    assert "samesite=strict" in cookie.lower() and "path=/" in cookie.lower()
    assert "secure" not in attributes  # plain http here; over https it is Secure (below)
    assert console.admin_key not in answer.text and console.admin_key not in cookie
    body = answer.json()
    assert body["principal"] == "admin" and body["role"] == "admin"
    assert len(body["csrf_token"]) >= 40 and body["csrf_token"] not in cookie
    assert answer.headers["cache-control"] == "no-store"


def test_a_wrong_key_gets_no_session(console: Console) -> None:
    answer = sign_in(console, "corral_00000000_not-a-key-at-all-000000000000000")
    assert is_problem(answer, 401)
    assert "set-cookie" not in answer.headers


def test_a_sign_in_from_another_site_is_refused(console: Console) -> None:
    answer = sign_in(console, console.admin_key, **{"Sec-Fetch-Site": "cross-site"})
    assert is_problem(answer, 403)
    assert "set-cookie" not in answer.headers


def test_no_cookie_and_a_forged_cookie_are_401(console: Console) -> None:
    assert is_problem(httpx.get(console.url + "/v1/packs"), 401)
    forged = session(console)
    forged.cookie = forged.cookie[:-4] + ("AAAA" if not forged.cookie.endswith("AAAA") else "BBBB")
    assert is_problem(forged.send("GET", "/v1/packs"), 401)
    assert is_problem(forged.send("POST", "/v1/evaluate", csrf=forged.csrf, json=GREET), 401)


def test_reads_need_the_cookie_and_writes_its_own_csrf_token(console: Console) -> None:
    mine, theirs = session(console), session(console)
    assert mine.send("GET", "/v1/packs").status_code == 200
    assert mine.send("GET", "/v1/console/session").json()["csrf_token"] == mine.csrf
    refused = [mine.send("POST", "/v1/evaluate", json=GREET),
               mine.send("POST", "/v1/evaluate", csrf="", json=GREET),
               mine.send("POST", "/v1/evaluate", csrf=mine.csrf[:-1], json=GREET),
               mine.send("POST", "/v1/evaluate", csrf=theirs.csrf, json=GREET)]
    for answer in refused:
        assert is_problem(answer, 403), answer.text
        assert "csrf" in answer.json()["detail"].lower()
    done = mine.send("POST", "/v1/evaluate", csrf=mine.csrf, json=GREET)
    assert done.status_code == 200 and done.json() == {"result": "Hello, Ada!"}


def test_an_expired_session_is_refused(console: Console) -> None:
    signed = session(console)
    sessions = console.service.sessions
    assert signed.send("GET", "/v1/packs").status_code == 200
    sessions.clock = lambda: time.time() + SESSION_TTL_S + 1
    try:
        assert is_problem(signed.send("GET", "/v1/packs"), 401)
    finally:
        sessions.clock = time.time
    assert is_problem(signed.send("GET", "/v1/packs"), 401)  # gone for good, not just late


def test_signing_out_needs_the_csrf_token_and_ends_the_session(console: Console) -> None:
    signed = session(console)
    assert is_problem(signed.send("DELETE", "/v1/console/session"), 403)
    assert signed.send("GET", "/v1/packs").status_code == 200  # the refusal ended nothing
    answer = signed.send("DELETE", "/v1/console/session", csrf=signed.csrf)
    assert answer.status_code == 204
    assert f"{COOKIE_NAME}=" in answer.headers["set-cookie"]
    assert "max-age=0" in answer.headers["set-cookie"].lower()
    assert is_problem(signed.send("GET", "/v1/packs"), 401)
    assert is_problem(signed.send("POST", "/v1/evaluate", csrf=signed.csrf, json=GREET), 401)


def test_a_key_revoked_after_sign_in_stops_its_session(console: Console) -> None:
    keys = console.service.keys
    info, key = keys.create("dora", "caller")
    signed = session(console, key)
    assert signed.send("POST", "/v1/evaluate", csrf=signed.csrf, json=GREET).status_code == 200
    keys.revoke(info.id)
    assert is_problem(signed.send("GET", "/v1/packs"), 401)
    assert is_problem(signed.send("POST", "/v1/evaluate", csrf=signed.csrf, json=GREET), 401)


def test_a_caller_session_may_do_only_what_a_caller_key_may(console: Console) -> None:
    signed = session(console, console.caller_key)
    assert signed.send("GET", "/v1/console/session").json()["role"] == "caller"
    assert signed.send("GET", "/v1/packs").status_code == 200
    assert is_problem(signed.send("GET", "/v1/keys"), 403)
    assert is_problem(signed.send("POST", "/v1/keys", csrf=signed.csrf,
                                  json={"name": "mallory", "role": "admin"}), 403)
    assert is_problem(signed.send("POST", "/v1/packs", csrf=signed.csrf,
                                  content=built(PACKS / "hello").read_bytes(),
                                  headers={"Content-Type": "application/wasm"}), 403)
    assert is_problem(signed.send("DELETE", "/v1/packs/hello", csrf=signed.csrf), 403)
    assert console.host.pack("hello").name == "hello"


def test_a_bearer_key_cannot_read_the_session_of_another_principal(console: Console) -> None:
    admin = session(console)
    answer = httpx.get(console.url + "/v1/console/session", timeout=30, headers={
        "Cookie": f"{COOKIE_NAME}={admin.cookie}",
        "Authorization": f"Bearer {console.caller_key}"})
    assert is_problem(answer, 401)
    assert admin.csrf not in answer.text


@pytest.fixture
def https_client(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    """The app in process, over https, with a clock standing still (no bucket refills)."""
    with Host(Settings(data_dir=tmp_path)) as host:
        client = TestClient(create_app(host, clock=lambda: 1000.0), base_url="https://testserver")
        key = "console-admin-key-0123456789abcdef"
        client.app.state.corral.keys.import_key(key, "admin", "admin")  # type: ignore[attr-defined]
        yield client, key


def test_over_https_the_cookie_is_secure(https_client: tuple[TestClient, str]) -> None:
    client, key = https_client
    answer = client.post("/v1/console/session", json={"key": key})
    assert answer.status_code == 201
    attributes = [part.strip().lower() for part in answer.headers["set-cookie"].split(";")]
    assert "secure" in attributes and "httponly" in attributes


def test_guessing_keys_at_the_sign_in_costs_the_address_its_budget(
        https_client: tuple[TestClient, str]) -> None:
    client, key = https_client
    burst = Settings(data_dir=Path(".")).public_rate_limit_burst
    answers = [client.post("/v1/console/session", json={"key": f"corral_guess_{n:040d}"})
               for n in range(burst + 1)]
    assert [a.status_code for a in answers[:-1]] == [401] * burst
    assert answers[-1].status_code == 429
    assert client.post("/v1/console/session", json={"key": key}).status_code == 429


def test_behind_a_tls_proxy_the_public_url_makes_the_cookie_secure(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, public_url="https://corral.example.test")
    with Host(settings) as host:
        client = TestClient(create_app(host))  # plain http from the proxy
        key = "console-admin-key-0123456789abcdef"
        client.app.state.corral.keys.import_key(key, "admin", "admin")  # type: ignore[attr-defined]
        answer = client.post("/v1/console/session", json={"key": key})
        assert answer.status_code == 201
        assert "secure" in [p.strip().lower() for p in answer.headers["set-cookie"].split(";")]


def test_openapi_names_the_session_cookie_beside_the_bearer_key(console: Console) -> None:
    schema = httpx.get(console.url + "/openapi.json").json()
    cookie = schema["components"]["securitySchemes"]["ConsoleSession"]
    assert cookie == cookie | {"type": "apiKey", "in": "cookie", "name": COOKIE_NAME}
    for path, method in (("/v1/evaluate", "post"), ("/v1/packs", "get"),
                         ("/v1/console/session", "delete")):
        security = schema["paths"][path][method]["security"]
        assert {"HTTPBearer": []} in security and {"ConsoleSession": []} in security, path
    assert "security" not in schema["paths"]["/v1/console/session"]["post"]
