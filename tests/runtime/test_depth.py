"""One nesting limit, ``MAX_DEPTH``, wherever a value crosses a boundary: a pack's result
(a WAT pack answering a deeply nested value), a fetch's JSON body (through the real
``fetcher`` pack; two levels less, the guest reads it inside its reply map), a list a
formula builds, and the HTTP service's answers. Deeper
values are refused with an error that names ``max_depth``, never a RecursionError or
a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from fastapi.testclient import TestClient

from corral import FetchTooLarge, FormulaEvalError, Host, OutputTooLarge, Settings
from corral._fetch.guest import JSON_DEPTH
from corral._pack.abi import MAX_DEPTH, exceeds_depth
from corral._pack.wasm import MANIFEST_SECTION, set_custom_section
from corral._runtime.pack import read_manifest
from corral._server.apikeys import ApiKeyStore
from corral._server.app import create_app
from corral._server.service import to_json

from ..conftest import TEST_PACKS, built, wat_pack
from ..reflecting_server import ReflectingServer, response

API_HOST = "api.example.test"


def nested(depth: int) -> Any:
    """``[[[...[1]...]]]`` with ``depth`` lists, built without recursion."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def nested_reply(depth: int) -> bytes:
    """``{ok: [[...]]}`` as MessagePack bytes, written by hand: msgpack's own packer
    refuses to write what a hostile guest writes."""
    return msgpack.packb({"ok": 0})[:-1] + b"\x91" * depth + b"\x01"


def deep_pack(name: str, depth: int) -> bytes:
    """A pack whose formula ``Deep`` answers a value nested ``depth`` lists deep."""
    data = nested_reply(depth)
    escaped = "".join(f"\\{b:02x}" for b in data)
    wat = f"""
    (module
      (memory (export "memory") 2)
      (global $heap (mut i32) (i32.const 65536))
      (func (export "corral_abi_v1"))
      (func (export "corral_alloc") (param $n i32) (result i32)
        (local $p i32)
        (local.set $p (global.get $heap))
        (global.set $heap (i32.add (global.get $heap) (local.get $n)))
        (local.get $p))
      (func (export "corral_call") (param $ptr i32) (param $len i32) (result i64)
        (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const {len(data)})))
      (data (i32.const 1024) "{escaped}"))
    """
    return wat_pack(wat, {"pack": {"name": name, "version": "0.1.0"},
                          "formulas": [{"name": "Deep", "cache_ttl_s": 0}]})


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    settings = Settings(data_dir=tmp_path / "host", allow_http=True,
                        host_map={API_HOST: "127.0.0.1"})
    with Host(settings) as made:
        made.register_bytes(deep_pack("deep", 900))
        made.register_bytes(deep_pack("edge", MAX_DEPTH))
        made.register_bytes(deep_pack("near", MAX_DEPTH - 3))
        yield made


def test_the_depth_check_is_exact_and_never_recurses() -> None:
    assert not exceeds_depth(nested(MAX_DEPTH))
    assert exceeds_depth(nested(MAX_DEPTH + 1))
    assert exceeds_depth(nested(200_000)), "far past the recursion limit, no RecursionError"
    assert not exceeds_depth({"a": [{"b": 1}] * 10_000, "c": "x" * 100})
    assert exceeds_depth({"k": {"k": nested(MAX_DEPTH - 1)}})


def test_a_pack_result_nested_too_deep_is_refused_naming_the_limit(host: Host) -> None:
    with pytest.raises(OutputTooLarge) as info:
        host.call("deep", "Deep")
    assert info.value.limit == "max_depth"
    assert info.value.details["limit_value"] == MAX_DEPTH
    assert host.call("edge", "Deep") == nested(MAX_DEPTH), "the limit itself is allowed"


def test_a_formula_over_a_deep_result_fails_cleanly(host: Host) -> None:
    with pytest.raises(OutputTooLarge, match="deeper than"):
        host.evaluate("=deep.Deep() = 1")
    with pytest.raises(FormulaEvalError, match="max_depth"):
        host.evaluate("=[[[[near.Deep()]]]]")
    assert host.evaluate("=[[[near.Deep()]]]") == nested(MAX_DEPTH)
    assert host.evaluate("=near.Deep() = near.Deep()") is True


def test_a_formula_cannot_build_a_list_deeper_than_the_limit(host: Host) -> None:
    too_deep = "=" + "List(" * (MAX_DEPTH + 1) + ")" * (MAX_DEPTH + 1)
    with pytest.raises(FormulaEvalError, match="max_depth"):
        host.evaluate(too_deep)
    with pytest.raises(FormulaEvalError, match="max_depth"):
        host.evaluate("=" + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    built_list: Any = []
    for _ in range(MAX_DEPTH - 1):
        built_list = [built_list]
    assert host.evaluate("=" + "[" * MAX_DEPTH + "]" * MAX_DEPTH) == built_list


def test_the_http_encoder_refuses_too_deep_a_value_itself() -> None:
    with pytest.raises(OutputTooLarge):
        to_json(nested(MAX_DEPTH + 1))
    assert to_json([b"\x01", float("inf")]) == [{"$binary": "01"}, "inf"]


def test_the_http_service_answers_a_deep_result_with_a_problem_not_a_500(host: Host) -> None:
    key = ApiKeyStore(host.settings.data_dir / "api-keys.json").create("ada")[1]
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(host, host.settings), raise_server_exceptions=False) as client:
        deep = client.post("/v1/packs/deep/formulas/Deep", headers=headers, json={"args": []})
        formula = client.post("/v1/evaluate", headers=headers,
                              json={"formula": "=" + "[" * 70 + "1" + "]" * 70})
        over = client.post("/v1/evaluate", headers=headers,
                           json={"formula": "=[[[[near.Deep()]]]]"})
        edge = client.post("/v1/packs/edge/formulas/Deep", headers=headers, json={"args": []})
    assert deep.status_code == 502, deep.text
    assert deep.json()["kind"] == "output_too_large" and deep.json()["limit"] == "max_depth"
    assert formula.status_code == 400 and "max_depth" in formula.json()["detail"]
    assert over.status_code == 400 and "max_depth" in over.json()["detail"]
    assert edge.status_code == 200 and edge.json()["result"] == nested(MAX_DEPTH)


# -- fetch JSON, through the real fetcher pack --------------------------------------------


def _deep_json(path: str, secret: str) -> bytes:
    depth = int(path.rsplit("/", 1)[1])
    body = '{"ok": true, "path": "/x", "deep": ' + "[" * depth + "]" * depth + "}"
    return response("200 OK", [("Content-Type", "application/json")], body.encode())


@pytest.fixture(scope="module")
def deep_api() -> Iterator[ReflectingServer]:
    with ReflectingServer(_deep_json) as server:
        yield server


def fetcher(host: Host, api: ReflectingServer) -> None:
    wasm = built(TEST_PACKS / "fetcher").read_bytes()
    manifest = read_manifest(wasm).to_dict()
    manifest["pack"]["network_domains"] = [f"{API_HOST}:{api.port}"]
    host.register_bytes(set_custom_section(wasm, MANIFEST_SECTION,
                                           json.dumps(manifest).encode()))


@pytest.mark.parametrize("depth", [JSON_DEPTH, 900, 50_000])
def test_a_fetched_json_body_nested_too_deep_is_refused(host: Host, deep_api: ReflectingServer,
                                                        depth: int) -> None:
    fetcher(host, deep_api)
    with pytest.raises(FetchTooLarge) as info:
        host.call("fetcher", "Summary", f"http://{API_HOST}:{deep_api.port}/deep/{depth}")
    assert info.value.rule == "max_depth"
    assert str(JSON_DEPTH) in info.value.message


def test_a_fetched_json_body_within_the_limit_reaches_the_guest(
        host: Host, deep_api: ReflectingServer) -> None:
    fetcher(host, deep_api)
    # The body's object and JSON_DEPTH - 1 lists: JSON_DEPTH levels, what the SDK decodes.
    url = f"http://{API_HOST}:{deep_api.port}/deep/{JSON_DEPTH - 1}"
    assert host.call("fetcher", "Summary", url) == "/x is ok"
