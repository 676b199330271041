"""Redaction: every injected secret cut out of what an API sends back, in any form it takes.

An API that reflects its credentials (an echo endpoint, an error page quoting the
request, a parser error quoting a header line) would otherwise hand the caller's token
to the pack. A :class:`Redactor` finds a secret

* as it is, and in every layer of escaping :mod:`corral._fetch.unescape` reads: percent
  (either hex case, ``+`` for a space), JSON (``\\/``, ``\\uXXXX`` of any character,
  ``json.dumps``' own escapes), HTML entities (named, decimal, hex), backslash escapes,
  each of any character and composed up to ``MAX_LAYERS`` deep;
* as its UTF-8 bytes read as Latin-1 (how HTTP header values are read);
* in hex (either case) and in base64 and base64url, padded or not, standalone or inside
  a longer encoded blob at any of the three byte alignments (its line-wrapped form too),
  and those encodings escaped again as above.

Whatever span of the original text decodes to a secret is replaced as a whole.

A secret of fewer than :data:`MIN_SUBSTRING_CHARS` characters is still redacted, but only
where it stands as a whole token (no letter, digit or underscore on either side): cutting
every ``42`` out of every number would corrupt the data the caller asked for without
protecting anything, since where the host sends a secret it is always set off by
separators it writes itself (``Bearer 42``, ``&key=42``), and that is how a reflection
shows it. Base64 runs from inside a longer blob are only matched for the same length,
for the same reason: a short run matches by chance.
"""

from __future__ import annotations

import base64
import functools
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from .unescape import decoded_views

REDACTED = "[redacted by corral]"
#: Shorter secrets are redacted only where they stand as a whole token.
MIN_SUBSTRING_CHARS = 8
#: Texts up to this length are first checked with one pattern for every form.
_SHORT_TEXT = 4096
#: Causes chained behind an error that are rewritten (deeper ones are dropped).
_MAX_CAUSES = 8


class Redactor:
    """Finds and replaces a fixed set of secrets in text, bytes, nested values and errors."""

    def __init__(self, secrets: Iterable[str] = (), *, deadline: float | None = None,
                 ignore_case: bool = False) -> None:
        """``deadline`` (a ``time.monotonic`` time) bounds the work of decoding escapes in
        what is redacted; past it, :class:`~corral.FetchTimeout`. Errors are always
        redacted, deadline or not. ``ignore_case`` is for text that was case-folded on
        the way (header names), where a secret shows in the wrong case."""
        self.secrets: frozenset[str] = frozenset(s for s in secrets if s)
        self.deadline = deadline
        flags = re.IGNORECASE if ignore_case else 0
        self._patterns = [form for secret in sorted(_needed(self.secrets))
                          for form in _forms(secret, flags)]
        # One alternation of every form: slow to scan a long text with, but one call
        # instead of one per form tells a short text (a header, a JSON string) is clean.
        self._any = re.compile("|".join(f"(?:{form.pattern.pattern})"
                                        for form in self._patterns), flags)

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def __or__(self, other: Redactor) -> Redactor:
        return self if other.secrets <= self.secrets else Redactor(self.secrets | other.secrets)

    def __repr__(self) -> str:
        return f"Redactor({len(self.secrets)} secrets)"  # never the secrets

    def text(self, text: str) -> str:
        return self._text(text, self.deadline)

    def _text(self, text: str, deadline: float | None) -> str:
        if not self._patterns or not text:
            return text
        spans = self._spans(text, deadline)
        if not spans:
            return text
        out: list[str] = []
        pos = 0
        for start, end in spans:
            out.append(text[pos:start])
            out.append(REDACTED)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def data(self, data: bytes) -> bytes:
        """Bytes as UTF-8 where they are (undecodable bytes pass through unchanged)."""
        if not self._patterns or not data:
            return data
        text = data.decode("utf-8", "surrogateescape")
        redacted = self.text(text)
        return data if redacted is text else redacted.encode("utf-8", "surrogateescape")

    def value(self, value: Any) -> Any:
        """``value`` with every secret replaced, in strings, bytes, keys and nested values."""
        if not self._patterns:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (bytes, bytearray)):
            return self.data(bytes(value))
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.value(v) for v in value)
        return value

    def error(self, exc: BaseException) -> None:
        """Rewrite ``exc`` in place: its args, message, details, notes, and every chained
        cause (replaced by a :class:`RedactedCause` that keeps the redacted text)."""
        if not self._patterns:
            return
        self._rewrite(exc)
        current: BaseException = exc
        for _ in range(_MAX_CAUSES):
            via_cause = current.__cause__ is not None
            cause = current.__cause__ if via_cause else (
                None if current.__suppress_context__ else current.__context__)
            current.__context__ = None  # a hidden context can hold the text just as well
            if cause is None:
                return
            stand_in = RedactedCause(self._text(f"{type(cause).__name__}: {cause}", None))
            stand_in.__cause__, stand_in.__context__ = cause.__cause__, cause.__context__
            stand_in.__suppress_context__ = cause.__suppress_context__
            if via_cause:
                current.__cause__ = stand_in
            else:
                current.__context__ = stand_in
            current = stand_in
        current.__cause__ = current.__context__ = None

    def _rewrite(self, exc: BaseException) -> None:
        unbounded = Redactor.__new__(Redactor)
        unbounded.__dict__.update(self.__dict__, deadline=None)
        exc.args = tuple(unbounded.value(arg) for arg in exc.args)
        for name, attr in list(vars(exc).items()):
            if isinstance(attr, (str, bytes, dict, list, tuple)):
                setattr(exc, name, unbounded.value(attr))

    def _spans(self, text: str, deadline: float | None) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        for view in decoded_views(text, deadline):
            if len(view.text) <= _SHORT_TEXT and self._any.search(view.text) is None:
                continue
            for form in self._patterns:
                found.extend(view.source_span(start, end) for start, end in form.spans(view.text))
        return _merged(found)


def _needed(secrets: frozenset[str]) -> set[str]:
    """Secrets less those holding another long one ("Bearer tok..." holds "tok..."): each
    of its forms holds that one's, as it is, in hex, or inside base64 at some alignment."""
    long = [s for s in secrets if len(s) >= MIN_SUBSTRING_CHARS]
    return {s for s in secrets if not any(t != s and t in s for t in long)}


class RedactedCause(Exception):
    """Stands in for an exception chained behind a redacted error; its text is redacted."""


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


# -- the forms one secret takes ------------------------------------------------------------


@dataclass(frozen=True)
class _Form:
    """One form of one secret: a pattern, and whether it must stand as a whole token."""

    pattern: re.Pattern[str]
    whole_token: bool

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        match = self.pattern.search(text)
        while match is not None:  # overlapping matches too: "abab" twice in "ababab"
            start, end = match.span()
            if not self.whole_token or not (_word_at(text, start - 1) or _word_at(text, end)):
                yield start, end
            match = self.pattern.search(text, start + 1)


def _word_at(text: str, pos: int) -> bool:
    return 0 <= pos < len(text) and (text[pos].isalnum() or text[pos] == "_")


@functools.lru_cache(maxsize=256)
def _forms(secret: str, flags: int = 0) -> list[_Form]:
    """Every form of ``secret``, each searched on its own: a pattern that starts with a
    literal is found at the speed of ``str.find``, an alternation of them is not."""
    data = secret.encode("utf-8", "surrogatepass")
    # As sent, as its UTF-8 bytes read as Latin-1 (how a header value is read), in hex.
    whole = [_text_form(secret), _text_form(data.decode("latin-1")),
             f"(?i:{re.escape(data.hex())})"]
    inside: list[str] = []
    for alphabet in (base64.b64encode, base64.urlsafe_b64encode):
        whole.append(_base64_form(alphabet(data).decode("ascii").rstrip("=")))
        for shift in range(3):
            core = _base64_core(alphabet, data, shift)
            if len(core) >= MIN_SUBSTRING_CHARS:
                inside.append(_base64_form(core))
    if any(mark in secret for mark in _INTRODUCERS):
        whole.append(_mixed_form(secret))
    short = len(secret) < MIN_SUBSTRING_CHARS
    forms = {form: short for form in whole}
    forms.update({form: False for form in inside if form not in forms})
    return [_Form(re.compile(form, flags), token) for form, token in forms.items()]


#: Characters that start an escape: a secret holding one may have it read together with
#: the text after it (``\\`` then ``]`` reads as ``\\]``), so no decoded view holds it.
_INTRODUCERS = ("\\", "%", "&")
_NAMED = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos"}


def _mixed_form(secret: str) -> str:
    """The secret with any of its characters in any one-layer escape (HTML, percent, JSON,
    ``\\x``, a backslash before punctuation) and the rest as they are: how an API writes
    it when it escapes some characters and leaves the secret's escape introducers alone."""
    return "".join(_char_form(char) for char in secret)


def _char_form(char: str) -> str:
    code = ord(char)
    utf8 = char.encode("utf-8", "surrogatepass")
    alternatives = ["[ +]" if char == " " else re.escape(char),
                    f"&\\#0*{code};?", f"&\\#[xX]0*{_any_case(f'{code:x}')};?",
                    "".join(f"%{_any_case(f'{b:02x}')}" for b in utf8),
                    "".join(f"\\\\x{_any_case(f'{b:02x}')}" for b in utf8)]
    units = char.encode("utf-16-be", "surrogatepass")
    alternatives.append("".join(f"\\\\u{_any_case(units[i:i + 2].hex())}"
                                for i in range(0, len(units), 2)))
    if char in _NAMED:
        alternatives.append(f"&{_NAMED[char]};?")
    if not char.isalnum() and char.isascii() and char.isprintable():
        alternatives.append("\\\\" + re.escape(char))
    return "(?:" + "|".join(alternatives) + ")"


def _any_case(hex_digits: str) -> str:
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in hex_digits)


def _text_form(secret: str) -> str:
    """The secret itself; a space in it also matches the ``+`` of form encoding."""
    return "".join("[ +]" if char == " " else re.escape(char) for char in secret)


def _base64_form(encoded: str) -> str:
    # Encoders wrap lines (MIME at 76 columns, PEM at 64): allow a line break anywhere.
    return r"(?:\r?\n)?".join(re.escape(char) for char in encoded)


def _base64_core(encode: Any, data: bytes, shift: int) -> str:
    """The characters of ``data``'s encoding that only its own bits decide, when it
    starts ``shift`` bytes into a longer encoded blob."""
    encoded = encode(bytes(shift) + data).decode("ascii").rstrip("=")
    first = -(-8 * shift // 6)
    last = 8 * (shift + len(data)) // 6
    return str(encoded[first:last])
