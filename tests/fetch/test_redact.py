"""Redaction: a secret is cut out in every form a reflecting API writes it, for secrets of
any length and any characters, alone and composed; errors and their causes; log records
of any logger while a fetch holds credentials."""

from __future__ import annotations

import base64
import html
import itertools
import json
import logging
import re
import time
import traceback
from typing import Callable
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral import FetchNetworkError, FetchTimeout
from corral._connections.auth import MIN_REDACTED_CHARS, secret_strings
from corral._fetch.redact import MIN_SUBSTRING_CHARS, REDACTED, RedactedCause, Redactor
from corral._fetch.redact_logs import SecretsInFlight
from corral._pack.manifest import AuthSpec

Encode = Callable[[str], str]


def _json_every_char(text: str) -> str:
    units = text.encode("utf-16-be")
    return "".join(f"\\u{units[i]:02X}{units[i + 1]:02X}" for i in range(0, len(units), 2))


def _lower_hex(text: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), text)


#: One layer of escaping each: what an API does to a string it reflects.
ESCAPES: dict[str, Encode] = {
    "percent": lambda s: quote(s, safe=""),
    "percent-lower": lambda s: _lower_hex(quote(s, safe="")),
    "percent-plus": quote_plus,
    "json": json.dumps,
    "json-ascii": lambda s: json.dumps(s, ensure_ascii=True),
    "json-slash": lambda s: json.dumps(s, ensure_ascii=False).replace("/", "\\/"),
    "json-every-char": _json_every_char,
    "html-named": html.escape,
    "html-decimal": lambda s: "".join(f"&#{ord(c)};" for c in s),
    "html-hex": lambda s: "".join(f"&#x{ord(c):X};" for c in s),
    "backslash-bytes": lambda s: "".join(f"\\x{b:02x}" for b in s.encode()),
}
#: Encodings that are not escapes: found as derived strings, then escaped again.
ENCODINGS: dict[str, Encode] = {
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64-bare": lambda s: base64.b64encode(s.encode()).decode().rstrip("="),
    "base64url": lambda s: base64.urlsafe_b64encode(s.encode()).decode(),
    "base64url-bare": lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
    "base64-mime": lambda s: base64.encodebytes(s.encode() * 4).decode(),
    "base64-at-1": lambda s: base64.b64encode(b"x" + s.encode() + b"yz").decode(),
    "base64-at-2": lambda s: base64.b64encode(b"xy" + s.encode() + b"z").decode(),
    "hex": lambda s: s.encode().hex(),
    "hex-upper": lambda s: s.encode().hex().upper(),
    "latin-1-read": lambda s: s.encode().decode("latin-1"),
}
FORMS: dict[str, Encode] = {"exact": lambda s: s, **ESCAPES, **ENCODINGS}

SECRET_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0")
LONG_SECRETS = st.text(SECRET_CHARS, min_size=MIN_SUBSTRING_CHARS, max_size=40)


def leaked(secret: str, encoded: str, out: str) -> bool:
    # Looked for around the markers: a secret may happen to spell part of one.
    rest = out.replace(REDACTED, "\0")
    return secret in rest or encoded in rest or REDACTED not in out


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_form_of_a_secret_is_redacted(form: str) -> None:
    secret = 'tok/SECRET+4f1c=a&b"é😀 x'
    encoded = FORMS[form](secret)
    out = Redactor([secret]).text(f"before {encoded} after")
    assert not leaked(secret, encoded, out), out
    assert out.startswith("before ") and out.endswith(" after")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=LONG_SECRETS, form=st.sampled_from(sorted(FORMS)))
def test_any_secret_is_redacted_in_any_form(secret: str, form: str) -> None:
    encoded = FORMS[form](secret)
    out = Redactor([secret]).text(f"<{encoded}>")
    assert not leaked(secret, encoded, out), (form, out)


COMPOSED = sorted(itertools.product(sorted(FORMS), sorted(ESCAPES)))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=LONG_SECRETS, pair=st.sampled_from(COMPOSED))
def test_any_secret_is_redacted_under_an_escape_of_any_form(
        secret: str, pair: tuple[str, str]) -> None:
    inner, outer = pair
    encoded = ESCAPES[outer](FORMS[inner](secret))
    out = Redactor([secret]).text(f"[{encoded}]")
    assert not leaked(secret, encoded, out), (inner, outer, out)


def test_three_layers_of_percent_encoding_are_read() -> None:
    secret = "tok/SECRET+4f1c"
    encoded = quote(quote(quote(secret, safe=""), safe=""), safe="")
    assert "%25252F" in encoded
    assert Redactor([secret]).text(encoded) == REDACTED


@settings(max_examples=60, deadline=None)
@given(secret=st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd")), min_size=1,
                      max_size=MIN_SUBSTRING_CHARS - 1),
       form=st.sampled_from(["exact", "percent", "json-every-char", "html-decimal",
                             "base64-bare", "hex"]))
def test_a_short_secret_is_redacted_wherever_it_stands_as_a_token(secret: str,
                                                                  form: str) -> None:
    encoded = FORMS[form](secret)
    for template in ("{}", "key={}&x=1", '{{"v": "{}"}}', "Bearer {}"):
        # Compared whole: a one-letter secret ("a") also occurs in "Bearer" and the marker,
        # and one that is a word of the template itself ("key") is rightly cut there too.
        if Redactor([secret]).text(template.format("")) != template.format(""):
            continue
        out = Redactor([secret]).text(template.format(encoded))
        assert out == template.format(REDACTED), (template, encoded, out)


def test_a_short_secret_inside_a_longer_word_is_left_alone() -> None:
    redactor = Redactor(["42"])
    assert redactor.text("order 1423 and x42y, id_42") == "order 1423 and x42y, id_42"
    assert redactor.text("org 42, [42], %3D42%26") == (
        f"org {REDACTED}, [{REDACTED}], %3D{REDACTED}%26")


def test_overlapping_and_repeated_secrets_leave_no_fragment() -> None:
    redactor = Redactor(["abababab12", "ab12-xyz-9876"])
    assert redactor.text("x abababab12-xyz-9876 y") == f"x {REDACTED} y"
    assert redactor.text("abababab12abababab12") == REDACTED


def test_bytes_keys_and_nested_values_are_redacted() -> None:
    secret = "tok-SECRET-4f1c2e9a"
    redactor = Redactor([secret])
    value = {f"k-{secret}": [secret.encode() + b"\xff", ("t", quote(secret))],
             "n": 1, "b": b"\x00\xfe"}
    out = redactor.value(value)
    assert out == {f"k-{REDACTED}": [REDACTED.encode() + b"\xff", ("t", REDACTED)], "n": 1,
                   "b": b"\x00\xfe"}


def test_header_names_folded_to_lower_case_are_matched_in_any_case() -> None:
    secret = "Tok-SECRET-4f1c2e9a"
    assert Redactor([secret]).text(f"x-{secret.lower()}") == f"x-{secret.lower()}"
    assert Redactor([secret], ignore_case=True).text(f"x-{secret.lower()}") == f"x-{REDACTED}"


def test_an_error_is_redacted_with_its_details_notes_and_causes() -> None:
    secret = "tok-SECRET-4f1c2e9a"
    try:
        try:
            try:
                raise ValueError(f"bad header line b'X: {secret}'")
            except ValueError as inner:
                raise KeyError(quote(secret)) from inner
        except KeyError:  # an implicit context this time
            raise FetchNetworkError(f"GET /x/{secret} failed", url=f"http://a.test/{secret}")
    except FetchNetworkError as caught:
        error = caught
    error.add_note(f"note {secret}")
    Redactor([secret]).error(error)
    text = "".join(traceback.format_exception(error)) + repr(vars(error)) + repr(error.args)
    assert secret not in text and quote(secret) not in text
    assert error.url == f"http://a.test/{REDACTED}" and error.details["url"] == error.url
    assert isinstance(error.__context__, RedactedCause)
    assert isinstance(error.__context__.__cause__, RedactedCause)
    assert "bad header line" in str(error.__context__.__cause__), "the cause is still told"


def test_decoding_stops_at_the_deadline() -> None:
    redactor = Redactor(["tok-SECRET-4f1c2e9a"], deadline=time.monotonic() - 1)
    with pytest.raises(FetchTimeout):
        redactor.text("%41 " * 10_000)
    assert Redactor(["tok-SECRET-4f1c2e9a"], deadline=time.monotonic() - 1).text("plain") == (
        "plain"), "a text without escapes costs nothing to check"


def test_a_body_of_nothing_but_escapes_is_redacted_exactly() -> None:
    secret = "tok-SECRET-4f1c2e9a"
    body = json.dumps("é" * 50_000 + secret + "é" * 50_000, ensure_ascii=True)
    body = body.replace("SECRET", "\\u0053ECRET")
    out = Redactor([secret]).text(body)
    assert secret not in out and out.count(REDACTED) == 1
    assert out.startswith('"' + "\\u00e9" * 50_000) and out.endswith("\\u00e9" * 50_000 + '"')


# -- which strings are secrets ------------------------------------------------------------


def spec(kind: str, **options: object) -> AuthSpec:
    return AuthSpec(kind=kind, options=dict(options))


def test_secrets_of_any_length_count_and_identities_only_when_long() -> None:
    found = secret_strings(spec("basic"), {"username": "ada", "password": "pw"})
    pair = base64.b64encode(b"ada:pw").decode()
    assert found == {"pw", "ada:pw", pair}, "the username is a name, not a secret"
    assert "ada" in secret_strings(spec("basic"), {"username": "ada", "password": ""}), (
        "with no password the username is the key")
    long_id = "x" * MIN_REDACTED_CHARS
    assert long_id in secret_strings(spec("oauth2_code"), {"client_id": long_id,
                                                           "access_token": "t"})
    headers = secret_strings(spec("headers", headers=["X-Key", "X-Org"]),
                             {"values": {"X-Key": "k", "X-Org": "42"}})
    assert headers == {"k", "42"}


# -- log records ----------------------------------------------------------------------------


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter("%(message)s").format(record)
                          + repr(vars(record)))


def test_every_record_made_while_a_secret_is_in_flight_is_redacted() -> None:
    secret = "tok-SECRET-4f1c2e9a"
    handler = Collect()
    other = logging.getLogger("some.third.party")
    other.addHandler(handler)
    other.setLevel(logging.DEBUG)
    try:
        other.debug("before %s", secret)
        with SecretsInFlight() as in_flight:
            in_flight.learn([secret])
            other.debug("headers=%r", [(b"X-Echo", secret.encode())])
            other.info("args %s", {"token": quote(secret)})
            try:
                raise ValueError(f"line {secret}")
            except ValueError:
                other.exception("failed")
            other.debug("%d%%", 5)
        other.debug("after %s", secret)
    finally:
        other.removeHandler(handler)
    during = handler.lines[1:5]
    assert secret in handler.lines[0] and secret in handler.lines[-1], "only while in flight"
    assert all(secret not in line and quote(secret) not in line for line in during), during
    assert REDACTED in during[0] and "5%" in during[3]


def test_secrets_are_known_to_the_log_only_while_a_fetch_is_entered() -> None:
    from corral._fetch import redact_logs

    quiet = SecretsInFlight()
    with quiet:
        assert redact_logs._active == (), "a fetch without credentials registers nothing"
    early = SecretsInFlight()
    early.learn(["tok-SECRET-4f1c2e9a"])
    assert redact_logs._active == ()
    with early:
        assert early.redactor in redact_logs._active
    assert redact_logs._active == ()


@pytest.mark.parametrize("secret", ["000000'\\", "tok%41en&amp-x", "ab\\cd&#39;ef", "secret-100%\\x"])
@pytest.mark.parametrize("outer", sorted(ESCAPES))
def test_a_secret_holding_escape_introducers_is_redacted_when_escaped_beside_text(
        secret: str, outer: str) -> None:
    # The secret's own backslash, percent or ampersand may be read together with what
    # follows it ("\\" then "]" reads as the escape "\\]"); found by hypothesis in CI.
    encoded = ESCAPES[outer](secret)
    for around in ("[{}]", "{}]", "x{}41", "&{};"):
        out = Redactor([secret]).text(around.format(encoded))
        assert not leaked(secret, encoded, out), (outer, around, out)
