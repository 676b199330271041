"""``curl /`` shows a page that names only the server's own assets: plain ES modules that
import only each other, a stylesheet, a strict Content-Security-Policy, and every file of
it shipped in the wheel."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import httpx
import pytest
from corral._server.serve import ADMIN_KEY_LINE

from ..conftest import REPO
from ..server.test_server_e2e import free_port, start_serve, stop_serve
from .conftest import Console

CONSOLE_DIR = REPO / "host" / "corral" / "_server" / "console"
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css"}
IMPORT = re.compile(r'^\s*import\s[^"\']*["\']([^"\']+)["\'];?\s*$', re.MULTILINE)
MAX_LINES = 500


def referenced_urls(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page)


def test_curl_slash_names_only_assets_of_the_server_itself(console: Console) -> None:
    page = httpx.get(console.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = referenced_urls(page.text)
    assert {"console/app.js", "console/console.css"} <= set(urls), urls
    for url in urls:
        assert not re.match(r"^[a-z]+:|^//", url) or url == "data:,", url  # no other origin
        if url == "data:," or url.startswith("#"):
            continue  # the empty favicon and the views' links: no request at all
        asset = httpx.get(f"{console.url}/{url}")
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(ASSET_TYPES[Path(url).suffix]), url
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert "http://" not in page.text and "https://" not in page.text
    assert "<script>" not in page.text and " style=" not in page.text  # nothing inline


def test_the_page_forbids_every_other_origin_and_inline_code(console: Console) -> None:
    policy = httpx.get(console.url + "/").headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    for name in ("default-src", "script-src", "style-src", "connect-src"):
        assert directives[name] == "'self'", (name, policy)
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe" not in policy and "*" not in policy


def test_every_module_imports_only_its_siblings_and_names_no_other_origin(
        console: Console) -> None:
    modules = sorted(CONSOLE_DIR.glob("*.js"))
    assert len(modules) >= 6, modules
    for module in modules:
        served = httpx.get(f"{console.url}/console/{module.name}")
        assert served.status_code == 200 and served.text == module.read_text()
        imports = IMPORT.findall(served.text)
        assert all(i.startswith("./") and (CONSOLE_DIR / i[2:]).is_file() for i in imports), (
            module.name, imports)
        assert "http://" not in served.text and "https://" not in served.text, module.name
        assert "innerHTML" not in served.text and "eval(" not in served.text, module.name
        assert "localStorage" not in served.text and "sessionStorage" not in served.text


def test_the_modules_are_small_and_type_checked(console: Console) -> None:
    for module in CONSOLE_DIR.glob("*.js"):
        lines = module.read_text().splitlines()
        assert len(lines) <= MAX_LINES, module.name
        assert lines[0] == "// @ts-check", module.name


@pytest.mark.parametrize("path", ["/console/nope.js", "/console/..%2Fapikeys.py",
                                  "/console/__init__.py", "/console/index.html.bak"])
def test_an_unknown_asset_is_a_404_problem(console: Console, path: str) -> None:
    answer = httpx.get(console.url + path)
    assert answer.status_code == 404, path
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_every_console_file_ships_in_the_wheel() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["corral"]
    files = [p for p in CONSOLE_DIR.iterdir() if p.is_file() and p.suffix != ".py"]
    assert {p.suffix for p in files} == {".html", ".js", ".css"}, files
    for path in files:
        relative = path.relative_to(REPO / "host" / "corral").as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


def test_corral_serve_answers_slash_with_the_console_and_its_key_signs_in(
        tmp_path: Path) -> None:
    port = free_port()
    process, lines = start_serve(tmp_path / "data", port)
    base = f"http://127.0.0.1:{port}"
    try:
        page = httpx.get(base + "/")
        assert page.status_code == 200 and 'src="console/app.js"' in page.text
        assert "content-security-policy" in page.headers
        key, = [line[len(ADMIN_KEY_LINE):] for line in lines if line.startswith(ADMIN_KEY_LINE)]
        signed = httpx.post(base + "/v1/console/session", json={"key": key})
        assert signed.status_code == 201 and signed.json()["role"] == "admin"
    finally:
        assert stop_serve(process) == 0


def test_loading_the_console_many_times_over_spends_no_address_budget(
        console: Console) -> None:
    """One page load fetches the page and every module; loads far past the public
    per-address burst all answer 200 (a 429 on one module left the page blank)."""
    modules = sorted(p.name for p in CONSOLE_DIR.glob("*.js"))
    burst = console.service.settings.public_rate_limit_burst
    loads = burst // len(modules) + 3
    with httpx.Client(base_url=console.url) as client:
        statuses = [client.get(path).status_code for _ in range(loads)
                    for path in ["/", "/console/console.css",
                                 *(f"/console/{name}" for name in modules)]]
    assert len(statuses) > burst + len(modules)
    assert set(statuses) == {200}
