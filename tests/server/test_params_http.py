"""Parameter types over HTTP: a date and a sparse array sent as JSON to ``POST`` invoke reach
the guest in their canonical forms, and a null in a plain array is a 400 naming the parameter.

The Zig conformance pack runs for real behind the service (FastAPI's TestClient).
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
LISTS = ("strings", "numbers", "integers", "booleans", "dates", "htmls", "markdowns",
         "images", "files", "emails")


class Caller:
    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(path, json=body, headers=self.headers)

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=self.headers)


@pytest.fixture(scope="module")
def caller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Caller]:
    store = ApiKeyStore(tmp_path_factory.mktemp("keys") / "api-keys.json")
    _, key = store.create("alice")
    with FixtureServer() as api, PackHarness(built(CONFORMANCE), server=api) as harness, \
            TestClient(create_app(harness.host, keys=store),
                       raise_server_exceptions=False) as client:
        yield Caller(client, key)


def test_a_date_sent_over_http_reaches_the_guest_as_one_utc_instant(caller: Caller) -> None:
    response = caller.post("/v1/packs/conformance/formulas/EchoDate",
                           {"args": ["2026-12-02T10:00:00+01:00"]})
    assert response.status_code == 200, response.text
    assert response.json()["result"] == {"iso": "2026-12-02T09:00:00.000Z",
                                         "epoch_ms": 1796202000000,
                                         "parts": [2026, 12, 2, 9, 0, 0, 0]}


def test_a_sparse_array_sent_over_http_keeps_its_nulls(caller: Caller) -> None:
    args: list[list[Any]] = [[] for _ in LISTS]
    args[LISTS.index("dates")] = [None, "2026-12-02", None]
    args[LISTS.index("numbers")] = [1.5, None]
    response = caller.post("/v1/packs/conformance/formulas/EchoSparse", {"args": args})
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["dates"] == [None, "2026-12-02T00:00:00.000Z", None]
    assert result["numbers"] == [1.5, None]


def test_a_null_in_a_plain_array_is_a_problem_naming_the_parameter(caller: Caller) -> None:
    args: list[list[Any]] = [[] for _ in LISTS]
    args[LISTS.index("emails")] = ["a@example.com", None]
    response = caller.post("/v1/packs/conformance/formulas/EchoArrays", {"args": args})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    doc = response.json()
    assert doc["kind"] == "bad_args" and doc["parameter"] == "emails"
    assert "parameter 'emails' expects array of email: item 1 is null" in doc["detail"]


def test_a_bad_date_is_a_problem_naming_the_parameter(caller: Caller) -> None:
    response = caller.post("/v1/packs/conformance/formulas/EchoDate", {"args": ["someday"]})
    assert response.status_code == 400
    assert response.json()["parameter"] == "value"
    assert "'someday' is not a date" in response.json()["detail"]


def test_a_date_given_as_text_in_a_formula_is_coerced(caller: Caller) -> None:
    for formula, iso in (
            ('=conformance.EchoDate("2026-12-02")', "2026-12-02T00:00:00.000Z"),
            ('=$$[pack:conformance]::EchoDate("2026-12-02 23:00-02:00")',
             "2026-12-03T01:00:00.000Z")):
        response = caller.post("/v1/evaluate", {"formula": formula})
        assert response.status_code == 200, response.text
        assert response.json()["result"]["iso"] == iso, formula


def test_the_pack_description_shows_types_suggested_values_and_sparse(caller: Caller) -> None:
    response = caller.get("/v1/packs/conformance")
    assert response.status_code == 200, response.text
    formulas = {f["name"]: f for f in response.json()["manifest"]["formulas"]}
    assert formulas["EchoDate"]["params"] == [
        {"name": "value", "type": "date", "suggested": "2026-12-02T00:00:00.000Z"}]
    assert formulas["EchoSparse"]["params"][4] == {
        "name": "dates", "type": "array", "items": "date", "sparse": True}
    assert formulas["EchoEmail"]["params"][0]["default"] == "nobody@example.com"
