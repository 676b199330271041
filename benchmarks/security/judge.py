"""Where the judge looks for secrets after an attack (see ``harness`` for the rules).

Each place is ``(where, text, blob)``: ``blob`` texts are also searched after undoing
compression and base64 (bodies a pack received or sent on), the others as text.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit

from corral import CorralError
from corral._server.problems import problem_for

if TYPE_CHECKING:
    from .harness import Bench, Observation

Place = tuple[str, Any, bool]


def leak_places(bench: Bench, seen: Observation) -> Iterator[Place]:
    yield from _error_places(seen.error)
    if seen.value is not None:
        yield "the result", _dumps(seen.value), True
    for item in seen.guest_inputs:
        yield from _guest_input(item)
    for line in seen.new_logs:
        yield "a log record", line, False
    for text in seen.http_texts:
        yield "a response of the HTTP service", text, False
    for request in seen.new_requests:
        yield from _request_places(bench, request)
    for host in bench.extras.get("hosts", []) + [bench.host]:
        yield "/metrics", host.metrics.render(), False


def _error_places(error: BaseException | None) -> Iterator[Place]:
    if error is None:
        return
    yield "the error", f"{error} {error!r}", False
    cause = error.__cause__ or error.__context__
    if cause is not None:
        yield "the error's cause", f"{cause} {cause!r}", False
    if isinstance(error, CorralError):
        yield "the error details", _dumps(error.to_dict()), False
        yield "the problem document", _dumps(problem_for(error).body), False


def _guest_input(item: Any) -> Iterator[Place]:
    if isinstance(item, dict) and "body" in item:
        yield "a fetch response the guest was handed", item["body"], True
        rest = {k: v for k, v in item.items() if k != "body"}
        yield "a fetch response the guest was handed", _dumps(rest), True
    else:
        yield "a fetch error the guest was handed", _dumps(item), False


def _request_places(bench: Bench, request: Any) -> Iterator[Place]:
    """A request a server received, without the credential where the host injects it."""
    headers = dict(getattr(request, "headers", {}))
    target = getattr(request, "raw_target", "") or getattr(request, "target", "")
    name, _, port = headers.get("host", "").partition(":")
    carried = (name.lower(), int(port) if port.isdigit() else 0) in bench.carriers
    if carried:
        headers.pop("authorization", None)
        target = _without_param(target, "api_key")
    text = f"{getattr(request, 'method', '')} {target} {_dumps(headers)}"
    where = f"a request to {headers.get('host', '?')}"  # never the path: it may hold the secret
    yield where, text, False
    body = getattr(request, "body", b"")
    if body and not (carried and urlsplit(target).path.startswith("/token")):
        yield where + " (its body)", body, True


def _without_param(target: str, name: str) -> str:
    path, sep, query = target.partition("?")
    if not sep:
        return target
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != name]
    return path + ("?" + urlencode(kept) if kept else "")


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, default=repr)
    except (TypeError, ValueError, RecursionError):
        return repr(value)[:1_000_000]
