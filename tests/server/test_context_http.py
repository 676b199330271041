"""The execution context over HTTP: the caller's time zone (body field, header, default)
and location reach the guest's ``ctx``; a bad time zone is a 400 naming the field; blob
URLs are keyless capabilities served so they cannot script the host's origin.
The Zig conformance pack runs for real behind the service (FastAPI's TestClient).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corral import create_app
from corral._server.apikeys import ApiKeyStore
from corral.testing import FixtureServer, PackHarness
from fastapi.testclient import TestClient

from ..conftest import built

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance" / "zig"
FORMULAS = "/v1/packs/conformance/formulas"


class Clock:
    def __init__(self) -> None:
        self.now = 2_000_000_000.0

    def __call__(self) -> float:
        return self.now


class Service:
    def __init__(self, client: TestClient, keys: dict[str, str], clock: Clock,
                 harness: PackHarness) -> None:
        self.client = client
        self.keys = keys
        self.clock = clock
        self.harness = harness

    def post(self, path: str, body: dict[str, Any], who: str = "alice",
             headers: dict[str, str] | None = None) -> Any:
        return self.client.post(path, json=body, headers={
            "Authorization": f"Bearer {self.keys[who]}", **(headers or {})})


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    store = ApiKeyStore(tmp_path_factory.mktemp("keys") / "api-keys.json")
    keys = {name: store.create(name)[1] for name in ("alice", "bob")}
    clock = Clock()
    with FixtureServer() as api, PackHarness(
            built(CONFORMANCE), server=api, clock=clock,
            settings={"default_timezone": "Europe/Berlin"}) as harness, TestClient(
            create_app(harness.host, keys=store), raise_server_exceptions=False) as client:
        yield Service(client, keys, clock, harness)


def test_the_timezone_comes_from_the_body_the_header_or_the_default(service: Service) -> None:
    def zone(body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        response = service.post(f"{FORMULAS}/CtxTimezone", body, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()["result"]

    assert zone({}) == "Europe/Berlin"
    assert zone({"timezone": "America/New_York"}) == "America/New_York"
    assert zone({}, {"Corral-Timezone": "Asia/Kolkata"}) == "Asia/Kolkata"
    assert zone({"timezone": "UTC"}, {"Corral-Timezone": "Asia/Kolkata"}) == "UTC"


@pytest.mark.parametrize("bad", ["Not/AZone", "../../../etc/passwd", "", "utc+2", "Europe/"])
def test_a_bad_timezone_is_a_400_naming_the_field(service: Service, bad: str) -> None:
    response = service.post(f"{FORMULAS}/CtxTimezone", {"timezone": bad})
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["kind"] == "bad_args" and problem["field"] == "timezone"


def test_evaluate_and_sync_carry_the_timezone(service: Service) -> None:
    response = service.post("/v1/evaluate", {"formula": "=conformance.CtxTimezone()",
                                             "timezone": "Africa/Lagos"})
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "Africa/Lagos"
    bad = service.post("/v1/packs/conformance/tables/Items/sync",
                       {"args": [1], "timezone": "Nowhere/Land"})
    assert bad.status_code == 400 and bad.json()["field"] == "timezone"


def test_the_location_is_the_requests_base_url_and_the_callers_document(
        service: Service) -> None:
    response = service.post(f"{FORMULAS}/CtxLocation", {"doc_id": "doc-7"})
    assert response.json()["result"] == {"protocol_and_host": "http://testserver",
                                         "doc_id": "doc-7"}
    bad = service.post(f"{FORMULAS}/CtxLocation", {"doc_id": "a\nb"})
    assert bad.status_code == 400 and bad.json()["field"] == "doc_id"


def _store(service: Service, text: str, content_type: str, who: str = "alice") -> str:
    response = service.post(f"{FORMULAS}/CtxStoreBlob", {"args": [text, content_type]}, who)
    assert response.status_code == 200, response.text
    url: str = response.json()["result"]["url"]
    assert url.startswith("http://testserver/v1/blobs/")
    return url[len("http://testserver"):]


def test_a_blob_url_is_a_capability_anyone_holding_it_may_read(service: Service) -> None:
    path = _store(service, "alice's report", "text/plain")
    # No key at all, or another caller's key: the URL alone grants reading (until it
    # expires). Whoever the caller shares it with can read it; nobody can find it.
    assert service.client.get(path).content == b"alice's report"
    other = service.client.get(path, headers={"Authorization": f"Bearer {service.keys['bob']}"})
    assert other.content == b"alice's report"


def test_guessing_a_blob_id_finds_nothing(service: Service) -> None:
    _store(service, "something", "text/plain")
    for guess in (secrets.token_urlsafe(32), "A" * 43, "1", "..%2F..%2Fapi-keys.json"):
        response = service.client.get(f"/v1/blobs/{guess}")
        assert response.status_code == 404, guess
        assert response.headers["content-type"] == "application/problem+json"


def test_an_html_or_svg_blob_cannot_script_the_origin(service: Service) -> None:
    for content_type in ("text/html", "image/svg+xml", "application/xhtml+xml"):
        path = _store(service, "<script>fetch('/v1/keys')</script>", content_type)
        response = service.client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-disposition"] == "attachment"
        policy = response.headers["content-security-policy"]
        assert policy.split(";")[0] == "sandbox"  # no allow-scripts, no allow-same-origin
        assert "default-src 'none'" in policy
        assert response.headers["referrer-policy"] == "no-referrer"


def test_an_expired_blob_is_410_then_404(service: Service) -> None:
    path = _store(service, "short-lived", "text/plain")
    service.clock.now += service.harness.host.settings.blob_ttl_s
    gone = service.client.get(path)
    assert gone.status_code == 410
    assert gone.json()["type"] == "urn:corral:problem:blob_expired"
    assert service.client.get(path).status_code == 404


def test_writing_to_a_blob_url_needs_a_key(service: Service) -> None:
    path = _store(service, "x", "text/plain")
    assert service.client.post(path, content=b"y").status_code == 401


def test_a_memoised_formula_is_not_shared_across_timezones(service: Service) -> None:
    from corral._formula.memo import FormulaMemo

    assert FormulaMemo.key("=x()", "alice", {}, None, ("UTC", "", "")) != FormulaMemo.key(
        "=x()", "alice", {}, None, ("Asia/Tokyo", "", ""))
    answers = [service.post("/v1/evaluate", {"formula": "=conformance.CtxTimezone()",
                                             "timezone": zone}).json()["result"]
               for zone in ("Europe/Rome", "Europe/Rome", "Australia/Perth", "Europe/Rome")]
    assert answers == ["Europe/Rome", "Europe/Rome", "Australia/Perth", "Europe/Rome"]
