"""A response body as the host reads it: its one content coding decoded, every size capped.

The host owns content encoding. It sends its own ``Accept-Encoding``
(:data:`ACCEPT_ENCODING`; a guest may not set the header) and decodes what it accepted
before anything reaches the guest. A coding it did not offer, more than one coding
(``gzip, gzip``) or a second ``Content-Encoding`` line is a bad response, never passed on
raw: the guest could otherwise carry bytes the host cannot read (and so cannot redact)
to another of its domains.

The size cap counts both sides: every body byte that arrives, bytes after the end of a
compressed stream included, and every byte decoding makes of them.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import brotli

from .._errors import FetchNetworkError, FetchTooLarge

#: What the host can decode. zstd is left out: Python 3.11 has no zstd in the standard
#: library, and the `zstandard` binding's streaming decoder cannot bound its output.
ACCEPT_ENCODING = "gzip, deflate, br"

_ALIASES = {"x-gzip": "gzip"}

#: ``keep(decoded) -> room``: takes decoded bytes, raises past the cap, returns what is left.
Keep = Callable[[bytes], int]


@dataclass(frozen=True)
class Received:
    """A response as the fetch path hands it on: status, header pairs and the decoded body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def content_coding(headers: Iterable[tuple[str, str]], shown: str) -> str:
    """The one coding of a response (``identity`` if none); a bad response otherwise.

    ``headers`` are lower-cased names. The server's own text is never quoted back: it
    may reflect what it was sent."""
    values = [value for name, value in headers if name == "content-encoding"]
    if len(values) > 1:
        raise bad_encoding(shown, f"the response has {len(values)} Content-Encoding headers")
    codings = [c.strip().lower() for c in (values[0] if values else "").split(",")]
    codings = [_ALIASES.get(c, c) for c in codings if c and c != "identity"]
    if len(codings) > 1:
        raise bad_encoding(shown, f"the body is encoded {len(codings)} times; the host "
                           "decodes exactly one coding")
    if not codings:
        return "identity"
    if codings[0] not in _DECODERS:
        raise bad_encoding(shown, f"the body's content coding is not one the host accepts "
                           f"({ACCEPT_ENCODING})")
    return codings[0]


def bad_encoding(shown: str, problem: str) -> FetchNetworkError:
    return FetchNetworkError(f"{shown}: bad response (content_encoding): {problem}",
                             url=shown, rule="content_encoding")


class BodyReader:
    """Collects a body under ``limit``: on the wire and after decoding ``coding``."""

    def __init__(self, coding: str, limit: int, shown: str) -> None:
        self._limit = limit
        self._shown = shown
        self._wire = 0
        self._size = 0
        self._parts: list[bytes] = []
        factory = _DECODERS.get(coding)
        self._decoder = factory(self._keep, shown) if factory is not None else None

    @property
    def decodes(self) -> bool:
        return self._decoder is not None

    def feed(self, data: bytes) -> None:
        self._wire += len(data)
        if self._wire > self._limit:
            raise self._too_large("")
        if self._decoder is None:
            self._keep(data)
        else:
            self._decoder.feed(data)

    def finish(self) -> bytes:
        if self._decoder is not None and self._wire:
            self._decoder.finish()
        return b"".join(self._parts)

    def _keep(self, data: bytes) -> int:
        self._size += len(data)
        if self._size > self._limit:
            raise self._too_large(" after decompression")
        if data:
            self._parts.append(data)
        return self._limit - self._size

    def _too_large(self, where: str) -> FetchTooLarge:
        return FetchTooLarge(f"{self._shown}: the response body passes {self._limit} bytes"
                             f"{where}", url=self._shown, rule="response_body")


class _Decoder(ABC):
    """One coding's decoder; its output goes to ``keep`` a bounded piece at a time."""

    def __init__(self, keep: Keep, shown: str) -> None:
        self._keep = keep
        self._shown = shown
        self._room = keep(b"")

    @abstractmethod
    def feed(self, data: bytes) -> None:
        """Decode ``data``, handing the output to ``keep``."""

    @abstractmethod
    def finish(self) -> None:
        """The stream ended: refuse it if it was cut short."""

    def _bad(self, problem: str) -> FetchNetworkError:
        return bad_encoding(self._shown, problem)


class _Inflate(_Decoder):
    """gzip (member after member, as RFC 1952 allows) or deflate (zlib-wrapped or raw)."""

    def __init__(self, keep: Keep, shown: str, *, gzip: bool) -> None:
        super().__init__(keep, shown)
        self._gzip = gzip
        self._head = b""  # deflate: the first bytes, until they show whether zlib wraps it
        self._inflater: Any = zlib.decompressobj(zlib.MAX_WBITS | 16) if gzip else None

    def feed(self, data: bytes) -> None:
        if self._inflater is None:
            data = self._sniff(data)
            if not data:
                return
        try:
            self._inflate(data)
        except zlib.error as exc:
            raise self._bad(f"the compressed body is corrupt ({exc})") from exc

    def finish(self) -> None:
        if self._inflater is None or not self._inflater.eof:
            raise self._bad("the compressed body ends before its compressed stream does")

    def _sniff(self, data: bytes) -> bytes:
        # Some servers send raw deflate without the zlib header RFC 9110 asks for.
        self._head += data
        if len(self._head) < 2:
            return b""
        wrapped = (self._head[0] & 0x0F) == 8 and int.from_bytes(self._head[:2], "big") % 31 == 0
        self._inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        data, self._head = self._head, b""
        return data

    def _inflate(self, data: bytes) -> None:
        pending = data
        while pending:
            if self._inflater.eof:
                if not self._gzip:
                    raise self._bad(f"{len(pending)} bytes follow the end of the compressed body")
                self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)  # the next member
            out = self._inflater.decompress(pending, self._room + 1)
            self._room = self._keep(out)
            inflater = self._inflater
            left = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
            if not out and len(left) >= len(pending):
                raise self._bad("the compressed body makes no progress")
            pending = left


class _Brotli(_Decoder):
    def __init__(self, keep: Keep, shown: str) -> None:
        super().__init__(keep, shown)
        self._decompressor = brotli.Decompressor()

    def feed(self, data: bytes) -> None:
        if data and self._decompressor.is_finished():
            raise self._bad(f"{len(data)} bytes follow the end of the compressed body")
        try:
            self._room = self._keep(self._process(data))
            # Output held back by the limit is drained before more input may go in.
            while not self._decompressor.can_accept_more_data():
                out = self._process(b"")
                if not out:
                    raise self._bad("the compressed body makes no progress")
                self._room = self._keep(out)
        except brotli.error as exc:
            raise self._bad("the compressed body is corrupt") from exc

    def finish(self) -> None:
        if not self._decompressor.is_finished():
            raise self._bad("the compressed body ends before its compressed stream does")

    def _process(self, data: bytes) -> bytes:
        out: bytes = self._decompressor.process(data, output_buffer_limit=self._room + 1)
        return out


def _gzip(keep: Keep, shown: str) -> _Decoder:
    return _Inflate(keep, shown, gzip=True)


def _deflate(keep: Keep, shown: str) -> _Decoder:
    return _Inflate(keep, shown, gzip=False)


_DECODERS: dict[str, Callable[[Keep, str], _Decoder]] = {
    "gzip": _gzip, "deflate": _deflate, "br": _Brotli,
}
