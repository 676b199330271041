"""Compressed and odd encodings: a body the host cannot decode cannot be redacted, so a
pack would carry it raw to its other domain. The host owns content coding: it refuses a
guest's ``Accept-Encoding``, decodes the one coding it accepted, and refuses an unknown,
stacked or duplicated ``Content-Encoding`` as a bad response.

Each case relays what the guest was handed to the pack's other declared domain, then
fetches directly; the judge looks for the token in everything the guest received and
everything that reached the sink, after undoing every compression layer."""

from __future__ import annotations

from ..harness import Attack, Bench, Observation
from ..reflect import CODINGS
from ._relay import guest_saw, relay_and_fetch

#: ``/coded/<name>`` answers the host can read (one coding it offers) and must decode and
#: redact; every other is a bad response.
DECODABLE = ("gzip", "deflate", "br")
GUEST_ACCEPT = ("br", "gzip", "zstd", "identity", "*", "gzip;q=1.0, br;q=0.5", "BR",
                "deflate, gzip, br")
BOMBS = {"br": "fetch_too_large", "x-gzip": "fetch_too_large", "gzip-gzip": "fetch_network"}


def _small_guest_bodies(bench: Bench, seen: Observation) -> str | None:
    sizes = [len(item.get("body") or b"") for item in seen.guest_inputs if isinstance(item, dict)
             and "body" in item]
    return None if max(sizes, default=0) <= 8 << 20 else f"{max(sizes)} bytes reached the guest"


def attacks() -> list[Attack]:
    out: list[Attack] = []
    for name in CODINGS:
        if name in DECODABLE:
            out.append(Attack(f"Content-Encoding {name} reflecting the token: decoded, "
                              "redacted, relayed", "encoding", "ok",
                              relay_and_fetch("plain", f"/coded/{name}", mode="binary"),
                              verify=guest_saw("ok"), quick=name == "br", language="zig"))
        else:
            out.append(Attack(f"Content-Encoding {name!r} reflecting the token: a bad "
                              "response, never relayed raw", "encoding", "fetch_network",
                              relay_and_fetch("plain", f"/coded/{name}", mode="binary"),
                              rule="content_encoding", verify=guest_saw("network"),
                              quick=name == "gzip-gzip", language="zig"))
    for value in GUEST_ACCEPT:
        out.append(Attack(f"guest Accept-Encoding: {value} (the server answers in kind)",
                          "encoding", "fetch_denied",
                          relay_and_fetch("plain", "/negotiate", mode="binary",
                                          header=("Accept-Encoding", value)),
                          rule="header", verify=guest_saw("denied"), quick=value == "br",
                          language="zig"))
    out.append(Attack("guest accept-encoding (lower case): br", "encoding", "fetch_denied",
                      relay_and_fetch("plain", "/negotiate", mode="binary",
                                      header=("accept-encoding", "br")),
                      rule="header", verify=guest_saw("denied"), language="zig"))
    for coding, expected in BOMBS.items():
        out.append(Attack(f"decompression bomb under {coding}: 64 MiB of zeros, relayed",
                          "encoding", expected,
                          relay_and_fetch("plain", f"/bomb/{coding}?mb=64", mode="binary"),
                          verify=_small_guest_bodies, language="zig"))
    out.append(Attack("gzip member followed by the token in clear (trailing bytes)",
                      "encoding", "fetch_network|ok",
                      relay_and_fetch("wire", "/gzip-then-token", mode="binary"),
                      language="zig"))
    return out
