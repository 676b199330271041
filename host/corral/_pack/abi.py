"""ABI v1 wire format: the request and response maps that cross the sandbox boundary.

guest-sdk/ABI.md is the contract; this module is its Python side. Requests and
responses are MessagePack maps: ``{op, name, args, ctx, ...}`` in and
``{ok: value}`` or ``{err: {kind, message, ...}}`` out; an error map may also report the
upstream HTTP ``status``, its ``retry_after_s`` and the ``missing_scopes`` of the
connection (ABI.md §3.2).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Mapping

import msgpack

from .._errors import BadOutput, OutputTooLarge

ABI_VERSION = 1
ABI_MARKER_PREFIX = "corral_abi_v"
SUPPORTED_ABI_VERSIONS = frozenset({1})

EXPORT_MEMORY = "memory"
EXPORT_ALLOC = "corral_alloc"
EXPORT_CALL = "corral_call"

IMPORT_MODULE = "corral"
#: name -> (parameter types, result types), as wasm value type names.
HOST_IMPORTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fetch": (("i32", "i32"), ("i64",)),
    "log": (("i32", "i32", "i32"), ()),
    "blob": (("i32", "i32"), ("i64",)),
}

OPS = ("formula", "action", "sync", "sync_update", "autocomplete", "dynamic_urls",
       "dynamic_schema", "connection_name", "validate_parameters")

LOG_LEVELS = {0: "debug", 1: "info", 2: "warn", 3: "error"}

MAX_DEPTH = 64
"""The deepest a value may nest lists and maps, wherever one crosses a boundary: a pack's
result, a fetch's JSON body or JSON request body, a list a formula builds, an HTTP
response. Deeper values are refused with an error naming ``max_depth``: every walker of
values (schema checks, formula operators, the JSON encoder) then stays far from Python's
recursion limit."""

_CONTAINERS = (list, tuple, dict)

#: A guest's ``retry_after_s`` above this is clamped to it: past an hour a caller is better
#: told to come back later than held to a number no scheduler would wait for.
MAX_RETRY_AFTER_S = 3600.0
MAX_MISSING_SCOPES = 64
MAX_SCOPE_CHARS = 256


@dataclass(frozen=True)
class GuestReply:
    """A decoded response map: exactly one of ``value`` or ``error`` is meaningful."""

    ok: bool
    value: Any = None
    error_kind: str = ""
    message: str = ""
    fetch_kind: str = ""
    #: The upstream HTTP status the pack reports (100-599), if any.
    status: int | None = None
    #: How long the upstream asked callers to wait, in seconds (clamped), if it said.
    retry_after_s: float | None = None
    #: The scopes the connection lacks; empty when the pack reported none.
    missing_scopes: tuple[str, ...] = ()


class _Packers(threading.local):
    def __init__(self) -> None:
        self.packer = msgpack.Packer(use_bin_type=True)


_packers = _Packers()


def encode(value: Any) -> bytes:
    # One Packer per thread: ``msgpack.packb`` would build a new one on every call.
    packed: bytes = _packers.packer.pack(value)
    return packed


def decode(data: bytes, *, max_items: int = 1_000_000) -> Any:
    """Decode MessagePack strictly: one value, no trailing bytes, bounded containers."""
    return msgpack.unpackb(data, raw=False, strict_map_key=False, max_array_len=max_items,
                           max_map_len=max_items, max_str_len=len(data), max_bin_len=len(data),
                           max_ext_len=0)


def exceeds_depth(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests lists and maps more than ``limit`` deep (``[]`` is 1).

    Level by level, without recursion, so it is safe on any value that exists."""
    level = [value] if isinstance(value, _CONTAINERS) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for container in level:
            if isinstance(container, dict):
                below.extend(k for k in container if isinstance(k, _CONTAINERS))
                below.extend(v for v in container.values() if isinstance(v, _CONTAINERS))
            else:
                below.extend(v for v in container if isinstance(v, _CONTAINERS))
        level = below
    return False


def build_request(op: str, name: str, args: list[Any] | tuple[Any, ...],
                  ctx: Mapping[str, Any], **extra: Any) -> bytes:
    request: dict[str, Any] = {"op": op, "name": name, "args": args,
                               "ctx": ctx if isinstance(ctx, dict) else dict(ctx)}
    request.update(extra)
    return encode(request)


def parse_reply(data: bytes, *, pack: str, formula: str) -> GuestReply:
    """Decode a guest's response map, refusing anything that is not ``{ok}``/``{err}``."""
    try:
        reply = decode(data)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise BadOutput(f"the response is not valid MessagePack ({exc.__class__.__name__})",
                        pack=pack, formula=formula) from exc
    except Exception as exc:  # msgpack raises assorted errors on hostile bytes
        raise BadOutput(f"the response could not be decoded ({exc.__class__.__name__})",
                        pack=pack, formula=formula) from exc
    if not isinstance(reply, dict) or len(reply) != 1:
        raise BadOutput("the response must be a map with exactly one key, 'ok' or 'err'",
                        pack=pack, formula=formula)
    if "ok" in reply:
        # Each level takes a byte at least: a short reply cannot nest too deep.
        if len(data) > MAX_DEPTH and exceeds_depth(reply["ok"]):
            raise OutputTooLarge(f"the result nests lists and maps deeper than {MAX_DEPTH} "
                                 "levels", limit="max_depth", value=MAX_DEPTH, pack=pack,
                                 formula=formula)
        return GuestReply(ok=True, value=reply["ok"])
    err = reply.get("err")
    if not isinstance(err, dict):
        raise BadOutput("the response must be a map with exactly one key, 'ok' or 'err'",
                        pack=pack, formula=formula)
    kind = err.get("kind")
    message = err.get("message", "")
    if not isinstance(kind, str) or not isinstance(message, str):
        raise BadOutput("an error response needs string 'kind' and 'message'",
                        pack=pack, formula=formula)
    fetch_kind = err.get("fetch_kind", "")
    return GuestReply(ok=False, error_kind=kind[:64], message=message[:4096],
                      fetch_kind=fetch_kind if isinstance(fetch_kind, str) else "",
                      status=_status(err.get("status"), pack, formula),
                      retry_after_s=_retry_after(err.get("retry_after_s"), pack, formula),
                      missing_scopes=_missing_scopes(err.get("missing_scopes"), pack, formula))


# The optional fields of an error map: nil is the same as absent; anything else malformed
# is bad_output naming the field, since a host that guessed could retry what it should not.

def _status(value: Any, pack: str, formula: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise BadOutput("the error map's 'status' must be an HTTP status, an integer from 100 "
                        "to 599", pack=pack, formula=formula)
    return value


def _retry_after(value: Any, pack: str, formula: str) -> float | None:
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value < 0):
        raise BadOutput("the error map's 'retry_after_s' must be a finite number of seconds "
                        ">= 0", pack=pack, formula=formula)
    return min(float(value), MAX_RETRY_AFTER_S)


def _missing_scopes(value: Any, pack: str, formula: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if (not isinstance(value, list) or not 1 <= len(value) <= MAX_MISSING_SCOPES
            or not all(_is_scope(scope) for scope in value)):
        raise BadOutput(f"the error map's 'missing_scopes' must be an array of 1 to "
                        f"{MAX_MISSING_SCOPES} OAuth scope names (printable ASCII, no spaces, "
                        f"at most {MAX_SCOPE_CHARS} characters)", pack=pack, formula=formula)
    return tuple(dict.fromkeys(value))


def _is_scope(scope: Any) -> bool:
    """An RFC 6749 scope-token: printable ASCII but space, '"' and '\\'."""
    return (isinstance(scope, str) and 0 < len(scope) <= MAX_SCOPE_CHARS
            and all(0x21 <= ord(c) <= 0x7E and c not in '"\\' for c in scope))


def ok_map(value: Any) -> bytes:
    return encode({"ok": value})


def err_map(kind: str, message: str, **extra: Any) -> bytes:
    return encode({"err": {"kind": kind, "message": message, **extra}})
