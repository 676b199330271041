"""The HTTP service in-process (FastAPI's TestClient): keys, roles, packs, calls, problems,
connections and OAuth2, limits, metrics and the OpenAPI schema. Real packs, real LMDB,
a real OAuth2 server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

import anyio
import pytest
from fastapi.testclient import TestClient

from corral import (MANIFEST_SECTION, AccessDenied, ArgumentError, BadOutput, ConfigError, Conflict,
                    ConnectionExpired, DeadlineExceeded, FetchDenied, FetchTimeout,
                    FormulaSyntaxError, FuelExhausted, GuestError, GuestTrap, Host, InputTooLarge,
                    ManifestError, NotFoundError, Overloaded, PackValidationError, PayloadTooLarge,
                    SecretKeyError, Settings, StorageFull, Unauthenticated, create_app,
                    read_manifest, set_custom_section)
from corral._server.apikeys import ApiKeyStore
from corral._server.problems import problem_for, redact_url, status_for
from corral._server.admission import CallGate, RateLimiter

from ..conftest import HOSTILE_PACKS, PACKS, built
from ..oauth_server import OAuthServer

TOKEN = "tok-sekrit-0123456789abcdef"


def with_manifest(wasm: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    """The same module with its embedded manifest edited by ``change``."""
    manifest = read_manifest(wasm).to_dict()
    change(manifest)
    return set_custom_section(wasm, MANIFEST_SECTION, json.dumps(manifest).encode())


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# -- problems -----------------------------------------------------------------------------


@pytest.mark.parametrize("error, status", [
    (ArgumentError("bad"), 400),
    (FormulaSyntaxError("unexpected", line=1, column=3, source="=1+"), 400),
    (Unauthenticated("no key"), 401),
    (AccessDenied("not yours"), 403),
    (NotFoundError("no pack"), 404),
    (Conflict("same version"), 409),
    (ConnectionExpired("reconnect"), 409),
    (PayloadTooLarge("big"), 413),
    (InputTooLarge("big", limit="max_input_bytes", pack="p", formula="F"), 413),
    (ManifestError("bad field", field="pack.name"), 422),
    (PackValidationError("no memory export"), 422),
    (Overloaded("busy", retry_after_s=2.5), 429),
    (FuelExhausted("out of fuel", limit="fuel", pack="p", formula="F"), 502),
    (GuestTrap("unreachable", pack="p", formula="F"), 502),
    (BadOutput("rows[0].id: missing", pack="p", formula="F"), 502),
    (GuestError("the pack said no", pack="p", formula="F"), 502),
    (FetchDenied("undeclared", url="https://x.test/", rule="undeclared_domain"), 502),
    (DeadlineExceeded("slow", limit="timeout_ms", pack="p", formula="F"), 504),
    (FetchTimeout("slow upstream"), 504),
    (SecretKeyError("wrong key"), 500),
    (ConfigError("bad setting", setting="port"), 500),
    (StorageFull("no room", store="connection store"), 507),
])
def test_each_error_class_gets_the_status_that_names_whose_fault_it_is(
        error: Exception, status: int) -> None:
    assert status_for(error) == status  # type: ignore[arg-type]


def test_a_problem_names_kind_pack_formula_and_limit() -> None:
    found = problem_for(FuelExhausted("ran out", limit="fuel", value=10, pack="p", formula="F"),
                        instance="/v1/x")
    assert found.body["type"] == "urn:corral:problem:fuel_exhausted"
    assert (found.body["kind"], found.body["pack"], found.body["formula"]) == (
        "fuel_exhausted", "p", "F")
    assert found.body["limit"] == "fuel" and found.body["instance"] == "/v1/x"
    assert found.body["status"] == 502 and "p.F" in found.body["detail"]


def test_overloaded_problem_carries_retry_after_rounded_up() -> None:
    assert problem_for(Overloaded("busy", retry_after_s=2.2)).headers["Retry-After"] == "3"


def test_host_faults_say_nothing_about_their_cause() -> None:
    found = problem_for(SecretKeyError("key file /srv/corral/secret.key is damaged"))
    assert found.status == 500
    assert "secret.key" not in json.dumps(found.body)


def test_urls_in_problems_lose_credentials_and_query() -> None:
    error = FetchDenied("refused", url="https://user:pw@api.x.test:8443/a?token=abc#f",
                        rule="userinfo")
    body = problem_for(error).body
    assert body["url"] == "https://api.x.test:8443/a"
    assert "abc" not in json.dumps(body) and "pw@" not in json.dumps(body)
    assert redact_url("http://a.test/p?q=1") == "http://a.test/p"


# -- gate and rate limits -----------------------------------------------------------------


def test_gate_refuses_instead_of_queueing_past_max_queue() -> None:
    release = threading.Event()

    async def scenario() -> tuple[str, int]:
        gate = CallGate(capacity=1, max_queue=0)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(gate.run, "alice", release.wait)
            while gate.running == 0:
                await anyio.sleep(0.005)
            try:
                await gate.run("alice", lambda: "ran")
                outcome = "ran"
            except Overloaded as exc:
                outcome = f"overloaded:{exc.retry_after_s}"
            release.set()
        return outcome, gate.running

    outcome, running_after = anyio.run(scenario)
    assert outcome == "overloaded:1.0"
    assert running_after == 0


def test_gate_hands_a_freed_slot_to_the_longest_waiter() -> None:
    import asyncio
    from concurrent.futures import Future

    async def scenario() -> None:
        gate = CallGate(capacity=1, max_queue=4)
        work: list[Future[str]] = [Future() for _ in range(3)]
        started: list[int] = []

        async def call(i: int) -> str:
            return await gate.await_future("alice", lambda: (started.append(i), work[i])[1])

        first = asyncio.create_task(call(0))
        await asyncio.sleep(0)
        quitter, last = asyncio.create_task(call(1)), asyncio.create_task(call(2))
        await asyncio.sleep(0)
        assert (started, gate.running, gate.waiting) == ([0], 1, 2)
        quitter.cancel()  # a waiter that gives up leaves the line
        await asyncio.sleep(0)
        assert gate.waiting == 1
        work[0].set_result("first")
        assert await first == "first"
        await asyncio.sleep(0)
        assert started == [0, 2], "the slot went to the next waiter, in order"
        work[2].set_result("last")
        assert await last == "last"
        assert (gate.running, gate.waiting) == (0, 0)

    asyncio.run(scenario())


def test_token_bucket_allows_the_burst_then_refuses_until_refilled() -> None:
    now = [100.0]
    limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=lambda: now[0])
    for _ in range(3):
        limiter.check("alice")
    with pytest.raises(Overloaded) as info:
        limiter.check("alice")
    assert info.value.retry_after_s == pytest.approx(0.5)
    limiter.check("bob")  # buckets are per caller
    now[0] += 0.5
    limiter.check("alice")


# -- the app ------------------------------------------------------------------------------


class Service:
    def __init__(self, client: TestClient, host: Host, keys: dict[str, str],
                 oauth: OAuthServer) -> None:
        self.client = client
        self.host = host
        self.keys = keys
        self.oauth = oauth

    def post(self, who: str, path: str, **kwargs: Any) -> Any:
        return self.client.post(path, headers=auth(self.keys[who]), **kwargs)

    def get(self, who: str, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=auth(self.keys[who]), **kwargs)

    def delete(self, who: str, path: str) -> Any:
        return self.client.delete(path, headers=auth(self.keys[who]))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    data = tmp_path_factory.mktemp("server")
    settings = Settings(data_dir=data, allow_http=True, host_map={"oauth.test": "127.0.0.1"},
                        max_upload_bytes=4 * 1024 * 1024, public_url="http://testserver")
    with OAuthServer() as oauth, Host(settings) as host:
        host.register_file(built(PACKS / "hello"))
        host.register_file(built(HOSTILE_PACKS / "hostile"))
        port = urlsplit(oauth.base_url).port
        host.register_bytes(with_manifest(built(PACKS / "hello").read_bytes(), lambda m: m.update(
            pack={**m["pack"], "name": "bearerdemo", "network_domains": ["api.demo.test"]},
            auth={"kind": "bearer"})))
        host.register_bytes(with_manifest(built(PACKS / "hello").read_bytes(), lambda m: m.update(
            pack={**m["pack"], "name": "oauthdemo", "network_domains": [f"oauth.test:{port}"]},
            auth={"kind": "oauth2_code", "pkce": True,
                  "authorize_url": f"http://oauth.test:{port}/authorize",
                  "token_url": f"http://oauth.test:{port}/token"})))
        store = ApiKeyStore.for_settings(settings)
        keys = {"admin": store.ensure_admin() or "", "alice": store.create("alice")[1],
                "bob": store.create("bob")[1]}
        with TestClient(create_app(host, settings), raise_server_exceptions=False) as client:
            yield Service(client, host, keys, oauth)


def test_missing_and_unknown_keys_are_refused_with_401(service: Service) -> None:
    for headers in ({}, auth("corral_nope_nope"), {"Authorization": "Basic YWxpY2U6eA=="}):
        response = service.client.get("/v1/packs", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["kind"] == "unauthenticated"


def test_callers_may_not_use_admin_endpoints(service: Service) -> None:
    wasm = built(PACKS / "hello").read_bytes()
    assert service.post("alice", "/v1/packs", content=wasm).status_code == 403
    assert service.delete("alice", "/v1/packs/hello").status_code == 403
    assert service.post("alice", "/v1/keys", json={"name": "eve"}).status_code == 403
    assert service.get("alice", "/v1/packs/hello").status_code == 200


def test_invoke_a_formula_and_evaluate_a_formula(service: Service) -> None:
    response = service.post("alice", "/v1/packs/hello/formulas/Greet", json={"args": ["Ada"]})
    assert response.status_code == 200 and response.json() == {"result": "Hello, Ada!"}
    described = service.post("alice", "/v1/packs/hello/formulas/Describe", json={"args": ["otto"]})
    assert described.json()["result"]["palindrome"] is True
    evaluated = service.post("bob", "/v1/evaluate",
                             json={"formula": '=hello.Greet("Ada") & " " & hello.Add(2, 3)'})
    assert evaluated.status_code == 200 and evaluated.json() == {"result": "Hello, Ada! 5"}


@pytest.mark.parametrize("path, body, status, kind", [
    ("/v1/packs/nope/formulas/Greet", {"args": ["x"]}, 404, "not_found"),
    ("/v1/packs/hello/formulas/Nope", {"args": []}, 404, "not_found"),
    ("/v1/packs/hello/formulas/Add", {"args": ["two", 3]}, 400, "bad_args"),
    ("/v1/packs/hello/formulas/Greet", {"args": "Ada"}, 400, "bad_request"),
    ("/v1/packs/hello/actions/Greet", {"args": ["Ada"]}, 400, "bad_args"),
    ("/v1/packs/hello/formulas/Greet", {"args": [""]}, 502, "guest_error"),
    ("/v1/packs/hostile/formulas/Spin", {}, 502, "fuel_exhausted"),
    ("/v1/evaluate", {"formula": '=hello.Greet("Ada" &'}, 400, "formula_syntax"),
    ("/v1/packs/hello/tables/Nope/sync", {}, 404, "not_found"),
])
def test_failures_are_problem_documents(service: Service, path: str, body: dict[str, Any],
                                        status: int, kind: str) -> None:
    response = service.post("alice", path, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    doc = response.json()
    assert (doc["status"], doc["kind"], doc["instance"]) == (status, kind, path)
    assert "Traceback" not in response.text


def test_a_guest_fault_names_its_pack_formula_and_limit(service: Service) -> None:
    doc = service.post("alice", "/v1/packs/hostile/formulas/Spin", json={}).json()
    assert (doc["pack"], doc["formula"], doc["limit"]) == ("hostile", "Spin", "fuel")


def test_upload_validates_caps_and_keeps_versions_side_by_side(service: Service) -> None:
    hello = built(PACKS / "hello").read_bytes()

    def renamed(version: str, description: str = "") -> bytes:
        return with_manifest(hello, lambda m: m["pack"].update(
            name="uploaded", version=version, description=description))

    assert service.post("admin", "/v1/packs", content=b"").status_code == 400
    garbage = service.post("admin", "/v1/packs", content=b"\0asm garbage")
    assert garbage.status_code == 422 and garbage.json()["kind"] == "invalid_pack"
    too_big = service.post("admin", "/v1/packs", content=b"\0" * (4 * 1024 * 1024 + 1))
    assert too_big.status_code == 413 and too_big.json()["kind"] == "payload_too_large"
    bad_manifest = with_manifest(hello, lambda m: m["pack"].update(name="has space"))
    invalid = service.post("admin", "/v1/packs", content=bad_manifest)
    assert invalid.status_code == 422 and "name" in invalid.json()["detail"]

    first = service.post("admin", "/v1/packs", content=renamed("1.0.0"))
    assert first.status_code == 201 and first.json()["version"] == "1.0.0"
    again = service.post("admin", "/v1/packs", content=renamed("1.0.0"))
    assert again.status_code == 201 and len(again.json()["versions"]) == 1
    clash = service.post("admin", "/v1/packs", content=renamed("1.0.0", "other bytes"))
    assert clash.status_code == 409 and clash.json()["kind"] == "conflict"
    staged = service.post("admin", "/v1/packs?activate=false", content=renamed("2.0.0"))
    assert staged.status_code == 201
    detail = service.get("bob", "/v1/packs/uploaded").json()
    assert detail["version"] == "1.0.0"
    assert {(v["version"], v["active"]) for v in detail["versions"]} == {
        ("1.0.0", True), ("2.0.0", False)}
    service.post("admin", "/v1/packs", content=renamed("2.0.0"))
    assert service.get("bob", "/v1/packs/uploaded").json()["version"] == "2.0.0"
    called = service.post("bob", "/v1/packs/uploaded/formulas/Greet", json={"args": ["Up"]})
    assert called.json() == {"result": "Hello, Up!"}

    assert service.delete("admin", "/v1/packs/uploaded").status_code == 204
    assert service.get("bob", "/v1/packs/uploaded").status_code == 404
    assert "uploaded" not in [p["name"] for p in service.get("bob", "/v1/packs").json()]


def test_a_stored_version_is_activated_and_rolled_back_by_an_admin(service: Service) -> None:
    hello = built(PACKS / "hello").read_bytes()

    def versioned(version: str) -> bytes:
        return with_manifest(hello, lambda m: m["pack"].update(name="rolling", version=version))

    service.post("admin", "/v1/packs", content=versioned("1.0.0"))
    service.post("admin", "/v1/packs", content=versioned("2.0.0"))
    assert service.get("bob", "/v1/packs/rolling").json()["version"] == "2.0.0"
    refused = service.post("bob", "/v1/packs/rolling/versions/1.0.0/activate")
    assert refused.status_code == 403
    rolled = service.post("admin", "/v1/packs/rolling/versions/1.0.0/activate")
    assert rolled.status_code == 200 and rolled.json()["version"] == "1.0.0"
    assert {(v["version"], v["active"]) for v in rolled.json()["versions"]} == {
        ("1.0.0", True), ("2.0.0", False)}
    assert service.get("bob", "/v1/packs/rolling").json()["version"] == "1.0.0"
    missing = service.post("admin", "/v1/packs/rolling/versions/9.9.9/activate")
    assert missing.status_code == 404 and missing.json()["kind"] == "not_found"


def test_connections_are_private_to_their_owner(service: Service) -> None:
    created = service.post("alice", "/v1/connections",
                           json={"pack": "bearerdemo", "name": "work", "secret": {"token": TOKEN}})
    assert created.status_code == 201, created.text
    conn = created.json()
    assert conn["pack"] == "bearerdemo" and conn["kind"] == "bearer"
    assert TOKEN not in created.text
    listed = service.get("alice", "/v1/connections")
    assert conn["id"] in [c["id"] for c in listed.json()] and TOKEN not in listed.text
    assert conn["id"] not in [c["id"] for c in service.get("bob", "/v1/connections").json()]

    tested = service.post("alice", f"/v1/connections/{conn['id']}/test")
    assert tested.status_code == 200 and tested.json()["status"] == "active"
    assert service.post("bob", f"/v1/connections/{conn['id']}/test").status_code == 404
    used = service.post("bob", "/v1/packs/bearerdemo/formulas/Greet",
                        json={"args": ["x"], "connection": conn["id"]})
    assert used.status_code == 404 and used.json()["kind"] == "not_found"
    mine = service.post("alice", "/v1/packs/bearerdemo/formulas/Greet",
                        json={"args": ["x"], "connection": conn["id"]})
    assert mine.status_code == 200
    assert service.delete("bob", f"/v1/connections/{conn['id']}").status_code == 404
    assert service.delete("alice", f"/v1/connections/{conn['id']}").status_code == 204
    assert conn["id"] not in [c["id"] for c in service.get("alice", "/v1/connections").json()]


def test_a_rejected_body_never_echoes_the_secret(service: Service) -> None:
    response = service.post("alice", "/v1/connections",
                            json={"pack": "bearerdemo", "name": 7, "secret": {"token": TOKEN}})
    assert response.status_code == 400 and response.json()["kind"] == "bad_request"
    assert "name" in response.json()["detail"]
    assert TOKEN not in response.text


def test_oauth2_flow_ties_the_connection_to_the_principal_that_started_it(
        service: Service) -> None:
    start = service.get("alice", "/v1/oauth2/oauthdemo/start",
                        params={"client_id": service.oauth.client_id, "name": "via oauth"})
    assert start.status_code == 200, start.text
    authorize_url = start.json()["authorize_url"]
    query = dict(parse_qsl(urlsplit(authorize_url).query))
    assert query["redirect_uri"] == "http://testserver/v1/oauth2/callback"
    assert query["code_challenge_method"] == "S256"
    status, headers = service.oauth.authorize(query)  # the user approves at the provider
    assert status == 302
    back = urlsplit(headers["Location"])
    callback = service.client.get(back.path + "?" + back.query)  # no API key: state is proof
    assert callback.status_code == 200, callback.text
    conn = callback.json()
    assert (conn["pack"], conn["name"], conn["kind"]) == ("oauthdemo", "via oauth",
                                                          "oauth2_code")
    assert conn["id"] in [c["id"] for c in service.get("alice", "/v1/connections").json()]
    assert conn["id"] not in [c["id"] for c in service.get("bob", "/v1/connections").json()]
    reused = service.client.get(back.path + "?" + back.query)
    assert reused.status_code == 400 and reused.json()["kind"] == "auth_flow"
    for token in service.oauth.issued_access:
        assert token not in callback.text


def test_rate_limit_is_per_caller_and_answers_429_with_retry_after(
        service: Service, tmp_path: Path) -> None:
    settings = replace(service.host.settings, rate_limit_per_s=0.001, rate_limit_burst=2,
                       refusal_delay_s=0.0)
    store = ApiKeyStore(tmp_path / "keys")
    keys = {"a": store.create("a")[1], "b": store.create("b")[1]}
    with TestClient(create_app(service.host, settings, keys=store)) as client:
        statuses = [client.get("/v1/packs", headers=auth(keys["a"])).status_code
                    for _ in range(3)]
        assert statuses == [200, 200, 429]
        limited = client.get("/v1/packs", headers=auth(keys["a"]))
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["kind"] == "overloaded"
        assert client.get("/v1/packs", headers=auth(keys["b"])).status_code == 200
        assert 'corral_rejected_total{reason="rate_limit"} 2' in client.get("/metrics").text


def test_admin_makes_keys_over_http_and_they_work(service: Service) -> None:
    made = service.post("admin", "/v1/keys", json={"name": "dora", "role": "caller"})
    assert made.status_code == 201
    key = made.json()["key"]
    assert service.client.get("/v1/packs", headers=auth(key)).status_code == 200
    listed = service.get("admin", "/v1/keys").text
    assert "dora" in listed and key not in listed
    bad_role = service.post("admin", "/v1/keys", json={"name": "x", "role": "root"})
    assert bad_role.status_code == 400


def test_health_readiness_and_metrics(service: Service) -> None:
    assert service.client.get("/healthz").json() == {"status": "ok", "packs": None}
    ready = service.client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["packs"] >= 2
    service.post("alice", "/v1/packs/hello/formulas/Add", json={"args": [1, 2]})
    text = service.client.get("/metrics").text
    assert "# TYPE corral_http_requests_total counter" in text
    assert ('corral_http_requests_total{method="POST",route="/v1/packs/{pack}/formulas/'
            '{formula}",status="200"}') in text
    assert 'corral_calls_total{formula="Add",outcome="ok",pack="hello"}' in text


EXPECTED_ENDPOINTS = {
    ("/v1/packs", "post"), ("/v1/packs", "get"), ("/v1/packs/{pack}", "get"),
    ("/v1/packs/{pack}", "delete"), ("/v1/packs/{pack}/versions/{version}/activate", "post"),
    ("/v1/packs/{pack}/formulas/{formula}", "post"),
    ("/v1/packs/{pack}/actions/{action}", "post"), ("/v1/evaluate", "post"),
    ("/v1/packs/{pack}/tables/{table}/sync", "post"),
    ("/v1/packs/{pack}/tables/{table}/update", "post"),
    ("/v1/packs/{pack}/tables/{table}/urls", "get"),
    ("/v1/packs/{pack}/tables/{table}/schema", "post"),
    ("/v1/packs/{pack}/autocomplete/{name}", "post"), ("/v1/connections", "post"),
    ("/v1/connections", "get"), ("/v1/connections/{connection_id}/test", "post"),
    ("/v1/connections/{connection_id}", "delete"), ("/v1/oauth2/{pack}/start", "get"),
    ("/v1/oauth2/{pack}/start", "post"), ("/v1/oauth2/callback", "get"), ("/v1/keys", "post"),
    ("/v1/keys", "get"), ("/v1/keys/{key_id}", "delete"), ("/healthz", "get"),
    ("/readyz", "get"), ("/metrics", "get"), ("/v1/blobs/{blob_id}", "get"),
    ("/v1/console/session", "post"), ("/v1/console/session", "get"),
    ("/v1/console/session", "delete"), ("/v1/runs", "get"), ("/v1/automations", "get"),
    ("/v1/automations", "post"), ("/v1/automations/{automation_id}", "get"),
    ("/v1/automations/{automation_id}", "put"), ("/v1/automations/{automation_id}", "delete"),
    ("/v1/automations/{automation_id}/run", "post"), ("/v1/hooks/{secret}", "post"),
}


def test_openapi_documents_every_endpoint_with_its_models(service: Service) -> None:
    schema = service.client.get("/openapi.json").json()
    paths = schema["paths"]
    documented = {(path, method) for path, ops in paths.items() for method in ops}
    assert documented == EXPECTED_ENDPOINTS
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    call = paths["/v1/packs/{pack}/formulas/{formula}"]["post"]
    assert call["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/CallBody")
    assert call["responses"]["404"]["content"]["application/problem+json"]["schema"][
        "$ref"].endswith("/ProblemDocument")
    upload = paths["/v1/packs"]["post"]
    assert "application/wasm" in upload["requestBody"]["content"]
    assert {"409", "413", "422"} <= set(upload["responses"])
    assert "security" not in paths["/v1/oauth2/callback"]["get"]
    assert "security" not in paths["/v1/blobs/{blob_id}"]["get"]  # the URL is the capability
    assert "security" not in paths["/v1/hooks/{secret}"]["post"]  # so is a webhook's
    assert "application/x-ndjson" in paths["/v1/packs/{pack}/tables/{table}/sync"]["post"][
        "responses"]["200"]["content"]


# -- the `corral keys` commands -----------------------------------------------------------


def test_keys_create_prints_a_key_the_store_accepts(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from corral._cli.main import main

    assert main(["keys", "create", "erin", "--role", "caller", "--data-dir", str(tmp_path)]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert ApiKeyStore(tmp_path / "api-keys").authenticate(key).name == "erin"
    with pytest.raises(SystemExit):  # argparse refuses an unknown role
        main(["keys", "create", "x", "--role", "root", "--data-dir", str(tmp_path)])


def test_keys_rotate_reseals_connection_secrets_under_a_new_key(tmp_path: Path) -> None:
    from corral._server.serve import rotate_secret_key

    settings = Settings(data_dir=tmp_path)
    hello = built(PACKS / "hello").read_bytes()
    bearer = with_manifest(hello, lambda m: m.update(
        pack={**m["pack"], "name": "bearerdemo", "network_domains": ["api.demo.test"]},
        auth={"kind": "bearer"}))
    with Host(settings) as host:
        manifest = host.register_bytes(bearer).manifest
        conn = host.connections.create(principal="p", pack=manifest, name="c",
                                       secret={"token": TOKEN})
    old_key_file = (tmp_path / "secret.key").read_text()
    assert rotate_secret_key(settings) == (1, 1)
    assert (tmp_path / "secret.key").read_text() != old_key_file
    with Host(settings) as host:
        headers: dict[str, str] = {}
        host.connections.credentials("p", conn.id, manifest).apply(headers, [])
    assert headers["Authorization"] == f"Bearer {TOKEN}"
