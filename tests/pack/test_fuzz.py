"""Property-based fuzzing of the parsers that read untrusted input.

Manifests (as dicts and as TOML), guest replies (random bytes and random MessagePack),
formula text and fetch URLs: whatever comes in, each parser either succeeds or raises
its documented CorralError subclass; nothing else may escape.
"""

from __future__ import annotations

import string
import tempfile
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import corral
from corral import (BadOutput, CheckedURL, FetchConfig, FetchError, FormulaSyntaxError,
                    ManifestError, check_url, parse_formula)
from corral._pack.abi import GuestReply, parse_reply

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# -- manifests ----------------------------------------------------------------------------

MANIFEST_WORDS = [
    "pack", "name", "version", "description", "network_domains", "wasi", "build", "auth",
    "kind", "domains", "limits", "fuel", "memory_mb", "memory_bytes", "timeout_ms",
    "max_fetches", "formulas", "actions", "sync_tables", "params", "type", "items", "optional",
    "default", "vararg", "result", "result_type", "connection", "cache_ttl_s", "idempotent",
    "schema", "properties", "id_property", "display_property", "featured", "required", "hint",
    "nullable", "mutable", "token_url", "authorize_url", "header", "prefix", "Greet", "string",
    "object", "array", "integer", "1.0.0", "example.com", "bearer", "oauth2_code",
]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True), st.sampled_from(MANIFEST_WORDS), st.text(max_size=20),
    st.binary(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(MANIFEST_WORDS), st.text(max_size=8)),
                        inner, max_size=5)),
    max_leaves=25)
object_schemas = st.fixed_dictionaries(
    {"type": st.sampled_from(["object", "array", "string"]),
     "properties": st.dictionaries(st.sampled_from(["a", "b"]), st.just({}), max_size=2)},
    optional={"featured": values, "required": values, "id_property": values,
              "display_property": values, "items": values, "hint": values})
formula_dicts = st.fixed_dictionaries(
    {"name": st.one_of(st.just("F"), scalars)},
    optional={"params": values, "result": st.one_of(object_schemas, values),
              "connection": values, "cache_ttl_s": values, "idempotent": values})
manifest_dicts = st.fixed_dictionaries(
    {"pack": st.one_of(values, st.fixed_dictionaries(
        {"name": st.one_of(st.sampled_from(["Greet", "p"]), scalars),
         "version": st.one_of(st.just("1.0.0"), scalars)},
        optional={"network_domains": values, "wasi": values, "build": values}))},
    optional={"formulas": st.lists(st.one_of(formula_dicts, st.dictionaries(
                  st.sampled_from(MANIFEST_WORDS), values, max_size=6)), max_size=3),
              "actions": values, "sync_tables": values, "auth": values, "limits": values})


@FUZZ
@given(st.one_of(manifest_dicts, values))
def test_parse_manifest_raises_only_manifest_errors(data: Any) -> None:
    try:
        manifest = corral.parse_manifest(data)
    except ManifestError:
        return
    assert manifest.formulas or manifest.sync_tables


@pytest.mark.parametrize("key, entry", [("featured", ["a"]), ("required", {"a": 1})])
def test_a_non_string_featured_or_required_entry_is_a_manifest_error(key: str,
                                                                      entry: Any) -> None:
    """Fuzzing found this once: the entry used to reach a set lookup and raise TypeError."""
    data = {"pack": {"name": "p", "version": "1.0.0"},
            "formulas": [{"name": "F", "result": {"type": "object", "properties": {"a": {}},
                                                  key: [entry]}}]}
    with pytest.raises(ManifestError) as info:
        corral.parse_manifest(data)
    assert info.value.field == f"formulas[0].result.{key}[0]"


TOML_LINES = [
    "[pack]", 'name = "fuzz"', 'version = "0.1.0"', "network_domains = [\"api.example.com\"]",
    "[[formulas]]", 'name = "Greet"', "params = [{ name = \"who\", type = \"string\" }]",
    "[limits]", "fuel = 0", "memory_mb = 100000", "timeout_ms = -1", "[auth]",
    'kind = "oauth2_code"', 'kind = "query"', "[formulas.result]", 'type = "object"',
    "properties.a = { type = \"integer\" }", 'display_property = "b"', "featured = [[1]]",
    "required = [{ a = 1 }]", "[[sync_tables]]", "[sync_tables.schema]", 'id_property = "a"',
    "default = 1979-05-27", "cache_ttl_s = inf", "cache_ttl_s = nan", "wasi = true",
]


@pytest.fixture(scope="module")
def toml_dir() -> Any:
    with tempfile.TemporaryDirectory(prefix="corral-fuzz-") as directory:
        yield Path(directory)


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(TOML_LINES), st.text(max_size=30)), max_size=14))
def test_manifest_files_raise_only_manifest_errors(toml_dir: Path, lines: list[str]) -> None:
    path = toml_dir / "pack.toml"
    try:
        path.write_text("\n".join(lines), encoding="utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot be written as UTF-8 at all
        return
    try:
        corral.load_manifest_file(path)
    except ManifestError:
        pass


# -- guest replies ------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=200))
def test_parse_reply_on_random_bytes_raises_only_bad_output(data: bytes) -> None:
    try:
        reply = parse_reply(data, pack="fuzz", formula="F")
    except BadOutput:
        return
    assert isinstance(reply, GuestReply)


packable = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**63, max_value=2**64 - 1),
              st.floats(), st.text(max_size=10), st.binary(max_size=10),
              st.sampled_from(["ok", "err", "kind", "message", "fetch_kind"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(["ok", "err", "kind", "message"]),
                                  st.integers(min_value=-2**63, max_value=2**63 - 1),
                                  st.binary(max_size=3)), inner, max_size=3)),
    max_leaves=12)


@FUZZ
@given(packable, st.binary(max_size=3))
def test_parse_reply_on_random_messagepack_raises_only_bad_output(value: Any,
                                                                  tail: bytes) -> None:
    data = msgpack.packb(value, use_bin_type=True) + tail
    try:
        reply = parse_reply(data, pack="fuzz", formula="F")
    except BadOutput:
        return
    assert isinstance(reply.error_kind, str) and isinstance(reply.message, str)


# -- formulas -----------------------------------------------------------------------------

FORMULA_PIECES = ["=", "(", ")", "[", "]", ",", ".", "+", "-", "*", "/", "^", "&", "<", "<=",
                  "<>", "!=", "==", "1", "2.5", ".5e3", "1e999", '"a"', '"\\u', "\\uD800",
                  '\\"', "\\", "true", "False", "If", "hello", ".Greet", "$$[pack:", "]::F",
                  "$$[packConnectionReference:c:p]", " ", "\n", "\t", "\x00", "é", "\ud800"]


@FUZZ
@given(st.one_of(st.text(max_size=80),
                 st.lists(st.sampled_from(FORMULA_PIECES), max_size=40).map("".join)))
def test_parse_formula_raises_only_syntax_errors(text: str) -> None:
    try:
        parse_formula(text)
    except FormulaSyntaxError as exc:
        assert exc.line >= 1 and exc.column >= 1


# -- URLs ---------------------------------------------------------------------------------

POLICY = FetchConfig(allow_http=True, host_map={"api.example.com": "127.0.0.1"})
DOMAINS = ("example.com", "api.example.com:8443", "xn--bcher-kva.example")
URL_PIECES = ["http://", "https://", "ftp://", "HTTP://", "//", "api.example.com", "example.com",
              "EXAMPLE.com.", "evil.com", "@", "%40", "\\", ":", ":443", ":8443", ":99999", ":0",
              "[", "]", "::1", "127.0.0.1", "0x7f.1", "1", "%2e", "/", "?", "#", "a=b", "\r\n",
              "\t", " ", "\x00", "é", "bücher", "xn--", "..", "."]


@FUZZ
@given(st.one_of(st.text(max_size=60),
                 st.lists(st.sampled_from(URL_PIECES), max_size=12).map("".join),
                 st.builds(lambda h, p: f"https://{h}{p}",
                           st.text(alphabet=string.printable + "éü\u3002\uff0e", max_size=30),
                           st.text(max_size=10))))
def test_check_url_raises_only_fetch_errors(url: str) -> None:
    try:
        checked = check_url(url, DOMAINS, POLICY)
    except FetchError as exc:
        assert exc.rule
        return
    assert isinstance(checked, CheckedURL)
    assert checked.scheme in ("http", "https") and checked.target.startswith("/")
    assert any(checked.host == d.split(":")[0] or checked.host.endswith("." + d.split(":")[0])
               for d in DOMAINS)
