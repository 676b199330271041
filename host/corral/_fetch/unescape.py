"""Decoded views: what a text says once one layer of its escapes is read.

An API that reflects a secret rarely hands it back verbatim: a URL percent-encodes it
(in either hex case), JSON writes ``\\/`` or ``\\u0074``, HTML writes ``&#116;`` or
``&sol;``, a debug dump writes ``\\x74``. :func:`decoded_views` reads every such escape,
of any character, and keeps for each decoded piece the span of the original text it
came from, so a secret found in a view can be cut out of the original. Layers compose:
``%252F`` is ``%2F`` in the first view and ``/`` in the second.

A view is built from runs of adjacent escapes, each decoded at once (by the C decoders
of ``bytes.fromhex`` and ``json`` where the run allows), so a body made of nothing but
escapes costs little; only a run that holds a match is decoded escape by escape, to
find exactly which escapes the match came from.

A plus sign is left as it is (it is a space only in a form-encoded query); whoever
searches a view matches a space against either.
"""

from __future__ import annotations

import codecs
import html.entities
import json
import re
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Iterator

from .._errors import FetchTimeout

#: How many layers of escaping are read (``%25252F`` is three).
MAX_LAYERS = 4

_ESCAPE = (
    r"(?P<bytes>%[0-9A-Fa-f]{2}|\\x[0-9A-Fa-f]{2})"    # a UTF-8 byte, percent or \x
    r"|(?:\\u|%u)(?P<hi>[dD][89abAB][0-9A-Fa-f]{2})"   # a UTF-16 surrogate pair
    r"(?:\\u|%u)(?P<lo>[dD][c-fC-F][0-9A-Fa-f]{2})"
    r"|(?:\\u|%u)(?P<u4>[0-9A-Fa-f]{4})"             # JSON, JavaScript, old IIS
    r"|\\u\{(?P<ubrace>[0-9A-Fa-f]{1,6})\}"           # JavaScript code points
    r"|\\U(?P<u8>[0-9A-Fa-f]{8})"                     # Python
    r"|\\(?P<short>[bfnrt])"                          # JSON control escapes
    r"|\\(?P<punct>[!-/:-@\[-`{-~])"                  # \/ \" \\ \' and other quoting
    r"|&\#(?P<dec>[0-9]{1,8});?"                       # HTML decimal
    r"|&\#[xX](?P<hex>[0-9A-Fa-f]{1,8});?"             # HTML hex
    r"|&(?P<name>[A-Za-z][A-Za-z0-9]{1,31};?)")        # HTML named
_ONE = re.compile(_ESCAPE)
# Runs of escapes; the lookahead lets the engine skip to an introducer quickly.
_RUN = re.compile(r"(?=[%\\&])(?:" + re.sub(r"\(\?P<\w+>", "(?:", _ESCAPE) + ")+")
_BYTE_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2}|\\x[0-9A-Fa-f]{2})+")
_JSON_RUN = re.compile(r"(?:\\u[0-9A-Fa-f]{4})+")
_SHORT = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_INTRODUCERS = ("%", "\\", "&")
_CACHE_RUNS = 4096
_CHECK_EVERY = 1024


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    """A byte that is not UTF-8 reads as the Latin-1 character of that byte."""
    assert isinstance(error, UnicodeDecodeError)
    bad = error.object[error.start:error.end]
    return "".join(map(chr, bad)), error.end


codecs.register_error("corral-latin1-fallback", _latin1_fallback)


@dataclass
class View:
    """A decoded text and, per piece of it, the span of its parent it came from.

    A literal piece maps character by character; a run piece (adjacent escapes, decoded
    together) is refined into one piece per escape when a match needs it.
    """

    text: str
    parent: View | None = None
    starts: list[int] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    literal: list[bool] = field(default_factory=list)
    _fine: dict[int, tuple[list[int], list[tuple[int, int]]] | None] = field(
        default_factory=dict)

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that ``text[start:end]`` was decoded from."""
        view: View | None = self
        while view is not None and view.parent is not None:
            start, end = view._parent_span(start, end)
            view = view.parent
        return start, end

    def _parent_span(self, start: int, end: int) -> tuple[int, int]:
        first = bisect_right(self.starts, start) - 1
        last = bisect_right(self.starts, max(end - 1, start)) - 1
        return self._map(first, start)[0], self._map(last, end - 1)[1]

    def _map(self, piece: int, pos: int) -> tuple[int, int]:
        """The parent span of the character at ``pos``, which lies in ``piece``."""
        src_start, src_end = self.spans[piece]
        offset = pos - self.starts[piece]
        if self.literal[piece]:
            return src_start + offset, src_start + offset + 1
        fine = self._refined(piece)
        if fine is None:
            return src_start, src_end
        starts, spans = fine
        return spans[bisect_right(starts, offset) - 1]

    def _refined(self, piece: int) -> tuple[list[int], list[tuple[int, int]]] | None:
        """Per escape of a run: its offset in the run's decoded text and its parent span.
        None (the run maps as a whole) if escape-by-escape decoding reads it otherwise."""
        if piece not in self._fine:
            assert self.parent is not None
            src_start, src_end = self.spans[piece]
            decoded_len = (self.starts[piece + 1] if piece + 1 < len(self.starts)
                           else len(self.text)) - self.starts[piece]
            expected = self.text[self.starts[piece]:self.starts[piece] + decoded_len]
            starts: list[int] = []
            spans: list[tuple[int, int]] = []
            parts: list[str] = []
            length = 0
            for text, start, end in _escape_pieces(self.parent.text, src_start, src_end):
                starts.append(length)
                spans.append((start, end))
                parts.append(text)
                length += len(text)
            self._fine[piece] = (starts, spans) if "".join(parts) == expected else None
        return self._fine[piece]


def decoded_views(text: str, deadline: float | None = None) -> Iterator[View]:
    """The text itself, then each further layer of decoding while one still changes it.

    Decoding costs Python work per run of escapes; past ``deadline`` (a ``monotonic``
    time) it stops with :class:`FetchTimeout`, so a body made to be slow to read costs
    no more than its call's own time.
    """
    view = View(text)
    yield view
    for _ in range(MAX_LAYERS):
        if not any(mark in view.text for mark in _INTRODUCERS):
            return
        decoded = _decode_layer(view, deadline)
        if decoded is None:
            return
        view = decoded
        yield view


def _decode_layer(parent: View, deadline: float | None) -> View | None:
    text = parent.text
    view = View("", parent)
    starts, spans, literal = view.starts, view.spans, view.literal
    parts: list[str] = []
    length = pos = 0
    cache: dict[str, str] = {}  # a body repeats its escapes (&amp; %20 \")
    for count, match in enumerate(_RUN.finditer(text)):
        if deadline is not None and count % _CHECK_EVERY == _CHECK_EVERY - 1:
            _check_deadline(deadline)
        run = match.group()
        decoded = cache.get(run)
        if decoded is None:
            decoded = _decode_run(run)
            if len(cache) < _CACHE_RUNS:
                cache[run] = decoded
        if decoded == run:
            continue  # nothing in the run decodes (unknown entities)
        start, end = match.span()
        if pos < start:
            starts.append(length)
            spans.append((pos, start))
            literal.append(True)
            parts.append(text[pos:start])
            length += start - pos
        starts.append(length)
        spans.append((start, end))
        literal.append(False)
        parts.append(decoded)
        length += len(decoded)
        pos = end
    if not parts:
        return None
    if pos < len(text):
        starts.append(length)
        spans.append((pos, len(text)))
        literal.append(True)
        parts.append(text[pos:])
    view.text = "".join(parts)
    return view


def _check_deadline(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise FetchTimeout("the response could not be checked for secrets in time",
                           rule="total_timeout")


def _decode_run(run: str) -> str:
    if _BYTE_RUN.fullmatch(run):
        hex_digits = run.replace("\\x", "").replace("%", "")
        return bytes.fromhex(hex_digits).decode("utf-8", "corral-latin1-fallback")
    if _JSON_RUN.fullmatch(run):
        decoded: str = json.loads('"' + run + '"')
        return decoded
    return "".join(part for part, _, _ in _escape_pieces(run, 0, len(run)))


def _escape_pieces(text: str, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    """(decoded text, start, end) per escape of a run; byte escapes grouped into one
    character each (UTF-8, or Latin-1 where the bytes are not UTF-8)."""
    pending: list[tuple[int, int, int]] = []  # byte escapes not yet read as characters
    pos = start
    while pos < end:
        match = _ONE.match(text, pos, end)
        if match is None:  # cannot happen inside a run; keep the rest as it is
            yield from _bytes_pieces(pending)
            yield text[pos:end], pos, end
            return
        if match.lastgroup == "bytes":
            pending.append((int(match.group(0)[-2:], 16), match.start(), match.end()))
        else:
            yield from _bytes_pieces(pending)
            pending = []
            yield _one(match), match.start(), match.end()
        pos = match.end()
    yield from _bytes_pieces(pending)


def _bytes_pieces(pending: list[tuple[int, int, int]]) -> Iterator[tuple[str, int, int]]:
    data = bytes(b for b, _, _ in pending)
    i = 0
    while i < len(data):
        size = _utf8_width(data[i])
        try:
            char = data[i:i + size].decode("utf-8") if size > 1 else ""
        except UnicodeDecodeError:
            char = ""
        if len(char) != 1:
            char, size = chr(data[i]), 1
        yield char, pending[i][1], pending[i + size - 1][2]
        i += size


def _one(match: re.Match[str]) -> str:
    """One escape, decoded; the escape's own text where it names nothing."""
    kind = match.lastgroup
    if kind == "lo":  # the pair matched as a whole; lastgroup names its second half
        high, low = int(match.group("hi"), 16), int(match.group("lo"), 16)
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    value = match.group(kind) if kind else ""
    if kind in ("u4", "ubrace", "u8", "dec", "hex"):
        number = int(value, 10 if kind == "dec" else 16)
        return chr(number) if number <= 0x10FFFF else match.group(0)
    if kind == "short":
        return _SHORT[value]
    if kind == "punct":
        return value
    return html.entities.html5.get(value, match.group(0))


def _utf8_width(lead: int) -> int:
    if lead >= 0xF0:
        return 4
    if lead >= 0xE0:
        return 3
    if lead >= 0xC0:
        return 2
    return 1
