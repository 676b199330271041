"""POST /v1/evaluate with bound variables and a timezone, and packs' numeric ids over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corral import Host, Settings, create_app
from corral._pack.abi import MAX_DEPTH
from corral._server.apikeys import ApiKeyStore
from fastapi.testclient import TestClient

from ..conftest import PACKS, built


class Client:
    def __init__(self, client: TestClient, key: str, host: Host) -> None:
        self.client, self.key, self.host = client, key, host

    def evaluate(self, body: dict[str, Any]) -> Any:
        return self.client.post("/v1/evaluate", json=body,
                                headers={"Authorization": f"Bearer {self.key}"})

    def get(self, path: str) -> Any:
        return self.client.get(path, headers={"Authorization": f"Bearer {self.key}"})


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    data: Path = tmp_path_factory.mktemp("evaluate")
    settings = Settings(data_dir=data)
    with Host(settings) as host:
        host.register_file(built(PACKS / "hello"))
        key = ApiKeyStore.for_settings(settings).create("alice")[1]
        with TestClient(create_app(host, settings), raise_server_exceptions=False) as client:
            yield Client(client, key, host)


def test_variables_are_bound_from_the_request_body(api: Client) -> None:
    response = api.evaluate({"formula": '=hello.Greet($$[variable:who]) & " x" & '
                                        "Sum($$[variable:nums])",
                             "variables": {"who": "Ada", "nums": [1, 2, 3.5]}})
    assert response.status_code == 200, response.text
    assert response.json() == {"result": "Hello, Ada! x6.5"}


def test_the_memo_tells_bound_values_apart(api: Client) -> None:
    formula = "=hello.Add($$[variable:n], 1)"
    answers = [api.evaluate({"formula": formula, "variables": {"n": n}}).json()["result"]
               for n in (1, 2, 1, 41)]
    assert answers == [2, 3, 2, 42]


def test_an_unbound_variable_is_a_problem_naming_it_and_where(api: Client) -> None:
    response = api.evaluate({"formula": "=1 +\n  $$[variable:missing]",
                             "variables": {"other": 1}})
    assert response.status_code == 400
    doc = response.json()
    assert doc["kind"] == "formula_eval" and doc["variable"] == "missing"
    assert (doc["line"], doc["column"]) == (2, 3)
    assert "'missing' is not bound" in doc["detail"]


def _nested(levels: int) -> Any:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("variables, fragment", [
    ({"x": {"deep": _nested(MAX_DEPTH + 1)}}, "nests deeper"),
    ({"x": "y" * 1_000_001}, "longer than"),
    ({"  ": 1}, "non-empty"),
])
def test_bad_variable_values_are_400s_naming_them(api: Client, variables: dict[str, Any],
                                                  fragment: str) -> None:
    response = api.evaluate({"formula": "=1", "variables": variables})
    assert response.status_code == 400, response.text
    assert fragment in response.json()["detail"]


def test_the_timezone_field_sets_the_formulas_zone(api: Client) -> None:
    body = {"formula": '=Hour("2024-05-31T10:00:00Z") & " " & ToDate("2024-05-31T23:30:00Z")'}
    assert api.evaluate(body).json()["result"] == "10 2024-05-31"
    oslo = api.evaluate({**body, "timezone": "Europe/Oslo"}).json()["result"]
    assert oslo == "12 2024-06-01"


def test_an_unknown_timezone_is_a_400_naming_the_field(api: Client) -> None:
    response = api.evaluate({"formula": "=Now()", "timezone": "Mars/Olympus"})
    assert response.status_code == 400
    assert response.json()["kind"] == "bad_args" or "timezone" in response.json()["detail"]
    assert "Mars/Olympus" in response.json()["detail"]


def test_packs_carry_their_numeric_id_and_formulas_resolve_by_it(api: Client) -> None:
    listing = api.get("/v1/packs").json()
    hello = next(p for p in (listing["packs"] if isinstance(listing, dict) else listing)
                 if p["name"] == "hello")
    assert isinstance(hello["id"], int) and hello["id"] >= 1001
    assert api.get("/v1/packs/hello").json()["id"] == hello["id"]
    response = api.evaluate({"formula": f'=$$[pack:{hello["id"]}:Hello]::Greet("Ada")'})
    assert response.json() == {"result": "Hello, Ada!"}
