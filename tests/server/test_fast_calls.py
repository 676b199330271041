"""The call routes' fast path answers exactly as the whole app does.

A request with a declared ``Content-Length`` and a bearer key takes the fast path; the
same request with its body streamed (chunked, no ``Content-Length``) goes through the
whole app. Every case is sent both ways and the answers compared, so the two cannot
drift apart; the metrics and the access log count both under the route's template.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from corral import Host, Settings, create_app

from ..conftest import PACKS, built

KEY = "fast-path-admin-key-0123456789abcdef"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, rate_limit_per_s=1e-9, rate_limit_burst=60,
                        max_body_bytes=4096)
    with Host(settings) as host:
        host.register_bytes(built(PACKS / "hello").read_bytes())
        app = create_app(host, settings)
        app.state.corral.keys.import_key(KEY, "admin", "admin")
        with TestClient(app, raise_server_exceptions=False) as test_client:
            yield test_client


def both_ways(client: TestClient, path: str, body: bytes,
              key: str | None = KEY) -> tuple[tuple[int, Any], tuple[int, Any]]:
    """(fast, whole app): status and JSON of the same request, declared and streamed."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    fast = client.post(path, content=body, headers=headers)
    whole = client.post(path, content=iter([body]), headers=headers)

    def seen(answer: Any) -> tuple[int, Any]:
        data = answer.json()
        data.pop("instance", None) if isinstance(data, dict) else None
        return answer.status_code, data

    return seen(fast), seen(whole)


CASES = [
    ("/v1/packs/hello/formulas/Greet", {"args": ["Ada"]}, 200),
    ("/v1/packs/hello/formulas/Greet", {"args": []}, 400),         # a missing argument
    ("/v1/packs/hello/formulas/Greet", {"args": "Ada"}, 400),      # not a list
    ("/v1/packs/hello/formulas/Nope", {"args": []}, 404),
    ("/v1/packs/nope/formulas/Greet", {"args": []}, 404),
    ("/v1/packs/hello/actions/Greet", {"args": ["Ada"]}, 400),     # a formula, not an action
    ("/v1/packs/hello/formulas/Greet", {"args": ["Ada"], "connection": "conn_nope"}, 400),
]


@pytest.mark.parametrize(("path", "body", "status"), CASES)
def test_each_answer_is_the_same_on_the_fast_path_and_through_the_app(
        client: TestClient, path: str, body: dict[str, Any], status: int) -> None:
    fast, whole = both_ways(client, path, json.dumps(body).encode())
    assert fast == whole
    assert fast[0] == status, fast


def test_a_malformed_body_and_a_missing_key_are_answered_alike(client: TestClient) -> None:
    fast, whole = both_ways(client, "/v1/packs/hello/formulas/Greet", b"{not json")
    assert fast == whole and fast[0] == 400
    fast, whole = both_ways(client, "/v1/packs/hello/formulas/Greet", b"{}", key=None)
    assert fast == whole and fast[0] == 401
    fast, whole = both_ways(client, "/v1/packs/hello/formulas/Greet", b"{}", key="wrong")
    assert fast == whole and fast[0] == 401


def test_a_body_over_the_cap_is_413_either_way(client: TestClient) -> None:
    big = json.dumps({"args": ["x" * 5000]}).encode()
    fast, whole = both_ways(client, "/v1/packs/hello/formulas/Greet", big)
    assert fast[0] == whole[0] == 413


def test_the_rate_limit_holds_on_the_fast_path(client: TestClient) -> None:
    statuses = [client.post("/v1/packs/hello/formulas/Greet", json={"args": [f"n{i}"]},
                            headers={"Authorization": f"Bearer {KEY}"}).status_code
                for i in range(70)]
    assert statuses[:60] == [200] * 60  # the burst, with no refill to speak of
    assert set(statuses[60:]) == {429}


def test_fast_calls_are_counted_and_logged_under_the_route(
        client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="corral.access"):
        both_ways(client, "/v1/packs/hello/formulas/Greet", b'{"args": ["Ada"]}')
    metrics = client.get("/metrics").text
    assert ('corral_http_requests_total{method="POST",route="/v1/packs/{pack}/formulas/'
            '{formula}",status="200"} 2') in metrics
    lines = [r.getMessage() for r in caplog.records if r.name == "corral.access"]
    assert sum(line.startswith("POST /v1/packs/hello/formulas/Greet 200") for line in lines) == 2


def test_declared_bodies_take_the_fast_path_and_streamed_ones_do_not(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from corral._server import fast_calls

    taken: list[str] = []
    real = fast_calls.call_value

    async def counting(*args: Any, **kwargs: Any) -> Any:
        taken.append(args[3])  # (service, request, principal, pack, ...)
        return await real(*args, **kwargs)

    monkeypatch.setattr(fast_calls, "call_value", counting)
    fast, whole = both_ways(client, "/v1/packs/hello/formulas/Greet", b'{"args": ["Ada"]}')
    assert fast == whole == (200, {"result": "Hello, Ada!"})
    assert taken == ["hello"], "exactly the declared request took the fast path"
