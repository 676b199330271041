"""Upstream errors a pack reports, as the HTTP caller sees them: the upstream status in the
problem document, ``Retry-After`` as a header, and missing scopes as their own problem type.

The Zig conformance pack runs for real behind the service (FastAPI's TestClient), its
fetches routed to a fixture server on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from corral import create_app
from corral._server.apikeys import ApiKeyStore
from corral.testing import FixtureServer, PackHarness

from ..conftest import built

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance" / "zig"


class Caller:
    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.key = key

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(path, json=body, headers={"Authorization": f"Bearer {self.key}"})


@pytest.fixture(scope="module")
def api() -> Iterator[FixtureServer]:
    with FixtureServer() as server:
        server.route("GET", "/limited", status=429, json={"message": "slow down"},
                     headers={"Retry-After": "3600"})
        server.route("GET", "/broken", status=500, json={"message": "oops"})
        yield server


@pytest.fixture(scope="module")
def caller(api: FixtureServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Caller]:
    store = ApiKeyStore(tmp_path_factory.mktemp("keys") / "api-keys.json")
    _, key = store.create("alice")
    with PackHarness(built(CONFORMANCE), server=api) as harness, TestClient(
            create_app(harness.host, keys=store), raise_server_exceptions=False) as client:
        yield Caller(client, key)


def test_an_upstream_429_past_the_deadline_carries_its_status_and_retry_after(
        caller: Caller, api: FixtureServer) -> None:
    before = api.hits("GET", "/limited")
    response = caller.post("/v1/packs/conformance/formulas/FetchOrFailUpstream",
                           {"args": ["https://conformance.test/limited"]})
    assert response.status_code == 502, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "3600"
    doc = response.json()
    assert (doc["kind"], doc["upstream_status"], doc["retry_after_s"]) == (
        "guest_error", 429, 3600.0)
    assert doc["detail"] == "conformance.FetchOrFailUpstream: the upstream answered 429"
    assert api.hits("GET", "/limited") == before + 1, "a wait past the deadline is not waited"


def test_an_upstream_500_is_reported_once_without_retry_after(caller: Caller,
                                                              api: FixtureServer) -> None:
    before = api.hits("GET", "/broken")
    response = caller.post("/v1/packs/conformance/formulas/FetchOrFailUpstream",
                           {"args": ["https://conformance.test/broken"]})
    assert response.status_code == 502
    assert response.json()["upstream_status"] == 500
    assert "retry-after" not in response.headers
    assert api.hits("GET", "/broken") == before + 1


def test_a_retry_after_is_a_header_on_a_502_rounded_up(caller: Caller) -> None:
    response = caller.post("/v1/packs/conformance/formulas/FailUpstream", {"args": [404, 2.2]})
    assert response.status_code == 502
    assert response.headers["retry-after"] == "3"
    assert (response.json()["upstream_status"], response.json()["retry_after_s"]) == (404, 2.2)


def test_the_upstream_status_survives_a_formula(caller: Caller) -> None:
    response = caller.post("/v1/evaluate", {
        "formula": '=conformance.FetchOrFailUpstream("https://conformance.test/limited")'})
    assert response.status_code == 502
    assert response.headers["retry-after"] == "3600"
    assert response.json()["upstream_status"] == 429


def test_missing_scopes_are_their_own_problem_type(caller: Caller) -> None:
    response = caller.post("/v1/packs/conformance/formulas/NeedScopes",
                           {"args": [["repo", "read:org"]]})
    assert response.status_code == 403
    doc = response.json()
    assert doc["type"] == "urn:corral:problem:missing_scopes"
    assert (doc["kind"], doc["missing_scopes"]) == ("missing_scopes", ["repo", "read:org"])
    assert doc["detail"].endswith("reconnect granting the scopes: repo read:org")
    assert (doc["pack"], doc["formula"]) == ("conformance", "NeedScopes")
