"""One conformance pack, written once per SDK language, held to the same assertions.

tests/conformance/<language>/ each hold the same pack.toml (only ``[pack].build`` differs,
which the first test checks) and a source file implementing it with that language's SDK.
Every test below runs against all three builds, each on both call paths (``native``,
``public``): a difference between SDKs, or between paths, fails here. Fetches go through a
real host (policy, pinned transport) to a fixture server on 127.0.0.1.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import threading
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import wasmtime

import corral
from corral import (FetchDenied, GuestError, GuestTrap, MissingScopes, NotFoundError, Sandbox,
                    build_pack, load_manifest_file)
from corral.testing import FixtureRequest, FixtureServer, PackHarness, Reply

CONFORMANCE = Path(__file__).resolve().parent / "conformance"
LANGUAGES = ("zig", "c", "assemblyscript")
BINARY = bytes(range(256))
JSON_BODY = {"hello": "wörld", "n": [1, 2.5, None, True]}

#: Every MessagePack type, in the encodings that matter (fix, 8, 16, 32, 64 bits).
ROUND_TRIP: list[Any] = [
    None, True, False,
    0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1,
    -1, -32, -33, -128, -129, -32768, -32769, -2**31, -2**31 - 1, -2**63,
    0.0, 1.5, -0.25, 1e300, -2.5e-300, math.inf,
    "", "a", "héllo wörld", "日本語のテキスト", "emoji 🎉🦀", "x" * 31, "y" * 32, "z" * 300,
    "w" * 70_000,
    b"", b"\x00\xff\x80", bytes(300), bytes(70_000),
    [], [1, "two", 3.0, None, False], list(range(20)), list(range(70_000)),
    {}, {"a": 1}, {f"k{i}": i for i in range(20)},
    {"nested": {"deeper": [{"deepest": [[], {}, [None]]}]}, "unicode ключ": "значение"},
]

EXPECTED_BUILD = {
    "nil": None, "yes": True, "no": False, "small": 7, "negative": -33, "int32": -70000,
    "big": 2**40, "min64": -2**63, "max_u64": 2**64 - 1, "float": 3.25,
    "text": "naïve ☃ 日本", "empty": "", "bytes": b"\x00\x01\xfe\xff",
    "list": [1, "two", 3.5, None], "nested": {"deep": {"deeper": [[], {}]}},
}


@pytest.fixture(scope="module", params=LANGUAGES)
def wasm_path(request: pytest.FixtureRequest) -> Path:
    return build_pack(CONFORMANCE / str(request.param)).path


@pytest.fixture(scope="session")
def sandbox(path_sandbox: Sandbox) -> Sandbox:
    return path_sandbox


@pytest.fixture(scope="module")
def pack(wasm_path: Path, sandbox: Sandbox) -> corral.Pack:
    return corral.load_pack(wasm_path, sandbox=sandbox)


def _echo_reply(request: FixtureRequest) -> Reply:
    return Reply(json={"content_type": request.headers.get("content-type"),
                       "method": request.method, "received": request.json})


#: The Date the fixture server sends while a test fixes its clock, and the same instant plus
#: 120 s in each of the three HTTP-date forms (RFC 9110 §5.6.7).
FIXED_DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
LATER = {"imf": "Sun, 06 Nov 1994 08:51:37 GMT", "rfc850": "Sunday, 06-Nov-94 08:51:37 GMT",
         "asctime": "Sun Nov  6 08:51:37 1994"}


def _failing_first(times: int) -> Callable[[FixtureRequest], Reply]:
    """503 + ``Retry-After: 0`` for the first ``times`` requests of each path, then 200."""
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def reply(request: FixtureRequest) -> Reply:
        with lock:
            seen[request.path] = count = seen.get(request.path, 0) + 1
        if count <= times:
            return Reply(status=503, json={"message": "busy"}, headers={"Retry-After": "0"})
        return Reply(json={"message": "fine"})

    return reply


def _unavailable_until(request: FixtureRequest) -> Reply:
    return Reply(status=503, json={"message": "down for maintenance"},
                 headers={"Retry-After": LATER[request.path.split("/")[2]]})


@pytest.fixture(scope="module")
def api() -> Iterator[FixtureServer]:
    with FixtureServer() as server:
        server.route("GET", "/json", json=JSON_BODY, headers={"X-Served-By": "fixture"})
        server.route("POST", "/echo", _echo_reply)
        server.route("GET", "/bytes", body=BINARY,
                     headers={"Content-Type": "application/octet-stream"})
        server.route("GET", "/missing", status=404, json={"message": "nothing here"})
        server.route("GET", "/flaky/{id}", _failing_first(2))
        server.route("GET", "/limited/{id}", status=429, json={"message": "slow down"},
                     headers={"Retry-After": "3600"})
        server.route("GET", "/broken/{id}", status=500, json={"message": "oops"},
                     headers={"Retry-After": "0"})
        server.route("GET", "/until/{form}/{id}", _unavailable_until)
        yield server


@pytest.fixture(scope="module")
def harness(wasm_path: Path, api: FixtureServer, call_path: str) -> Iterator[PackHarness]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CORRAL_CALL_PATH", call_path)  # read once, as the harness's host starts
        running = PackHarness(wasm_path, server=api)
    with running:
        assert running.host.sandbox.call_path == call_path
        yield running


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same Python types all the way down (True is not 1, 1.0 is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return bool(a == b)


# -- the pack set itself ------------------------------------------------------------------


def test_the_three_manifests_are_the_same_but_for_the_build() -> None:
    manifests = {}
    for language in LANGUAGES:
        manifest = load_manifest_file(CONFORMANCE / language / "pack.toml")
        assert manifest.build["language"] == language
        # The embedded form (what a built pack carries) leaves the build settings out.
        manifests[language] = json.loads(manifest.to_json())
    assert manifests["c"] == manifests["zig"]
    assert manifests["assemblyscript"] == manifests["zig"]


def test_the_module_imports_only_corral_fetch_log_and_blob(wasm_path: Path) -> None:
    module = wasmtime.Module.from_file(wasmtime.Engine(), str(wasm_path))
    imports = {(i.module, i.name) for i in module.imports}
    assert imports <= {("corral", "fetch"), ("corral", "log"), ("corral", "blob")}, imports
    exports = {e.name for e in module.exports}
    assert {"memory", "corral_alloc", "corral_call", "corral_abi_v1"} <= exports


# -- values -------------------------------------------------------------------------------


def test_every_messagepack_type_round_trips(pack: corral.Pack) -> None:
    for value in ROUND_TRIP:
        result = pack.invoke("formula", "Echo", [value])
        assert same(result, value), f"{value!r:.80} came back as {result!r:.80}"


def test_values_built_with_the_sdk_helpers(pack: corral.Pack) -> None:
    built = pack.call("Build")
    assert same(built, EXPECTED_BUILD), built


# -- errors -------------------------------------------------------------------------------


def test_a_user_error_carries_the_packs_message(pack: corral.Pack) -> None:
    with pytest.raises(GuestError) as info:
        pack.call("Fail", "the sky is falling ☂")
    assert info.value.message == "conformance.Fail: the sky is falling ☂"
    assert info.value.guest_kind == "user"
    assert info.value.formula == "Fail"


def test_an_argument_of_the_wrong_type_is_a_guest_error_naming_it(pack: corral.Pack) -> None:
    with pytest.raises(GuestError, match="argument 1"):
        pack.invoke("formula", "Fail", [123])


def test_unknown_names_and_ops_are_not_found(pack: corral.Pack) -> None:
    with pytest.raises(NotFoundError, match="Nope"):
        pack.invoke("formula", "Nope", [])
    with pytest.raises(NotFoundError):
        pack.invoke("no_such_op", "Echo", [])
    with pytest.raises(NotFoundError):
        pack.invoke("sync", "Echo", [])


def test_a_crash_is_a_trap_and_the_pack_keeps_working(pack: corral.Pack) -> None:
    with pytest.raises(GuestTrap) as info:
        pack.call("Crash")
    assert info.value.formula == "Crash"
    assert pack.call("Bump", 1) == 2, "the next call gets a fresh instance"


# -- logs and actions ---------------------------------------------------------------------


def test_logs_arrive_at_their_levels(pack: corral.Pack, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="corral.pack.conformance"):
        assert pack.call("Log", "ping ✓") == 4
    seen = [(r.levelno, r.getMessage()) for r in caplog.records
            if r.name == "corral.pack.conformance"]
    assert seen == [(logging.DEBUG, "debug: ping ✓"), (logging.INFO, "info: ping ✓"),
                    (logging.WARNING, "warn: ping ✓"), (logging.ERROR, "error: ping ✓")]


def test_an_action_runs_as_the_action_op(pack: corral.Pack) -> None:
    assert pack.manifest.formula("Bump").is_action
    assert pack.call("Bump", 41) == 42
    assert pack.call("Bump", -2**40) == -2**40 + 1


# -- fetch through the host ---------------------------------------------------------------


def test_fetch_json_with_a_header(harness: PackHarness, api: FixtureServer) -> None:
    before = api.hits("GET", "/json")
    result = harness.call("FetchJson", "https://conformance.test/json")
    assert result == {"status": 200, "served_by": "fixture", "json": JSON_BODY}
    assert api.hits("GET", "/json") == before + 1
    assert api.requests[-1].headers["x-conformance"] == "yes"


def test_fetch_posts_a_json_body(harness: PackHarness) -> None:
    payload = {"list": [1, "ü", None, True], "n": -7, "nested": {"x": 1.5}}
    result = harness.call("PostJson", "https://conformance.test/echo", payload)
    assert result == {"content_type": "application/json", "method": "POST", "received": payload}


def test_fetch_binary_body(harness: PackHarness) -> None:
    assert harness.call("FetchBytes", "https://conformance.test/bytes") == BINARY


def test_an_http_error_status_is_a_response(harness: PackHarness) -> None:
    assert harness.call("FetchStatus", "https://conformance.test/missing") == 404


def test_a_refused_fetch_reaches_the_caller_with_its_rule(harness: PackHarness,
                                                          api: FixtureServer) -> None:
    before = len(api.requests)
    with pytest.raises(FetchDenied) as info:
        harness.call("FetchStatus", "https://elsewhere.test/json")
    assert info.value.rule == "undeclared_domain"
    assert len(api.requests) == before, "a refused request must never leave the host"


def test_a_pack_may_handle_a_failed_fetch_itself(harness: PackHarness) -> None:
    assert harness.call("FetchOrFallback", "https://elsewhere.test/x") == "fallback: denied"
    assert harness.call("FetchOrFallback", "https://conformance.test/json") == "status 200"


# -- upstream errors the pack reports -----------------------------------------------------


def fresh(path: str) -> str:
    """A path of its own for one test run (the fixture server is shared by every run)."""
    return f"{path}/{uuid.uuid4().hex}"


def test_an_upstream_503_is_retried_until_it_succeeds(harness: PackHarness,
                                                       api: FixtureServer) -> None:
    path = fresh("/flaky")
    assert harness.call("FetchOrFailUpstream", f"https://conformance.test{path}") == 200
    assert api.hits("GET", path) == 3


def test_a_retry_after_past_the_deadline_ends_the_retries_at_once(harness: PackHarness,
                                                                   api: FixtureServer) -> None:
    path = fresh("/limited")
    with pytest.raises(GuestError) as info:
        harness.call("FetchOrFailUpstream", f"https://conformance.test{path}")
    assert api.hits("GET", path) == 1
    assert (info.value.status, info.value.retry_after_s) == (429, 3600.0)
    assert info.value.message == "conformance.FetchOrFailUpstream: the upstream answered 429"


def test_an_upstream_500_is_not_retried(harness: PackHarness, api: FixtureServer) -> None:
    path = fresh("/broken")
    with pytest.raises(GuestError) as info:
        harness.call("FetchOrFailUpstream", f"https://conformance.test{path}")
    assert api.hits("GET", path) == 1
    assert (info.value.status, info.value.retry_after_s) == (500, 0.0)


@pytest.mark.parametrize("form", sorted(LATER))
def test_a_retry_after_date_counts_from_the_responses_date(
        harness: PackHarness, api: FixtureServer, form: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A guest has no clock: the SDK takes an HTTP-date relative to the response's Date.
    monkeypatch.setattr(BaseHTTPRequestHandler, "date_time_string",
                        lambda self, timestamp=None: FIXED_DATE)
    path = fresh(f"/until/{form}")
    with pytest.raises(GuestError) as info:
        harness.call("FetchOrFailUpstream", f"https://conformance.test{path}")
    assert (info.value.status, info.value.retry_after_s) == (503, 120.0)
    assert api.hits("GET", path) == 1, "120 s is past the harness's 30 s deadline"


def test_the_upstream_helper_reports_what_it_is_given(pack: corral.Pack) -> None:
    with pytest.raises(GuestError) as info:
        pack.call("FailUpstream", 504, 1.5)
    assert (info.value.status, info.value.retry_after_s) == (504, 1.5)
    assert info.value.details["status"] == 504 and info.value.guest_kind == "user"
    with pytest.raises(GuestError) as info:
        pack.call("FailUpstream", 404, -1)
    assert (info.value.status, info.value.retry_after_s) == (404, None)
    assert info.value.message == "conformance.FailUpstream: upstream status 404"


def test_missing_scopes_tell_the_caller_to_reconnect(harness: PackHarness) -> None:
    with pytest.raises(MissingScopes) as info:
        harness.call("NeedScopes", ["repo", "read:org"])
    assert info.value.scopes == ("repo", "read:org")
    assert info.value.kind == "missing_scopes" and info.value.formula == "NeedScopes"
    assert info.value.message == ("conformance.NeedScopes: the connection may not do this; "
                                  "reconnect granting the scopes: repo read:org")


# -- sync tables --------------------------------------------------------------------------


def test_sync_pages_follow_the_continuation(pack: corral.Pack) -> None:
    first = pack.invoke("sync", "Items", [5])
    assert first == {"rows": [{"id": 0, "name": "item 0"}, {"id": 1, "name": "item 1"}],
                     "continuation": {"offset": 2}}
    second = pack.invoke("sync", "Items", [5], extra={"continuation": first["continuation"]})
    assert [r["id"] for r in second["rows"]] == [2, 3]
    last = pack.invoke("sync", "Items", [5], extra={"continuation": {"offset": 4}})
    assert last == {"rows": [{"id": 4, "name": "item 4"}], "continuation": None}


def test_a_whole_sync_through_the_host(harness: PackHarness) -> None:
    rows = harness.sync("Items", 7)
    assert rows == [{"id": i, "name": f"item {i}"} for i in range(7)]


def test_sync_update_answers_each_row(harness: PackHarness) -> None:
    results = harness.sync_update("Items", [
        {"previous": {"id": 1, "name": "a"}, "new": {"id": 1, "name": "b"}},
        {"previous": {"id": 2, "name": "x"}, "new": {"id": 2, "name": ""}},
    ])
    assert [r.to_dict() for r in results] == [{"ok": {"id": 1, "name": "b!"}},
                                              {"err": "name must not be empty"}]


# -- autocomplete, dynamic tables, connection names ---------------------------------------


def test_autocomplete(harness: PackHarness) -> None:
    assert harness.autocomplete("Pick", "fruit", "B") == [
        {"display": "Banana", "value": "banana"}, {"display": "Blueberry", "value": "blueberry"}]
    assert len(harness.autocomplete("Pick", "fruit", "")) == 4
    assert harness.autocomplete("Pick", "fruit", "zz") == []


def test_dynamic_urls_schema_and_sync(harness: PackHarness) -> None:
    assert harness.dynamic_urls("Dyn") == [{"display": "Alpha", "url": "dyn://alpha"},
                                           {"display": "Beta", "url": "dyn://beta"}]
    schema = harness.dynamic_schema("Dyn", "dyn://beta")
    assert schema.description == "dyn://beta"
    assert schema.id_property == "id"
    assert harness.sync("Dyn", dynamic_url="dyn://alpha") == [{"id": "one"}]


def test_connection_name(pack: corral.Pack) -> None:
    assert pack.invoke("connection_name", "", ctx={"connection": {"id": "c-42"}}) == \
        "Conformance for c-42"
    assert pack.invoke("connection_name", "") == "Conformance"


# -- parameter types (issue 16) -----------------------------------------------------------

#: Per scalar type: what a caller sends and what the guest reads and returns.
SCALAR_ECHOES: list[tuple[str, Any, Any]] = [
    ("EchoString", 42, "42"),
    ("EchoString", "naïve ☃", "naïve ☃"),
    ("EchoNumber", "2.5", 2.5),
    ("EchoNumber", -0.25, -0.25),
    ("EchoInteger", "-7", -7),
    ("EchoBoolean", "TRUE", True),
    ("EchoHtml", "<p>Hi &amp; bye</p>", "<p>Hi &amp; bye</p>"),
    ("EchoMarkdown", "**bold** _it_", "**bold** _it_"),
    ("EchoImage", " https://img.example.com/logo.png ", "https://img.example.com/logo.png"),
    ("EchoFile", "http://files.example.com/r.pdf?v=2", "http://files.example.com/r.pdf?v=2"),
    ("EchoEmail", "Ada.Lovelace@Example.COM", "Ada.Lovelace@example.com"),
]

#: A date in a form a caller sends -> the parts the SDK read (y, m, d, h, min, s, ms).
DATES: list[tuple[Any, list[int]]] = [
    ("2026-12-02", [2026, 12, 2, 0, 0, 0, 0]),
    ("2026-12-02T10:00:00Z", [2026, 12, 2, 10, 0, 0, 0]),
    ("2026-12-02 10:00:05.5+01:00", [2026, 12, 2, 9, 0, 5, 500]),
    ("Wed, 02 Dec 2026 10:00:00 GMT", [2026, 12, 2, 10, 0, 0, 0]),
    (1796205600.125, [2026, 12, 2, 10, 0, 0, 125]),
    ("2024-02-29T23:59:59.999-00:30", [2024, 3, 1, 0, 29, 59, 999]),
    ("1969-12-31T23:59:59.999Z", [1969, 12, 31, 23, 59, 59, 999]),
    ("0001-01-01", [1, 1, 1, 0, 0, 0, 0]),
]


def _iso(parts: list[int]) -> str:
    y, m, d, hh, mm, ss, ms = parts
    return f"{y:04d}-{m:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}.{ms:03d}Z"


def _epoch_ms(parts: list[int]) -> int:
    y, m, d, hh, mm, ss, ms = parts
    moment = datetime.datetime(y, m, d, hh, mm, ss, ms * 1000, tzinfo=datetime.timezone.utc)
    return (moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // \
        datetime.timedelta(milliseconds=1)


def test_every_scalar_parameter_type_reaches_the_guest_coerced(pack: corral.Pack) -> None:
    for formula, sent, received in SCALAR_ECHOES:
        got = pack.call(formula, sent)
        assert same(got, received), f"{formula}({sent!r}) returned {got!r}"
    assert pack.call("EchoEmail") == "nobody@example.com", "the declared default"


def test_the_sdk_reads_a_date_in_the_canonical_form(pack: corral.Pack) -> None:
    for sent, parts in DATES:
        got = pack.call("EchoDate", sent)
        assert got == {"iso": _iso(parts), "epoch_ms": _epoch_ms(parts), "parts": parts}, sent
    assert pack.manifest.formula("EchoDate").params[0].suggested == "2026-12-02T00:00:00.000Z"


LISTS = ("strings", "numbers", "integers", "booleans", "dates", "htmls", "markdowns",
         "images", "files", "emails")
SENT_LISTS: dict[str, list[Any]] = {
    "strings": ["a", 1, True], "numbers": [1.5, "2.5", -3.0], "integers": [1, "2", -3],
    "booleans": [True, "false"], "dates": ["2026-12-02", 0],
    "htmls": ["<b>x</b>"], "markdowns": ["# h", "*i*"],
    "images": ["https://img.example.com/a.png"], "files": ["https://f.example.com/a.csv"],
    "emails": ["a@example.com", "B@Example.org"],
}
READ_LISTS: dict[str, list[Any]] = {
    "strings": ["a", "1", "true"], "numbers": [1.5, 2.5, -3.0], "integers": [1, 2, -3],
    "booleans": [True, False], "dates": ["2026-12-02T00:00:00.000Z", "1970-01-01T00:00:00.000Z"],
    "htmls": ["<b>x</b>"], "markdowns": ["# h", "*i*"],
    "images": ["https://img.example.com/a.png"], "files": ["https://f.example.com/a.csv"],
    "emails": ["a@example.com", "B@example.org"],
}


def test_plain_arrays_of_every_type(pack: corral.Pack) -> None:
    got = pack.call("EchoArrays", *(SENT_LISTS[name] for name in LISTS))
    assert same(got, READ_LISTS), got
    empty = pack.call("EchoArrays", *([] for _ in LISTS))
    assert empty == {name: [] for name in LISTS}


def test_a_plain_array_refuses_a_null_before_the_guest_runs(pack: corral.Pack) -> None:
    lists = [list(SENT_LISTS[name]) for name in LISTS]
    lists[4] = ["2026-12-02", None]
    with pytest.raises(corral.ArgumentError, match=r"parameter 'dates' expects array of date: "
                                                   r"item 1 is null"):
        pack.call("EchoArrays", *lists)


def test_sparse_arrays_of_every_type_keep_their_nulls(pack: corral.Pack) -> None:
    sent = {name: [None, *SENT_LISTS[name][:1], None] for name in LISTS}
    got = pack.call("EchoSparse", *(sent[name] for name in LISTS))
    assert same(got, {name: [None, *READ_LISTS[name][:1], None] for name in LISTS}), got
    all_null = pack.call("EchoSparse", *([None] for _ in LISTS))
    assert all_null == {name: [None] for name in LISTS}


@pytest.mark.parametrize("text", ["2026-12-02", "2026-02-30T00:00:00.000Z",
                                  "2026-12-02T24:00:00.000Z", "2026-12-02T10:00:00.000+01:00",
                                  "2026-12-02T10:00:00Z"])
def test_the_sdk_refuses_a_date_not_in_the_canonical_form(pack: corral.Pack, text: str) -> None:
    # `invoke` skips the host's coercion, so the guest sees the text as it is.
    with pytest.raises(GuestError, match="argument 1"):
        pack.invoke("formula", "EchoDate", [text])
    assert pack.invoke("formula", "EchoDate", ["2026-12-02T10:00:00.000Z"])["parts"] == [
        2026, 12, 2, 10, 0, 0, 0]


# -- value hints (issue 16 item 2): every hint checked and normalised, in every SDK ---------

#: What `Hints` returns once the host has normalised it: loose forms made canonical, the rest
#: as the guest wrote them (a float 4.0 on a scale becomes the integer 4).
EXPECTED_HINTS: dict[str, Any] = {
    "date": "2024-03-03", "time": "17:24:00", "datetime": "2024-03-03T17:24:00Z",
    "epoch": 1709486640, "duration": "PT1H30M", "days": 1.5, "email": "Ann@example.com",
    "person": {"email": "Bo@example.com", "name": "Bo"}, "percent": 0.25, "currency": 9.5,
    "image": "https://conformance.test/cat.png",
    "image_attachment": "data:image/png;base64,iVBORw0KGgo=",
    "url": "https://conformance.test/a?b=c", "markdown": "**bold**", "html": "<b>bold</b>",
    "embed": "https://conformance.test/video", "reference": {"id": 1, "name": "item 1"},
    "attachment": "https://conformance.test/report.pdf", "slider": 7.5, "scale": 4,
    "progress_bar": 0.4, "toggle": True, "rich_text": "plain", "select_list": "green",
    "code": "print(1)", "phone": "+1 (555) 010-9999",
}


def _hints_in(schema: corral.Schema) -> set[str]:
    found = {schema.hint} if schema.hint else set()
    for _, child in schema.properties:
        found |= _hints_in(child)
    return found


def test_the_hints_formula_carries_every_hint() -> None:
    from corral._pack.hint_options import HINT_SPECS
    result = load_manifest_file(CONFORMANCE / "zig" / "pack.toml").formula("Hints").result
    assert _hints_in(result) == set(HINT_SPECS)
    assert len(HINT_SPECS) == 24  # Coda's 22 and Corral's code and phone


def test_every_hint_comes_back_canonical_through_the_pack_api(pack: corral.Pack) -> None:
    assert same(pack.call("Hints"), EXPECTED_HINTS)


def test_every_hint_comes_back_canonical_through_the_host(harness: PackHarness) -> None:
    assert same(harness.call("Hints"), EXPECTED_HINTS)
    assert harness.call("HintEcho", {"when": "Sun, 03 Mar 2024 17:24:00 GMT"}) == {
        "when": "2024-03-03T17:24:00Z"}


def test_a_result_that_breaks_its_hint_is_bad_output_naming_the_path(
        harness: PackHarness, pack: corral.Pack) -> None:
    pattern = r"result\.when: hint datetime: 'definitely not a date' is not a date-time"
    with pytest.raises(corral.BadOutput, match=pattern) as caught:
        harness.call("HintEcho", {"when": "definitely not a date"})
    assert caught.value.kind == "bad_output" and caught.value.details["path"] == "result.when"
    with pytest.raises(corral.BadOutput, match=pattern):
        pack.call("HintEcho", {"when": "definitely not a date"})


# -- formula metadata: examples, validate_parameters, a formula's own timeout_ms ----------


def test_the_examples_ride_in_the_built_pack_and_pass(wasm_path: Path, pack: corral.Pack) -> None:
    from corral import Example
    from corral.testing import run_examples

    assert pack.manifest.formula("Double").examples == (Example((2,), 4), Example((-1.5,), -3))
    outcomes = run_examples(wasm_path)
    assert [(o.formula, o.index, o.verdict) for o in outcomes] == [
        ("Double", 0, "pass"), ("Double", 1, "pass"), ("Span", 0, "pass"),
        ("Countdown", 0, "pass")]
    assert same(outcomes[1].actual, -3.0)


def test_validate_parameters_judges_every_call_before_the_formula(harness: PackHarness) -> None:
    from corral import InvalidParameters

    assert harness.call("Span", 2, 5) == 3
    assert harness.call("Span", 2, 5) == 3  # Span caches its results; valid arguments only
    for _ in range(2):  # a verdict is never cached: the same invalid call is refused again
        with pytest.raises(InvalidParameters) as info:
            harness.call("Span", 5, 1)
        assert info.value.details["parameters"] == ["high"]
        assert info.value.message == ("conformance.Span: invalid arguments: the range is not "
                                      "valid; high: must be at least low")
    with pytest.raises(InvalidParameters) as both:
        harness.call("Span", -1, -3)
    assert both.value.details["field_errors"] == [
        {"parameter": "low", "message": "must not be negative"},
        {"parameter": "high", "message": "must be at least low"}]
    assert harness.call("Span", 0, 4) == 4


def test_a_failing_validation_is_reported_as_the_guests_error(harness: PackHarness) -> None:
    with pytest.raises(GuestError) as info:
        harness.call("Span", 13, 20)
    assert info.value.message == ("conformance.Span: validate_parameters failed: the validation "
                                  "of 13 fails on purpose")
    assert info.value.guest_kind == "user"


def test_a_formulas_own_timeout_ends_its_endless_loop(pack: corral.Pack,
                                                       harness: PackHarness) -> None:
    from corral import DeadlineExceeded

    assert pack.manifest.formula("Endless").timeout_ms == 200
    assert pack.manifest.limits.timeout_ms == 5000
    with pytest.raises(DeadlineExceeded) as info:
        pack.call("Endless")
    assert info.value.details["limit"] == "timeout_ms" and info.value.details["limit_value"] == 200
    assert "(200 ms limit)" in info.value.message
    with pytest.raises(DeadlineExceeded):
        harness.call("Endless")  # the host's call path (scheduler, Calls) applies it too
    # The same loop, ending on its own, runs under the pack's 5 s deadline.
    assert pack.call("Countdown", 2000) == 2000
    assert harness.call("Countdown", 2000) == 2000

# -- the execution context: time zone, invocation location, temporary blobs --------------

BLOB_CAP = 64
BLOB_QUOTA = 150
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


class MovableClock:
    """The host's wall clock, moved by the test (no sleeps)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def blob_api() -> Iterator[FixtureServer]:
    with FixtureServer() as server:
        server.route("GET", "/pic", body=PNG, headers={"Content-Type": "image/png"})
        server.route("GET", "/big", body=b"x" * (BLOB_CAP + 1),
                     headers={"Content-Type": "text/plain"})
        server.route("GET", "/gone", status=404, json={"message": "no"})
        yield server


@pytest.fixture(scope="module")
def context_host(wasm_path: Path, blob_api: FixtureServer,
                 call_path: str) -> Iterator[tuple[PackHarness, MovableClock, Any]]:
    from fastapi.testclient import TestClient

    clock = MovableClock()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CORRAL_CALL_PATH", call_path)
        running = PackHarness(wasm_path, server=blob_api, clock=clock, settings={
            "blob_max_bytes": BLOB_CAP, "blob_quota_bytes_per_principal": BLOB_QUOTA,
            "public_url": "https://corral.example.net", "default_timezone": "Pacific/Auckland"})
    with running, TestClient(corral.create_app(running.host)) as client:
        yield running, clock, client


def _path_of(url: str) -> str:
    assert url.startswith("https://corral.example.net/v1/blobs/"), url
    return url[len("https://corral.example.net"):]


def test_the_timezone_is_the_callers_or_the_hosts_default(context_host: Any) -> None:
    harness, _, _ = context_host
    assert harness.call("CtxTimezone") == "Pacific/Auckland"
    assert harness.call("CtxTimezone", timezone="Europe/Paris") == "Europe/Paris"
    with pytest.raises(corral.ArgumentError) as info:
        harness.call("CtxTimezone", timezone="Mars/Olympus_Mons")
    assert info.value.details["field"] == "timezone"


def test_two_timezones_do_not_share_a_cached_result(context_host: Any) -> None:
    harness, _, _ = context_host
    hits = harness.host.result_cache.stats().hits
    assert harness.call("CtxTimezone", timezone="Asia/Tokyo") == "Asia/Tokyo"
    assert harness.call("CtxTimezone", timezone="America/Lima") == "America/Lima"
    assert harness.call("CtxTimezone", timezone="Asia/Tokyo") == "Asia/Tokyo"
    assert harness.host.result_cache.stats().hits == hits + 1  # only the repeat was cached


def test_the_invocation_location_names_the_host_and_the_document(context_host: Any) -> None:
    harness, _, _ = context_host
    assert harness.call("CtxLocation", doc_id="doc-42") == {
        "protocol_and_host": "https://corral.example.net", "doc_id": "doc-42"}
    assert harness.call("CtxLocation") == {"protocol_and_host": "https://corral.example.net",
                                           "doc_id": None}


def test_a_stored_blob_is_served_over_http_until_it_expires(context_host: Any) -> None:
    harness, clock, client = context_host
    stored = harness.call("CtxStoreBlob", "<script>alert(document.cookie)</script>", "text/html")
    path = _path_of(stored["url"])
    response = client.get(path)  # no API key: the URL is the capability
    assert response.status_code == 200
    assert response.content == b"<script>alert(document.cookie)</script>"
    assert response.headers["content-type"].startswith("text/html")
    # An html blob cannot script the host's origin: never sniffed, downloaded, sandboxed.
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == "attachment"
    assert response.headers["content-security-policy"].startswith("sandbox")
    assert "script-src" not in response.headers["content-security-policy"]
    assert stored["expires_at"].endswith("Z")
    clock.now += harness.host.settings.blob_ttl_s + 1
    expired = client.get(path)
    assert expired.status_code == 410
    assert expired.json()["kind"] == "blob_expired"
    assert client.get(path).status_code == 404  # and then purged for good


def test_a_blob_from_a_declared_url_keeps_its_content_type(context_host: Any) -> None:
    harness, _, client = context_host
    stored = harness.call("CtxStoreUrl", "https://conformance.test/pic")
    response = client.get(_path_of(stored["url"]))
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == "inline"  # a raster image may show


def test_store_url_is_held_to_the_fetch_policy(context_host: Any) -> None:
    harness, _, _ = context_host
    with pytest.raises(FetchDenied) as undeclared:
        harness.call("CtxStoreUrl", "https://elsewhere.test/pic")
    assert undeclared.value.rule == "undeclared_domain"
    with pytest.raises(FetchDenied) as loopback:
        harness.call("CtxStoreUrl", "https://127.0.0.1/pic")
    assert loopback.value.rule == "ip_literal"
    with pytest.raises(corral.BlobError) as missing:
        harness.call("CtxStoreUrl", "https://conformance.test/gone")
    assert missing.value.details["status"] == 404


def test_a_blob_over_the_cap_is_refused(context_host: Any) -> None:
    harness, _, _ = context_host
    with pytest.raises(corral.BlobTooLarge, match="blob_max_bytes"):
        harness.call("CtxStoreBlob", "y" * (BLOB_CAP + 1), "text/plain")
    with pytest.raises(corral.BlobTooLarge):
        harness.call("CtxStoreUrl", "https://conformance.test/big")


def test_a_callers_blobs_are_held_to_its_quota(context_host: Any) -> None:
    harness, clock, _ = context_host
    clock.now += harness.host.settings.blob_ttl_s + 1  # earlier tests' blobs expire
    for _ in range(BLOB_QUOTA // BLOB_CAP):
        harness.call("CtxStoreBlob", "z" * BLOB_CAP, "text/plain")
    with pytest.raises(corral.BlobQuotaExceeded):
        harness.call("CtxStoreBlob", "z" * BLOB_CAP, "text/plain")
    clock.now += harness.host.settings.blob_ttl_s + 1  # expired blobs free the quota
    assert harness.call("CtxStoreBlob", "z", "text/plain")["url"]


def test_a_bad_content_type_is_the_packs_bad_request(context_host: Any) -> None:
    harness, _, _ = context_host
    with pytest.raises(corral.BlobError) as info:
        harness.call("CtxStoreBlob", "x", "text/html\r\nSet-Cookie: a=b")
    assert info.value.rule == "bad_request"


def test_a_pack_called_without_a_host_sees_the_default_context(pack: corral.Pack) -> None:
    assert pack.call("CtxTimezone") == "UTC"
    assert pack.call("CtxLocation") == {"protocol_and_host": "", "doc_id": None}
    with pytest.raises(corral.BlobError) as info:  # no host, so no blob store
        pack.call("CtxStoreBlob", "x", "text/plain")
    assert info.value.rule == "no_store"
