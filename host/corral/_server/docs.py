"""``/docs``: Swagger UI served from the service's own assets, so it works offline.

The bundle and its stylesheet come from the ``fastapi-swagger`` package (a current
Swagger UI 5 build, which renders OpenAPI 3.1 as FastAPI writes it); the page and its
start-up script are Corral's. A Content-Security-Policy of ``'self'`` makes the browser
refuse anything from another origin, so the page cannot quietly depend on a CDN.
"""

from __future__ import annotations

import html
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from .._errors import NotFoundError
from .problems import PROBLEM_MEDIA_TYPE

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
#: asset name -> (package holding it, media type)
_ASSETS = {
    "swagger-ui-bundle.js": ("fastapi_swagger.resources", "text/javascript; charset=utf-8"),
    "swagger-ui.css": ("fastapi_swagger.resources", "text/css; charset=utf-8"),
    "favicon-32x32.png": ("fastapi_swagger.resources", "image/png"),
    "swagger-init.js": ("corral._server.static", "text/javascript; charset=utf-8"),
}
DOCS_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
            "form-action 'self'")
_CACHE = "public, max-age=86400"


def add_offline_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` and its assets under ``/docs/assets/``."""

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return HTMLResponse(_page(app.title, root + (app.openapi_url or "/openapi.json"), root),
                            headers={"Content-Security-Policy": DOCS_CSP,
                                     "X-Content-Type-Options": "nosniff"})

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    async def swagger_asset(name: str) -> Response:
        return Response(asset_bytes(name), media_type=_ASSETS[name][1],
                        headers={"Cache-Control": _CACHE, "X-Content-Type-Options": "nosniff"})


def asset_bytes(name: str) -> bytes:
    """One of the page's assets; NotFound for any other name."""
    found = _ASSETS.get(name)
    if found is None:
        raise NotFoundError(f"no documentation asset named {name!r}")
    return _read(*found[:1], name)


def _read(package: str, name: str) -> bytes:
    try:
        return resources.files(package).joinpath(name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise NotFoundError(f"the documentation asset {name!r} is not installed ({package}): "
                       f"reinstall corral") from exc


def _page(title: str, openapi_url: str, root: str) -> str:
    assets = html.escape(root + ASSETS_PATH)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} - API</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body data-openapi-url="{html.escape(openapi_url)}">
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""


def problem_responses_only(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document as the service behaves: bad input is a 400 problem document,
    never FastAPI's 422 ``HTTPValidationError``."""
    bad_input = {"description": "Bad input", "content": {PROBLEM_MEDIA_TYPE: {
        "schema": {"$ref": "#/components/schemas/ProblemDocument"}}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if "HTTPValidationError" in str(responses.get("422", "")):
                del responses["422"]  # a 422 of Corral's own (a bad pack) stays
                responses.setdefault("400", bad_input)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema
