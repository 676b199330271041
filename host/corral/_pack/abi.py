"""ABI v1 wire format: the request and response maps that cross the sandbox boundary.

guest-sdk/ABI.md is the contract; this module is its Python side. Requests and
responses are MessagePack maps: ``{op, name, args, ctx, ...}`` in and
``{ok: value}`` or ``{err: {kind, message}}`` out.
"""

from __future__ import annotations

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
}

OPS = ("formula", "action", "sync", "sync_update", "autocomplete", "dynamic_urls",
       "dynamic_schema", "connection_name")

LOG_LEVELS = {0: "debug", 1: "info", 2: "warn", 3: "error"}

MAX_DEPTH = 64
"""The deepest a value may nest lists and maps, wherever one crosses a boundary: a pack's
result, a fetch's JSON body or JSON request body, a list a formula builds, an HTTP
response. Deeper values are refused with an error naming ``max_depth``: every walker of
values (schema checks, formula operators, the JSON encoder) then stays far from Python's
recursion limit."""

_CONTAINERS = (list, tuple, dict)


@dataclass(frozen=True)
class GuestReply:
    """A decoded response map: exactly one of ``value`` or ``error`` is meaningful."""

    ok: bool
    value: Any = None
    error_kind: str = ""
    message: str = ""
    fetch_kind: str = ""


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
                      fetch_kind=fetch_kind if isinstance(fetch_kind, str) else "")


def ok_map(value: Any) -> bytes:
    return encode({"ok": value})


def err_map(kind: str, message: str, **extra: Any) -> bytes:
    return encode({"err": {"kind": kind, "message": message, **extra}})
