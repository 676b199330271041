"""Redaction: every injected secret removed from what an API sends back to a guest.

An API that reflects its credentials (an echo endpoint, an error page quoting the request)
would otherwise hand the caller's token to the pack. Secrets are replaced in every form
listed by :func:`secret_forms`, wherever they occur in the response.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[redacted by corral]"


def secret_forms(secrets: frozenset[str]) -> list[str]:
    """Each secret as sent and as an API might echo it back (URL-encoded), longest first
    so a longer form is replaced before a shorter one inside it."""
    forms = {form for s in secrets for form in (s, quote(s, safe=""), quote_plus(s))}
    return sorted(forms, key=len, reverse=True)


def redact(value: Any, secrets: list[str]) -> Any:
    """``value`` with every one of ``secrets`` replaced, in strings, bytes, keys and nested
    values alike."""
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        for secret in secrets:
            data = data.replace(secret.encode(), REDACTED.encode())
        return data
    if isinstance(value, dict):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets) for v in value]
    return value
