"""The auth kinds' part of docs/reference.md: for each kind, an ``[auth]`` table and the
secret a caller gives when making a connection (``POST /v1/connections``, ``corral
connect --secret``, ``Host.create_connection``). A test checks every example parses and
validates, and that every kind has one."""

from __future__ import annotations

import json
from typing import Any

#: kind -> (the [auth] table in TOML, the connection secret, one line on what the host does)
AUTH_EXAMPLES: dict[str, tuple[str, dict[str, Any], str]] = {
    "none": ('kind = "none"', {}, "No credentials; the pack takes no connection."),
    "bearer": ('kind = "bearer"', {"token": "ghp_..."},
               "`Authorization: Bearer <token>` (or `prefix`)."),
    "header": ('kind = "header"\nname = "X-Api-Key"', {"value": "k-..."},
               "The named header carries the value (after `prefix`, if any)."),
    "headers": ('kind = "headers"\nheaders = ["X-Key", { name = "X-Org", prefix = "org" }]',
                {"values": {"X-Key": "k-...", "X-Org": "42"}}, "Each declared header."),
    "query": ('kind = "query"\nparam = "api_key"', {"value": "k-..."},
              "The query parameter `api_key`."),
    "queries": ('kind = "queries"\nparams = ["key", "sig"]',
                {"values": {"key": "k-...", "sig": "s-..."}}, "Each declared query parameter."),
    "basic": ('kind = "basic"', {"username": "ada", "password": "..."},
              "`Authorization: Basic base64(username:password)`."),
    "oauth2_code": (
        'kind = "oauth2_code"\nauthorize_url = "https://idp.example.com/authorize"\n'
        'token_url = "https://idp.example.com/token"\nscopes = ["read"]\npkce = true',
        {"client_id": "cid", "access_token": "at-...", "refresh_token": "rt-...",
         "expires_at": 1767225600},
        "Usually made by the browser flow (`/v1/oauth2/<pack>/start`); the host refreshes "
        "the token before it expires and after a 401."),
    "oauth2_client_credentials": (
        'kind = "oauth2_client_credentials"\ntoken_url = "https://idp.example.com/token"',
        {"client_id": "cid", "client_secret": "cs-..."},
        "The host fetches and renews the access token itself."),
    "custom": (
        'kind = "custom"\nparams = [\n  { name = "apiKey", description = "API key", '
        'places = ["header", "query"] },\n  { name = "account", description = "Account '
        'secret", places = ["body"] },\n]',
        {"values": {"apiKey": "k-...", "account": "a-..."}},
        "The guest writes `{{apiKey-<ctx.connection.placeholder_token>}}` where the secret "
        "belongs; the host fills it in, only in the places declared and only in requests "
        "to the auth domains. Anything else goes out as written."),
    "aws_access_key": (
        'kind = "aws_access_key"\nservice = "execute-api"\nregion = "eu-west-1"',
        {"access_key_id": "AKIAIOSFODNN7EXAMPLE",
         "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
        "The host signs every request (SigV4, botocore); `region` defaults to the one in an "
        "`*.<region>.amazonaws.com` host; `session_token` is optional."),
    "aws_assume_role": (
        'kind = "aws_assume_role"\nservice = "execute-api"\nregion = "eu-west-1"',
        {"role_arn": "arn:aws:iam::123456789012:role/CorralReader",
         "external_id": "corral-7f3a"},
        "The host calls STS AssumeRole (`aws_sts_endpoint`) as itself (`aws_access_key_id`, "
        "`aws_secret_access_key`), keeps the temporary credentials until they expire, and "
        "signs with them."),
    "google_service_account": (
        'kind = "google_service_account"\n'
        'scopes = ["https://www.googleapis.com/auth/spreadsheets.readonly"]',
        {"service_account_key": {"type": "service_account",
                                 "client_email": "robot@project.iam.gserviceaccount.com",
                                 "private_key": "-----BEGIN PRIVATE KEY-----\\n...",
                                 "private_key_id": "1a2b...",
                                 "token_uri": "https://oauth2.googleapis.com/token"}},
        "The key file's JSON (object or text). The host makes the JWT bearer grant (RFC "
        "7523, RS256) to `token_uri` (Google's endpoints only), keeps the access token "
        "until it expires and sends `Authorization: Bearer`."),
}

ENDPOINT_EXAMPLE = ('kind = "bearer"\nrequires_endpoint_url = true\n'
                    'endpoint_domain = "example.net"',
                    {"token": "...", "endpoint": "https://acme.example.net"})


def auth_examples_section() -> list[str]:
    """Markdown: one example per auth kind, then the per-connection endpoint."""
    out = ["", "#### Each auth kind: `[auth]` and the connection secret", ""]
    for kind, (toml, secret, meaning) in AUTH_EXAMPLES.items():
        out += [f"`{kind}`: {meaning}", "", "```toml", "[auth]", toml, "```", "",
                "```json", json.dumps(secret), "```", ""]
    toml, secret = ENDPOINT_EXAMPLE
    out += ["Per-connection endpoints (any kind): with `requires_endpoint_url = true` each "
            "connection's secret also names its `endpoint`, an https URL with only a host "
            "(no IP address, userinfo or path) inside `endpoint_domain` (default: the only "
            "network domain) on a port it admits. The guest reads it in "
            "`ctx.connection.endpoint`; credentials go to that host and port only.", "",
            "```toml", "[auth]", toml, "```", "", "```json", json.dumps(secret), "```", ""]
    return out
