"""``/docs`` works with no network beyond the server: every asset it names is served by
Corral, a Content-Security-Policy of 'self' forbids any other origin, and the OpenAPI
document says what the service answers (400 problem documents, never FastAPI's 422
validation error)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from corral import Host, Settings, create_app

ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with Host(Settings(data_dir=tmp_path)) as host:
        yield TestClient(create_app(host))


def referenced_urls(page: str) -> list[str]:
    return re.findall(r'(?:src|href|data-openapi-url)="([^"]+)"', page)


def test_docs_name_only_assets_of_the_server_itself(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = referenced_urls(page.text)
    assert len(urls) == 5, urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        if url != "/openapi.json":
            assert asset.headers["content-type"].startswith(ASSET_TYPES[Path(url).suffix])
            assert asset.headers["x-content-type-options"] == "nosniff"
    assert "http://" not in page.text and "https://" not in page.text


def test_the_docs_page_forbids_every_other_origin(client: TestClient) -> None:
    policy = client.get("/docs").headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no inline script either
    assert "validatorUrl: null" in client.get("/docs/assets/swagger-init.js").text


def test_an_unknown_asset_is_a_404_problem_and_redoc_is_gone(client: TestClient) -> None:
    for path in ("/docs/assets/nope.js", "/docs/assets/..%2Fapp.py", "/redoc"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_openapi_promises_400_problems_and_not_fastapis_422(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "HTTPValidationError" not in str(responses.get("422")), (method, path)
            if "requestBody" in operation or operation.get("parameters"):
                assert "application/problem+json" in responses["400"]["content"], (method, path)


def test_a_bad_body_answers_what_openapi_promises(client: TestClient) -> None:
    app_service = client.app.state.corral  # type: ignore[attr-defined]
    app_service.keys.import_key("docs-admin-key-0123456789abcdef", "admin", "admin")
    answer = client.post("/v1/connections", json={"pack": 7},
                         headers={"Authorization": "Bearer docs-admin-key-0123456789abcdef"})
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    documented = client.get("/openapi.json").json()["paths"]["/v1/connections"]["post"]
    assert "400" in documented["responses"]
