"""A reflecting API on the pack's own auth domain, tried through the real ``authed`` pack and
the real HTTP service: whatever form it hands the token back in (a body in any encoding, a
header name or value, the status line, a redirect, a line no parser accepts), the token
reaches neither the guest, nor the caller's result or error, nor a problem document, nor
any log record of any logger at DEBUG, nor the disk.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, quote_plus

import pytest
from fastapi.testclient import TestClient

from corral import FetchError, Pack
from corral._fetch.redact import REDACTED
from corral._host import Host
from corral._runtime.pack import read_manifest
from corral._server.apikeys import ApiKeyStore
from corral._server.app import create_app
from corral._settings import Settings
from corral._pack.wasm import MANIFEST_SECTION, set_custom_section

from ..conftest import TEST_PACKS, built
from ..reflecting_server import ReflectingServer, response

AUTH_HOST = "auth.example.test"
#: Characters that every encoding writes differently: '/', '+', '=', '&', '"', 'é', '😀'.
TOKEN = 'tok/SEKRIT+4f1c=a&b"é😀'
PARTS = ("SEKRIT", "sekrit", "4f1c")  # pieces that must not survive, in any case


def _json_all(text: str) -> str:
    """Every character as JSON's \\uXXXX, surrogate pairs for the astral ones."""
    units = text.encode("utf-16-be")
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))


BODY_FORMS: dict[str, Callable[[str], str]] = {
    "exact": lambda s: s,
    "percent": lambda s: quote(s, safe=""),
    "percent-lower": lambda s: re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(),
                                      quote(s, safe="")),
    "percent-plus": lambda s: quote_plus(s),
    "percent-twice": lambda s: quote(quote(s, safe=""), safe=""),
    "json-dumps": lambda s: json.dumps(s),
    "json-ascii": lambda s: json.dumps(s, ensure_ascii=True),
    "json-slash": lambda s: json.dumps(s).replace("/", "\\/"),
    "json-every-char": lambda s: '"' + _json_all(s) + '"',
    "json-of-percent": lambda s: json.dumps("https://x.test/?t=" + quote(s)),
    "html-named": lambda s: html.escape(s),
    "html-decimal": lambda s: "".join(f"&#{ord(c)};" for c in s),
    "html-hex": lambda s: "".join(f"&#x{ord(c):x};" for c in s),
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64url-bare": lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
    "base64-inside": lambda s: base64.b64encode(b'{"t":"' + s.encode() + b'"}').decode(),
    "hex": lambda s: s.encode().hex(),
}


def _answer(path: str, secret: str) -> bytes:
    """The reflecting API's routes: /body/<form>, and each other way out of a response."""
    if path.startswith("/body/"):
        body = f"you sent: {BODY_FORMS[path[6:]](secret)} (thanks)"
        return response("200 OK", [("Content-Type", "text/plain; charset=utf-8")],
                        body.encode("utf-8"))
    routes: dict[str, Callable[[], bytes]] = {
        "/header-value": lambda: response("200 OK", [("X-Echo", f"you sent {secret}")]),
        "/header-name": lambda: response("200 OK", [(f"X-{quote(secret, safe='')}", "1")]),
        "/reason": lambda: response(f"200 Seen {secret}", []),
        "/bad-header": lambda: response("200 OK", [("X-Ok", "1")]).replace(
            b"X-Ok: 1", f"broken line {secret}".encode()),
        "/bad-status": lambda: f"HTTP/1.1 2x0 {secret}\r\n\r\n".encode(),
        "/redirect-away": lambda: response(
            "302 Found", [("Location", f"http://undeclared.example.test/{quote(secret)}")]),
        "/redirect-unreadable": lambda: response(
            "302 Found", [("Location", f"http://[{quote(secret)}/")]),
        "/redirect-loop": lambda: response("302 Found", [("Location", f"/loop/{quote(secret)}")]),
    }
    if path.startswith("/loop/"):
        return response("302 Found", [("Location", f"/loop/{quote(secret)}/more")])
    return routes.get(path, lambda: response("404 Not Found", []))()


class EveryRecord(logging.Handler):
    """On the root logger at DEBUG: every record of every logger, fully formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.texts: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.names.add(record.name)
        self.texts.append(self.format(record) + " " + repr(vars(record)))


@pytest.fixture
def every_record() -> Iterator[EveryRecord]:
    root = logging.getLogger()
    handler, level = EveryRecord(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture(scope="module")
def api() -> Iterator[ReflectingServer]:
    with ReflectingServer(_answer) as server:
        yield server


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    settings = Settings(data_dir=tmp_path / "data", allow_http=True,
                        host_map={AUTH_HOST: "127.0.0.1",
                                  "undeclared.example.test": "127.0.0.1"})
    with Host(settings) as made:
        yield made


def register(host: Host, api: ReflectingServer) -> Pack:
    wasm = built(TEST_PACKS / "authed").read_bytes()
    manifest = read_manifest(wasm).to_dict()
    manifest["pack"]["network_domains"] = [f"{AUTH_HOST}:{api.port}"]
    manifest["auth"] = {"kind": "bearer"}
    return host.register_bytes(set_custom_section(wasm, MANIFEST_SECTION,
                                                  json.dumps(manifest).encode()))


def url(api: ReflectingServer, path: str) -> str:
    return f"http://{AUTH_HOST}:{api.port}{path}"


def assert_no_token(text: str, where: str) -> None:
    for piece in (TOKEN, *PARTS):
        assert piece not in text, f"{piece!r} leaked in {where}: {text[:300]!r}"


def rendered(exc: BaseException) -> str:
    """Everything an error can show: its text, details, and the whole chained traceback."""
    return (f"{exc!r} {exc} {getattr(exc, 'details', '')} "
            + "".join(traceback.format_exception(exc)))


@pytest.mark.parametrize("form", sorted(BODY_FORMS))
def test_a_reflected_body_reaches_the_guest_redacted_in_every_encoding(
        host: Host, api: ReflectingServer, form: str) -> None:
    register(host, api)
    conn = host.connections.create(principal="ada", pack=host.pack("authed").manifest,
                                   name="c", secret={"token": TOKEN})
    before = len(api.secrets_seen)
    result = host.call("authed", "Get", url(api, f"/body/{form}"), connection=conn.id,
                       principal="ada")
    assert api.secrets_seen[before:] == [TOKEN], "the API really received the token"
    assert result["status"] == 200
    assert REDACTED in result["body"]
    assert BODY_FORMS[form](TOKEN) not in result["body"]
    assert_no_token(json.dumps(result, ensure_ascii=False), f"the {form} body")


@pytest.mark.parametrize("path", ["/header-value", "/header-name", "/reason"])
def test_reflected_headers_and_status_lines_reach_the_guest_redacted(
        host: Host, api: ReflectingServer, path: str) -> None:
    register(host, api)
    conn = host.connections.create(principal="ada", pack=host.pack("authed").manifest,
                                   name="c", secret={"token": TOKEN})
    result = host.call("authed", "Get", url(api, path), connection=conn.id, principal="ada")
    assert result["status"] == 200
    seen = json.dumps(result, ensure_ascii=False)
    assert_no_token(seen, path)
    if path != "/reason":  # the guest is not shown the reason phrase at all
        assert REDACTED in seen


ERROR_PATHS = ["/bad-header", "/bad-status", "/redirect-away", "/redirect-unreadable",
               "/redirect-loop"]


@pytest.mark.parametrize("path", ERROR_PATHS)
def test_fetch_errors_quoting_the_token_are_redacted_with_their_causes(
        host: Host, api: ReflectingServer, path: str, every_record: EveryRecord) -> None:
    register(host, api)
    conn = host.connections.create(principal="ada", pack=host.pack("authed").manifest,
                                   name="c", secret={"token": TOKEN})
    with pytest.raises(FetchError) as info:
        host.call("authed", "Get", url(api, path), connection=conn.id, principal="ada")
    assert TOKEN in api.secrets_seen
    assert_no_token(rendered(info.value), f"the error of {path}")
    assert_no_token("\n".join(every_record.texts), f"the log of {path}")


def test_a_parser_error_that_quotes_the_token_says_where_it_was_cut(
        host: Host, api: ReflectingServer) -> None:
    register(host, api)
    conn = host.connections.create(principal="ada", pack=host.pack("authed").manifest,
                                   name="c", secret={"token": TOKEN})
    with pytest.raises(FetchError) as info:
        host.call("authed", "Get", url(api, "/bad-header"), connection=conn.id, principal="ada")
    # The parser quoted the line (the defence is needed), and the quote was cut.
    assert REDACTED in rendered(info.value)


def test_the_root_logger_at_debug_sees_no_token_from_any_library(
        host: Host, api: ReflectingServer, every_record: EveryRecord) -> None:
    register(host, api)
    conn = host.connections.create(principal="ada", pack=host.pack("authed").manifest,
                                   name="c", secret={"token": TOKEN})
    for path in ("/header-value", "/header-name", "/reason", "/body/exact", "/body/percent"):
        host.call("authed", "Get", url(api, path), connection=conn.id, principal="ada")
    assert {"httpcore.http11", "corral.pack.authed"} <= every_record.names
    logged = "\n".join(every_record.texts)
    assert_no_token(logged, "the log")
    # httpcore logged the reflected response headers: the record was cut, not absent.
    assert any(REDACTED in text for text in every_record.texts
               if text.startswith("httpcore.http11"))
    for file in host.settings.data_dir.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            assert TOKEN.encode() not in data and b"SEKRIT" not in data, file


def test_the_http_service_problem_document_carries_no_token(
        host: Host, api: ReflectingServer, every_record: EveryRecord) -> None:
    register(host, api)
    store = ApiKeyStore(host.settings.data_dir / "api-keys.json")
    key = store.create("ada")[1]
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(host, host.settings), raise_server_exceptions=False) as client:
        created = client.post("/v1/connections", headers=headers,
                              json={"pack": "authed", "name": "c", "secret": {"token": TOKEN}})
        assert created.status_code == 201, created.text
        conn = created.json()["id"]
        answers: list[Any] = []
        for path in ("/redirect-loop", "/bad-header", "/bad-status", "/redirect-away"):
            answer = client.post("/v1/packs/authed/formulas/Get", headers=headers,
                                 json={"args": [url(api, path)], "connection": conn})
            assert answer.status_code == 502, answer.text
            assert answer.json()["type"].startswith("urn:corral:problem:")
            answers.append(answer.text)
        echoed = client.post("/v1/packs/authed/formulas/Get", headers=headers,
                             json={"args": [url(api, "/body/json-slash")], "connection": conn})
        assert echoed.status_code == 200
        answers.append(echoed.text)
        metrics = client.get("/metrics", headers=headers).text
    for text in answers:
        assert_no_token(json.loads(json.dumps(text)), "a service answer")
        assert_no_token(json.loads(text).__repr__(), "a service answer, decoded")
    assert_no_token(metrics, "/metrics")
    assert_no_token("\n".join(every_record.texts), "the service's log")
