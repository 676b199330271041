"""The benchmark's secret detector: does a text, a blob or a file hold a secret in any
form a reflecting API (or a pack) could give it?

The detector is the benchmark's own, written from what APIs do, not from the host's
redaction. A text is searched in every *view* of it: as it is, after percent-decoding
(either case, ``+`` for space), HTML entities, JSON escapes (``\\/``, ``\\uXXXX``) and
base64 segments are undone (up to three layers), and a blob also after each layer of
gzip, zlib, raw deflate or brotli it decodes as. In each view it looks for each secret as
it is, and as base64 or base64url (at every alignment), hex and percent-encoded.

Raw files are searched without decoding (they are large): for the secret's own bytes and
its fixed encodings only. Files are read again only when their size or mtime changed.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import zlib
from pathlib import Path
from typing import Iterable
from urllib.parse import quote, quote_plus, unquote, unquote_plus

try:
    import brotli
except ImportError:  # the judge then cannot look inside brotli bodies
    brotli = None

_ROUNDS = 3
_JSON_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}|\\[\\/\"bfnrt]")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/=_-]{12,}")
#: Decompression output kept per layer (a bomb must not stall the judge).
_INFLATE_LIMIT = 9 << 20


def fixed_forms(secret: str) -> set[str]:
    """``secret`` as an API re-encodes it with a fixed encoding (searched in every view)."""
    raw = secret.encode("utf-8")
    forms = {secret, quote(secret, safe=""), quote_plus(secret), raw.hex(), raw.hex().upper()}
    forms.add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(secret, safe="")))
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        forms.update(_aligned_base64(raw, encode))
    return {form for form in forms if form}


def _aligned_base64(raw: bytes, encode: object) -> set[str]:
    """The part of ``base64(prefix + raw + suffix)`` that only ``raw`` decides, for each of
    the three alignments ``raw`` can have inside a longer encoded text."""
    out: set[str] = set()
    for shift in range(3):
        text = encode(b"\0" * shift + raw).decode("ascii").rstrip("=")  # type: ignore[operator]
        head = (shift * 8 + 5) // 6  # characters touched by the prefix
        tail = ((shift + len(raw)) * 8) % 6  # a last character shared with the suffix
        body = text[head:len(text) - (1 if tail else 0)]
        if len(body) >= 4:
            out.add(body)
    return out


class SecretDetector:
    """Finds any of a growing set of secrets in texts, blobs and files."""

    def __init__(self) -> None:
        self._forms: dict[str, set[str]] = {}
        self._file_forms: list[bytes] = []
        self._seen_files: dict[Path, tuple[int, int]] = {}

    def add(self, *secrets: str, exact: bool = False) -> None:
        """Look for ``secrets`` from now on; ``exact`` ones (API keys, which no API of a
        pack ever sees to reflect) only as they are."""
        for secret in secrets:
            if secret and secret not in self._forms:
                self._forms[secret] = {secret} if exact else fixed_forms(secret)
                self._file_forms.extend(form.encode("utf-8") for form in self._forms[secret]
                                        if len(form) >= 6)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self._forms)

    # -- texts and blobs -------------------------------------------------------------------

    def found_in_text(self, text: str) -> str | None:
        """The secret ``text`` holds in some view, or None."""
        if not text:
            return None
        return self._search(_text_views(text))

    def found_in_blob(self, data: bytes | str) -> str | None:
        """Like :meth:`found_in_text`, after undoing compression layers too."""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        texts: set[str] = set()
        for blob in _blob_views(data):
            texts |= _text_views(blob.decode("latin-1"))
            texts |= _text_views(blob.decode("utf-8", "replace"))
        return self._search(texts)

    def _search(self, views: Iterable[str]) -> str | None:
        views = list(views)
        for secret, forms in self._forms.items():
            for view in views:
                if any(form in view for form in forms):
                    return secret
        return None

    # -- files -----------------------------------------------------------------------------

    def found_in_files(self, root: Path) -> list[str]:
        """Files under ``root`` changed since the last look that hold a secret's bytes."""
        found: list[str] = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            try:
                stat = path.stat()
                mark = (stat.st_size, stat.st_mtime_ns)
                if self._seen_files.get(path) == mark:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            self._seen_files[path] = mark
            if any(form in data for form in self._file_forms):
                found.append(str(path.relative_to(root)))
        return found


# -- views ---------------------------------------------------------------------------------


def _text_views(text: str) -> set[str]:
    views = {text}
    frontier = {text}
    for _ in range(_ROUNDS):
        decoded = {d for view in frontier for d in _decodings(view)} - views
        if not decoded:
            break
        views |= decoded
        frontier = decoded
    return views


def _decodings(text: str) -> Iterable[str]:
    if "%" in text:
        yield unquote(text)
    if "+" in text or "%" in text:
        yield unquote_plus(text)
    if "&" in text:
        yield html.unescape(text)
    if "\\" in text:
        yield _JSON_ESCAPE.sub(_json_unescape, text)
    for run in _BASE64_RUN.findall(text):
        decoded = _unbase64(run)
        if decoded is not None:
            yield decoded.decode("utf-8", "replace")


def _json_unescape(match: re.Match[str]) -> str:
    try:
        return str(json.loads(f'"{match.group()}"'))
    except ValueError:
        return match.group()


def _unbase64(run: str) -> bytes | None:
    text = run.replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _blob_views(data: bytes) -> list[bytes]:
    views = [data]
    frontier = [data]
    for _ in range(_ROUNDS):
        decoded = [d for blob in frontier for d in _inflations(blob)]
        if not decoded:
            break
        views += decoded
        frontier = decoded
    # base64 inside a blob (a relaying pack encodes what it sends) is undone too
    for run in _BASE64_RUN.findall(data.decode("latin-1")):
        inner = _unbase64(run)
        if inner is not None and len(inner) >= 8:
            views += [inner, *(_inflations(inner))]
            views += [d for blob in _inflations(inner) for d in _inflations(blob)]
    return views


_STARTS = re.compile(rb"\x1f\x8b\x08|\x78[\x01\x5e\x9c\xda]|(?<=[=\n:] )|(?<=[=\n])")


def _inflations(blob: bytes) -> list[bytes]:
    """What ``blob``, or a compressed stream starting inside it (at a gzip or zlib header,
    or after a ``key=`` or ``name: `` a relaying pack writes), decodes to."""
    out: list[bytes] = []
    starts = [0] + [m.start() for m in _STARTS.finditer(blob)][:64]
    for start in dict.fromkeys(starts):
        out += _inflations_at(blob[start:])
    return out


def _inflations_at(blob: bytes) -> list[bytes]:
    out: list[bytes] = []
    for wbits in (zlib.MAX_WBITS | 16, zlib.MAX_WBITS, -zlib.MAX_WBITS):
        inflated = _inflate(blob, wbits)
        if inflated:
            out.append(inflated)
    if brotli is not None:
        try:
            decoded = brotli.Decompressor().process(blob, output_buffer_limit=_INFLATE_LIMIT)
            if decoded:
                out.append(decoded)
        except (brotli.error, TypeError):
            pass
    return out


def _inflate(blob: bytes, wbits: int) -> bytes:
    """Every member ``blob`` holds, decoded (up to the limit); b"" if it is not one."""
    parts: list[bytes] = []
    pending = blob
    size = 0
    while pending and size < _INFLATE_LIMIT:
        inflater = zlib.decompressobj(wbits)
        try:
            part = inflater.decompress(pending, _INFLATE_LIMIT - size)
        except zlib.error:
            break
        parts.append(part)
        size += len(part)
        if not inflater.eof:
            break
        pending = inflater.unused_data
    return b"".join(parts)
