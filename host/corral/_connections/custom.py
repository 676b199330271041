"""Custom auth: the host fills the caller's named secrets into the guest's placeholders.

The guest writes ``{{<param>-<token>}}`` where a secret belongs, ``token`` being the
``placeholder_token`` of its ``ctx.connection`` (random per call, so text that merely
looks like a placeholder, such as a user's input echoed into a request, is not filled).
The host fills a placeholder only

* in a request to the pack's auth domains (the fetch client calls ``finish`` only there),
* in the places the manifest declares for that parameter: header values, the query
  string (percent-encoded), the body (as it is);

anywhere else it goes out unfilled, as the guest wrote it. The guest never holds a
secret, and responses are redacted of every value.
"""

from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import quote

from .._errors import CredentialError
from .._types import OutgoingRequest


def placeholder(name: str, token: str) -> str:
    return "{{" + name + "-" + token + "}}"


def _pattern(name: str, token: str) -> re.Pattern[str]:
    """The placeholder as written, or percent-encoded as the fetch policy leaves a URL."""
    return re.compile(r"(?:\{|%7[Bb]){2}" + re.escape(f"{name}-{token}") + r"(?:\}|%7[Dd]){2}")


def fill(request: OutgoingRequest, params: list[Mapping[str, Any]],
         values: Mapping[str, str], token: str) -> OutgoingRequest:
    """``request`` with each parameter's placeholders filled where it may go."""
    headers, target, body = list(request.headers), request.target, request.body
    for param in params:
        name, places = param["name"], param["places"]
        value = values[name]
        pattern = _pattern(name, token)
        if "header" in places:
            headers = [(h, pattern.sub(lambda _m: value, v)) for h, v in headers]
        if "query" in places and "?" in target:
            path, _, query = target.partition("?")
            target = path + "?" + pattern.sub(lambda _m: quote(value, safe=""), query)
        if "body" in places and body:
            literal = placeholder(name, token).encode()
            body = body.replace(literal, value.encode("utf-8"))
    for _, text in headers:
        if any(ch in text for ch in ("\r", "\n", "\0")):
            raise CredentialError("a custom auth value holds a line break or NUL and cannot "
                                  "go in a header")
    return OutgoingRequest(request.method, request.scheme, request.host, request.port, target,
                           tuple(headers), body)
