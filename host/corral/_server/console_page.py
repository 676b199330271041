"""``/``: the Corral console, a page of plain ES modules served from the package itself.

The page (``console/index.html``) and its modules and stylesheet (``console/*.js``,
``console/*.css``) ship in the wheel and are read with importlib.resources; nothing is
built and nothing comes from another origin. The page's Content-Security-Policy allows
only this origin, with no inline script or style, so the console cannot quietly come to
depend on a CDN, and a value a pack returns cannot run as script even if a module
slipped and rendered it as markup. Why plain modules: docs/console.md.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from .._errors import NotFoundError

CONSOLE_PACKAGE = "corral._server.console"
PAGE = "index.html"
ASSETS_PATH = "/console"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".svg": "image/svg+xml"}
CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
               "base-uri 'none'; form-action 'self'")
_HEADERS = {"Content-Security-Policy": CONSOLE_CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}


def add_console(app: FastAPI) -> None:
    """Serve the console at ``/`` and its assets under ``/console/``."""

    @app.get("/", include_in_schema=False)
    async def console_page() -> HTMLResponse:
        return HTMLResponse(console_file(PAGE), headers=_HEADERS)

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    async def console_asset(name: str) -> Response:
        media_type = asset_names().get(name)
        if media_type is None:
            raise NotFoundError(f"the console has no asset named {name!r}")
        return Response(console_file(name), media_type=media_type, headers=_HEADERS)


@lru_cache(maxsize=1)
def asset_names() -> dict[str, str]:
    """The console's assets (name -> media type): the package's files of a known kind."""
    found: dict[str, str] = {}
    for entry in resources.files(CONSOLE_PACKAGE).iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in MEDIA_TYPES:
            found[entry.name] = MEDIA_TYPES[suffix]
    return found


def console_file(name: str) -> bytes:
    """One of the console's files, from the installed package."""
    try:
        return resources.files(CONSOLE_PACKAGE).joinpath(name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise NotFoundError(f"the console's {name!r} is not installed ({CONSOLE_PACKAGE}): "
                            "reinstall corral") from exc
