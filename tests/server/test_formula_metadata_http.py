"""Formula metadata as an HTTP caller sees it: examples in the pack description, a
``validate_parameters`` refusal as a 400 problem, a formula's own timeout as a 504.

The Zig conformance pack runs for real behind the service (FastAPI's TestClient)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from corral import create_app
from corral._server.apikeys import ApiKeyStore
from corral.testing import PackHarness
from fastapi.testclient import TestClient

from ..conftest import built

CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance" / "zig"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    store = ApiKeyStore(tmp_path_factory.mktemp("keys") / "api-keys.json")
    _, key = store.create("alice")
    with PackHarness(built(CONFORMANCE)) as harness, TestClient(
            create_app(harness.host, keys=store), raise_server_exceptions=False) as http:
        yield http, {"Authorization": f"Bearer {key}"}


def test_the_pack_description_carries_the_metadata(
        client: tuple[TestClient, dict[str, str]]) -> None:
    http, auth = client
    response = http.get("/v1/packs/conformance", headers=auth)
    assert response.status_code == 200, response.text
    formulas = {f["name"]: f for f in response.json()["manifest"]["formulas"]}
    assert formulas["Double"]["examples"] == [{"params": [2], "result": 4},
                                              {"params": [-1.5], "result": -3}]
    assert formulas["Span"]["validate_parameters"] is True
    assert formulas["Endless"]["timeout_ms"] == 200
    assert "timeout_ms" not in formulas["Double"]


def test_invalid_arguments_are_a_400_naming_the_parameters(
        client: tuple[TestClient, dict[str, str]]) -> None:
    http, auth = client
    ok = http.post("/v1/packs/conformance/formulas/Span", json={"args": [1, 4]}, headers=auth)
    assert ok.status_code == 200 and ok.json()["result"] == 3, ok.text
    response = http.post("/v1/packs/conformance/formulas/Span", json={"args": [-2, -5]},
                         headers=auth)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    doc = response.json()
    assert doc["type"] == "urn:corral:problem:invalid_parameters"
    assert doc["parameters"] == ["low", "high"]
    assert doc["field_errors"][1] == {"parameter": "high", "message": "must be at least low"}
    assert doc["detail"].startswith("conformance.Span: invalid arguments: the range is not valid")


def test_a_failing_validation_is_the_packs_error_and_a_timeout_is_a_504(
        client: tuple[TestClient, dict[str, str]]) -> None:
    http, auth = client
    broken = http.post("/v1/packs/conformance/formulas/Span", json={"args": [13, 20]},
                       headers=auth)
    assert broken.status_code == 502 and broken.json()["kind"] == "guest_error"
    assert "validate_parameters failed" in broken.json()["detail"]
    endless = http.post("/v1/packs/conformance/formulas/Endless", json={"args": []},
                        headers=auth)
    assert endless.status_code == 504 and endless.json()["kind"] == "timeout", endless.text
