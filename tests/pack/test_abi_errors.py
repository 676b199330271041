"""The optional fields of a guest's error map (ABI.md §3.2): the upstream ``status``,
``retry_after_s`` and ``missing_scopes``, read strictly, and what the host makes of them."""

from __future__ import annotations

import math
from typing import Any

import msgpack
import pytest

import corral
from corral import BadOutput, GuestError, MissingScopes, Sandbox
from corral._pack.abi import MAX_MISSING_SCOPES, MAX_RETRY_AFTER_S, parse_reply

from ..conftest import simple_manifest, wat_pack


def reply(**fields: Any) -> bytes:
    return msgpack.packb({"err": {"kind": "user", "message": "no", **fields}}, use_bin_type=True)


def parsed(**fields: Any) -> Any:
    return parse_reply(reply(**fields), pack="p", formula="F")


def test_the_fields_are_read_when_given() -> None:
    found = parsed(status=503, retry_after_s=1.5, missing_scopes=["repo", "read:org"])
    assert (found.status, found.retry_after_s, found.missing_scopes) == (
        503, 1.5, ("repo", "read:org"))
    assert isinstance(parsed(retry_after_s=7).retry_after_s, float)


def test_absent_and_nil_fields_are_not_given() -> None:
    for found in (parsed(), parsed(status=None, retry_after_s=None, missing_scopes=None)):
        assert (found.status, found.retry_after_s, found.missing_scopes) == (None, None, ())


def test_a_long_retry_after_is_clamped_and_repeated_scopes_kept_once() -> None:
    assert parsed(retry_after_s=10**9).retry_after_s == MAX_RETRY_AFTER_S == 3600.0
    assert parsed(missing_scopes=["a", "b", "a"]).missing_scopes == ("a", "b")


@pytest.mark.parametrize("field, value", [
    ("status", 99), ("status", 600), ("status", -1), ("status", "503"), ("status", 503.0),
    ("status", True),
    ("retry_after_s", -0.5), ("retry_after_s", math.inf), ("retry_after_s", math.nan),
    ("retry_after_s", "10"), ("retry_after_s", False),
    ("missing_scopes", "repo"), ("missing_scopes", []), ("missing_scopes", [1]),
    ("missing_scopes", [""]), ("missing_scopes", ["two words"]), ("missing_scopes", ['a"b']),
    ("missing_scopes", ["x" * 257]), ("missing_scopes", ["s"] * (MAX_MISSING_SCOPES + 1)),
    ("missing_scopes", {"repo": True}),
])
def test_a_malformed_field_is_bad_output_naming_it(field: str, value: Any) -> None:
    with pytest.raises(BadOutput, match=f"'{field}'") as info:
        parsed(**{field: value})
    assert (info.value.pack, info.value.formula) == ("p", "F")


# -- through a pack: a guest that answers one fixed error map -------------------------------


def answering_error(err: dict[str, Any]) -> bytes:
    data = msgpack.packb({"err": err}, use_bin_type=True)
    escaped = "".join(f"\\{b:02x}" for b in data)
    wat = f"""
    (module
      (memory (export "memory") 1)
      (func (export "corral_abi_v1"))
      (func (export "corral_alloc") (param i32) (result i32) (i32.const 4096))
      (func (export "corral_call") (param i32 i32) (result i64)
        (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const {len(data)})))
      (data (i32.const 1024) "{escaped}"))
    """
    return wat_pack(wat, simple_manifest("erring", ["F"]))


def call(sandbox: Sandbox, err: dict[str, Any]) -> Any:
    return corral.pack_from_bytes(answering_error(err), sandbox=sandbox).call("F")


def test_a_pack_reported_status_and_retry_after_reach_the_guest_error(sandbox: Sandbox) -> None:
    with pytest.raises(GuestError) as info:
        call(sandbox, {"kind": "user", "message": "busy", "status": 503, "retry_after_s": 2})
    assert (info.value.status, info.value.retry_after_s) == (503, 2.0)
    assert info.value.to_dict() == {"kind": "guest_error", "message": "erring.F: busy",
                                    "pack": "erring", "formula": "F", "guest_kind": "user",
                                    "status": 503, "retry_after_s": 2.0}


def test_missing_scopes_are_their_own_error(sandbox: Sandbox) -> None:
    with pytest.raises(MissingScopes) as info:
        call(sandbox, {"kind": "user", "message": "forbidden", "status": 403,
                       "missing_scopes": ["repo"]})
    assert isinstance(info.value, corral.CredentialError)
    assert (info.value.scopes, info.value.status) == (("repo",), 403)
    assert info.value.details["missing_scopes"] == ["repo"]
    assert str(info.value) == "erring.F: forbidden; reconnect granting the scopes: repo"


def test_a_malformed_field_from_a_pack_is_bad_output(sandbox: Sandbox) -> None:
    with pytest.raises(BadOutput, match="'status'"):
        call(sandbox, {"kind": "user", "message": "x", "status": 999})
