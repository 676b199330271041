"""The host owns content encoding, and every byte it reads counts: against real upstreams on
127.0.0.1 that send odd codings, trailing bytes, bombs and framing floods. Caps are checked
by the bytes read off the socket, never by how long anything took."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import brotli
import pytest

from corral._errors import FetchDenied, FetchNetworkError, FetchTooLarge
from corral._fetch.client import FetchClient, FetchConfig, PinnedTransport
from corral._fetch.response import ACCEPT_ENCODING, BodyReader
from corral._fetch.transport import wire_limit
from corral.testing import CountingConnector, RawServer, endless, raw_response
from tests.fetch_servers import TEST_HOST

READ_SIZE = 64 * 1024  # what httpcore asks the socket for at a time
DATA = b'{"text": "' + b"payload " * 4000 + b'"}'
REFLECTED = "tok-SECRET-reflected"


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@contextmanager
def serving(*chunks: bytes) -> Iterator[RawServer]:
    """An upstream whose /x writes ``chunks``, one write each."""
    with RawServer({"/x": lambda request: chunks}) as server:
        yield server


def client_for(connector: CountingConnector | None = None, **settings: Any) -> FetchClient:
    config = FetchConfig(allow_http=True, host_map={TEST_HOST: "127.0.0.1"}, **settings)
    return FetchClient(config, transport=PinnedTransport(config, connector=connector))


def get(client: FetchClient, server: RawServer, **request: Any) -> dict[str, Any]:
    return client.fetch({"url": server.url("/x", TEST_HOST), **request}, pack="Test",
                        pack_hash="0" * 64, domains=[f"example.test:{server.port}"])


def coded(body: bytes, *codings: str) -> bytes:
    return raw_response(body, headers=[("Content-Encoding", c) for c in codings])


# -- what the host asks for and what the guest may set ------------------------------------


def test_the_host_asks_only_for_the_codings_it_decodes() -> None:
    with serving(raw_response(b"ok")) as server, client_for() as client:
        get(client, server)
    assert server.requests[0].headers["accept-encoding"] == ACCEPT_ENCODING == "gzip, deflate, br"


@pytest.mark.parametrize("name", ["Accept-Encoding", "accept-encoding", "ACCEPT-ENCODING"])
@pytest.mark.parametrize("value", ["br", "identity", "zstd", ""])
def test_a_guest_may_not_choose_the_coding(name: str, value: str) -> None:
    with serving(raw_response(b"ok")) as server, client_for() as client, \
            pytest.raises(FetchDenied) as info:
        get(client, server, headers={name: value})
    assert info.value.rule == "header"
    assert "set by the host" in info.value.message
    assert server.requests == [], "a refused request is never sent"


# -- decoding -------------------------------------------------------------------------------


ACCEPTED = [
    ("gzip", gzipped(DATA)),
    ("x-gzip", gzipped(DATA)),
    ("GZip", gzipped(DATA)),
    ("deflate", zlib.compress(DATA)),
    ("deflate", raw_deflate(DATA)),
    ("br", brotli.compress(DATA)),
    ("identity", DATA),
    (" gzip , identity", gzipped(DATA)),
    ("gzip", gzipped(DATA[:1000]) + gzipped(DATA[1000:])),  # two members, as RFC 1952 allows
]


@pytest.mark.parametrize("coding, body", ACCEPTED,
                         ids=[f"{c.strip()}-{i}" for i, (c, _) in enumerate(ACCEPTED)])
def test_every_accepted_coding_is_decoded(coding: str, body: bytes) -> None:
    with serving(coded(body, coding)) as server, client_for() as client:
        got = get(client, server, binary=True)
    assert got["body"] == DATA
    if coding != "identity":
        assert "content-encoding" not in got["headers"]
        assert "content-length" not in got["headers"], "the wire length is not the body's"


@pytest.mark.parametrize("coding, body", ACCEPTED,
                         ids=[f"{c.strip()}-{i}" for i, (c, _) in enumerate(ACCEPTED)])
def test_decoding_does_not_depend_on_how_the_body_is_split(coding: str, body: bytes) -> None:
    name = coding.split(",")[0].strip().lower().replace("x-gzip", "gzip")
    reader = BodyReader(name, 1 << 20, "https://x")
    for i in range(len(body)):
        reader.feed(body[i:i + 1])
    assert reader.finish() == DATA


# -- bad responses --------------------------------------------------------------------------


@pytest.mark.parametrize("codings", [
    ["gzip, gzip"], ["br, gzip"], ["deflate,gzip"],
    ["gzip", "gzip"], ["gzip", "identity"], ["identity", "identity"],
    ["compress"], ["zstd"], ["aes128gcm"], ["gzip;q=1"], [REFLECTED],
])
def test_unknown_stacked_or_repeated_codings_are_bad_responses(codings: list[str]) -> None:
    with serving(coded(gzipped(gzipped(DATA)), *codings)) as server, client_for() as client, \
            pytest.raises(FetchNetworkError) as info:
        get(client, server)
    assert info.value.rule == "content_encoding"
    assert info.value.kind == "fetch_network"
    assert REFLECTED not in str(info.value) + str(info.value.details), \
        "the server's own text is never quoted back"


@pytest.mark.parametrize("coding, stream", [
    ("gzip", gzipped(b"tiny")), ("deflate", zlib.compress(b"tiny")),
    ("deflate", raw_deflate(b"tiny")), ("br", brotli.compress(b"tiny")),
])
@pytest.mark.parametrize("after", [b"x", b"trailing bytes nobody decodes " * 100])
def test_bytes_after_the_compressed_stream_are_refused(coding: str, stream: bytes,
                                                       after: bytes) -> None:
    with serving(coded(stream + after, coding)) as server, client_for() as client, \
            pytest.raises(FetchNetworkError) as info:
        get(client, server)
    assert info.value.rule == "content_encoding"


@pytest.mark.parametrize("coding, stream", [
    ("gzip", gzipped(DATA)[:-3]),  # the trailer is cut
    ("gzip", gzipped(DATA)[:40]),
    ("deflate", zlib.compress(DATA)[:50]),
    ("br", brotli.compress(DATA)[:-2]),
    ("gzip", b"\x1f\x8b" + b"\x00" * 30),  # a header, then nonsense
    ("br", b"\xff" * 40),
])
def test_truncated_or_corrupt_streams_are_refused(coding: str, stream: bytes) -> None:
    with serving(coded(stream, coding)) as server, client_for() as client, \
            pytest.raises(FetchNetworkError) as info:
        get(client, server)
    assert info.value.rule == "content_encoding"


# -- caps count bytes read, decoded and on the wire ----------------------------------------


CLOSE_DELIMITED_GZIP = b"HTTP/1.1 200 X\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize("then, error, rule", [
    (b"\x00garbage" * 8192, FetchNetworkError, "content_encoding"),
    (gzipped(b"") * 3000, FetchTooLarge, "response_body"),  # valid, empty members forever
])
def test_an_endless_body_after_a_tiny_gzip_member_is_cut_by_the_bytes_read(
        then: bytes, error: type[Exception], rule: str) -> None:
    cap = 256 * 1024
    connector = CountingConnector()
    body = endless(CLOSE_DELIMITED_GZIP + gzipped(b'{"ok": true}'), then)
    with RawServer({"/x": lambda request: body}) as server, \
            client_for(connector, max_response_bytes=cap, read_timeout_s=60,
                       total_timeout_s=120) as client, pytest.raises(error) as info:
        get(client, server)
    assert getattr(info.value, "rule") == rule
    assert connector.bytes_read <= cap + 2 * READ_SIZE, f"{connector.bytes_read} bytes were read"


@pytest.mark.parametrize("coding, bomb", [
    ("gzip", gzipped(bytes(32 << 20))),
    ("deflate", zlib.compress(bytes(32 << 20), 9)),
    ("br", brotli.compress(bytes(32 << 20), quality=5)),
])
def test_bombs_are_cut_at_the_decoded_cap(coding: str, bomb: bytes) -> None:
    connector = CountingConnector()
    with serving(coded(bomb, coding)) as server, \
            client_for(connector, max_response_bytes=1 << 20) as client, \
            pytest.raises(FetchTooLarge, match="after decompression") as info:
        get(client, server)
    assert info.value.rule == "response_body"
    assert connector.bytes_read <= len(bomb) + READ_SIZE


@pytest.mark.parametrize("first, then", [
    (b"", b"HTTP/1.1 100 Continue\r\n\r\n" * 1000),  # informational responses forever
    (b"HTTP/1.1 200 X\r\nTransfer-Encoding: chunked\r\n\r\n",
     b"1;" + b"x" * 8000 + b"\r\nA\r\n"),  # one body byte per 8 kB of chunk extension
])
def test_framing_cannot_stretch_the_bytes_an_exchange_reads(first: bytes, then: bytes) -> None:
    connector = CountingConnector()
    config = dict(max_response_bytes=64 * 1024, read_timeout_s=60, total_timeout_s=120)
    with RawServer({"/x": lambda request: endless(first, then)}) as server, \
            client_for(connector, **config) as client, pytest.raises(FetchTooLarge) as info:
        get(client, server)
    assert info.value.rule == "response_wire"
    assert connector.bytes_read <= wire_limit(FetchConfig(**config)) + READ_SIZE


def test_a_head_response_may_declare_any_length() -> None:
    head = b"HTTP/1.1 200 X\r\nContent-Length: 99999999999\r\nContent-Encoding: gzip\r\n\r\n"
    with serving(head) as server, client_for(max_response_bytes=1024) as client:
        got = get(client, server, method="HEAD")
    assert got["status"] == 200 and got["body"] == ""


def test_a_declared_length_counts_the_compressed_bytes() -> None:
    body = gzipped(bytes(4096))
    with serving(coded(body, "gzip")) as server, \
            client_for(max_response_bytes=len(body) - 1) as client, \
            pytest.raises(FetchTooLarge, match="declares"):
        get(client, server)


@pytest.mark.parametrize("coding", [b"gzip, chunked", b"gzip", b"chunked, chunked"])
def test_transfer_codings_other_than_chunked_are_refused(coding: bytes) -> None:
    raw = (b"HTTP/1.1 200 X\r\nTransfer-Encoding: " + coding + b"\r\n\r\n"
           + b"5\r\nhello\r\n0\r\n\r\n")
    with serving(raw) as server, client_for() as client, pytest.raises(FetchNetworkError):
        get(client, server)
