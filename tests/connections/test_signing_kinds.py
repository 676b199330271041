"""The signing and minted-token auth kinds at the connection level: secret shapes checked
at creation (errors name the field, never a value), secrets sealed at rest, SigV4
signatures that the spec-derived verifier accepts and that any tampering breaks, the
service-account token_uri restriction, and minted credentials cached until expiry."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from corral import ArgumentError, ManifestError
from corral._connections import aws as _aws
from corral._connections.google import JWT_BEARER_GRANT, assertion
from corral._types import OutgoingRequest

from ..oauth_server import pack_with_auth
from ..signing_kit import aws_pack, store
from corral.testing._signing import Key, SignatureError, new_service_account, verify_sigv4

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEYS = {"AKIDEXAMPLE": Key(SECRET)}


def signed(body: bytes = b'{"a":1}', target: str = "/api/x?b=2&a=1") -> OutgoingRequest:
    request = OutgoingRequest("POST", "https", "api.aws.test", 443, target,
                              (("Content-Type", "application/json"), ("X-Note", "hello")), body)
    return _aws.sign(request, _aws.AwsKeys("AKIDEXAMPLE", SECRET), service="execute-api",
                     region="eu-west-1")


def verify(request: OutgoingRequest, **changes: object) -> str:
    headers = {name.lower(): value for name, value in request.headers}
    headers["host"] = "api.aws.test"
    headers.update({k.replace("_", "-"): str(v) for k, v in changes.items()
                    if k not in ("body", "target")})
    body = changes.get("body", request.body)
    target = changes.get("target", request.target)
    assert isinstance(body, bytes) and isinstance(target, str)
    return verify_sigv4(request.method, target, headers, body, KEYS,
                        service="execute-api", region="eu-west-1")


def test_a_botocore_signature_verifies_against_the_spec() -> None:
    assert verify(signed()) == "AKIDEXAMPLE"
    assert verify(signed(b"", "/")) == "AKIDEXAMPLE"
    assert verify(signed(b"", "/api/a%20b/c?x=%2F&y=")) == "AKIDEXAMPLE"


@pytest.mark.parametrize("tamper", [
    {"body": b'{"a":2}'},
    {"target": "/api/x?b=2&a=1&c=3"},
    {"target": "/api/y?b=2&a=1"},
    {"x_note": "goodbye"},
    {"content_type": "text/plain"},
    {"host": "evil.test"},
])
def test_a_tampered_request_fails_verification(tamper: dict[str, object]) -> None:
    with pytest.raises(SignatureError, match="SignatureDoesNotMatch"):
        verify(signed(), **tamper)


def test_a_changed_or_stale_date_fails_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    import botocore.auth

    request = signed()
    amz_date = {n.lower(): v for n, v in request.headers}["x-amz-date"]
    later = amz_date[:-3] + ("00Z" if not amz_date.endswith("00Z") else "01Z")
    with pytest.raises(SignatureError, match="SignatureDoesNotMatch"):
        verify(request, x_amz_date=later)
    with pytest.raises(SignatureError, match="not the request's"):
        verify(request, x_amz_date="20200101T000000Z")
    monkeypatch.setattr(botocore.auth, "get_current_datetime",
                        lambda: dt.datetime(2020, 1, 1, 12, 0, 0))
    with pytest.raises(SignatureError, match="RequestExpired"):
        verify(signed())  # signed correctly, but long ago: a replay


def test_the_region_comes_from_the_manifest_or_an_aws_host() -> None:
    assert _aws.region_for("x.execute-api.eu-central-1.amazonaws.com", None) == "eu-central-1"
    assert _aws.region_for("anything.test", "us-west-2") == "us-west-2"
    from corral import CredentialError

    with pytest.raises(CredentialError, match="auth.region"):
        _aws.region_for("api.aws.test", None)


# -- secret shapes and sealing ---------------------------------------------------------------


@pytest.mark.parametrize(("secret", "field"), [
    ({"secret_access_key": SECRET}, "access_key_id"),
    ({"access_key_id": "lowercase", "secret_access_key": SECRET}, "access_key_id"),
    ({"access_key_id": "AKIDEXAMPLE0001"[:4] + "X" * 12}, "secret_access_key"),
    ({"access_key_id": "AKIAXXXXXXXXXXXXXXXX", "secret_access_key": SECRET, "extra": 1},
     "extra"),
    ({"access_key_id": "AKIAXXXXXXXXXXXXXXXX", "secret_access_key": SECRET + "\n"},
     "secret_access_key"),
])
def test_aws_access_key_secret_shape(secret: dict[str, object], field: str,
                                     tmp_path: Path) -> None:
    with store(tmp_path / "db") as s:
        with pytest.raises(ArgumentError) as exc:
            s.create(principal="a", pack=aws_pack("aws_access_key", 443), name="x", secret=secret)
    assert exc.value.details["field"] == field and SECRET not in str(exc.value)


@pytest.mark.parametrize(("secret", "field"), [
    ({}, "role_arn"),
    ({"role_arn": "arn:aws:iam::12:role/x"}, "role_arn"),
    ({"role_arn": "arn:aws:iam::123456789012:role/R", "external_id": "x"}, "external_id"),
])
def test_aws_assume_role_secret_shape(secret: dict[str, object], field: str,
                                      tmp_path: Path) -> None:
    with store(tmp_path / "db") as s:
        with pytest.raises(ArgumentError) as exc:
            s.create(principal="a", pack=aws_pack("aws_assume_role", 443), name="x",
                     secret=secret)
    assert exc.value.details["field"] == field


GOOGLE = pack_with_auth({"kind": "google_service_account", "scopes": ["s1"]},
                        domains=("googleapis.com",))


def test_service_account_key_shape_and_token_uri(tmp_path: Path) -> None:
    account = new_service_account()
    good = account.key_file("https://oauth2.googleapis.com/token")
    cases = [
        ("not json", "service_account_key"),
        ({**good, "type": "user"}, "service_account_key.type"),
        ({**good, "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"},
         "service_account_key.private_key"),
        ({**good, "client_email": "nobody"}, "client_email"),
        ({**good, "token_uri": "https://evil.test/token"}, "service_account_key.token_uri"),
        ({**good, "token_uri": "http://oauth2.googleapis.com/token"},
         "service_account_key.token_uri"),
        ({**good, "token_uri": "http://google-token.test:1/token"},
         "service_account_key.token_uri"),
    ]
    with store(tmp_path / "db", dev_tokens=False) as s:
        for key, field in cases:
            with pytest.raises(ArgumentError) as exc:
                s.create(principal="a", pack=GOOGLE, name="x",
                         secret={"service_account_key": key})
            assert exc.value.details["field"] == field, key
            assert account.private_pem.splitlines()[1] not in str(exc.value)
        info = s.create(principal="a", pack=GOOGLE, name="x", secret={"service_account_key": good})
    assert info.kind == "google_service_account"


def test_new_secrets_are_sealed_at_rest(tmp_path: Path) -> None:
    account = new_service_account()
    with store(tmp_path / "db") as s:
        s.create(principal="a", pack=aws_pack("aws_access_key", 443), name="x",
                 secret={"access_key_id": "AKIAXXXXXXXXXXXXXXXX", "secret_access_key": SECRET})
        s.create(principal="a", pack=GOOGLE, name="g", secret={
            "service_account_key": account.key_file("https://oauth2.googleapis.com/token")})
    raw = b"".join(p.read_bytes() for p in (tmp_path / "db").iterdir() if p.is_file())
    assert SECRET.encode() not in raw
    assert account.private_pem.splitlines()[1].encode() not in raw


def test_secret_strings_cover_the_new_forms(tmp_path: Path) -> None:
    account = new_service_account()
    with store(tmp_path / "db") as s:
        info = s.create(principal="a", pack=GOOGLE, name="g", secret={
            "service_account_key": account.key_file("https://oauth2.googleapis.com/token")})
        found = s.credentials("a", info.id, GOOGLE).secret_values()
    lines = [ln for ln in account.private_pem.splitlines() if not ln.startswith("-----")]
    assert account.private_pem in found and "".join(lines) in found and lines[3] in found


# -- the JWT assertion and the manifest options --------------------------------------------------


def test_the_assertion_is_an_rs256_jwt_for_the_token_endpoint() -> None:
    import jwt

    account = new_service_account()
    key = {"client_email": account.email, "private_key": account.private_pem,
           "token_uri": "https://oauth2.googleapis.com/token", "private_key_id": account.key_id}
    now = time.time()
    token = assertion(key, ["a", "b"], now)
    claims = jwt.decode(token, account.public_pem, algorithms=["RS256"],
                        audience="https://oauth2.googleapis.com/token")
    assert claims["iss"] == account.email and claims["scope"] == "a b"
    assert claims["exp"] - claims["iat"] == 3600
    assert jwt.get_unverified_header(token)["kid"] == account.key_id
    assert JWT_BEARER_GRANT == "urn:ietf:params:oauth:grant-type:jwt-bearer"


@pytest.mark.parametrize(("auth", "field"), [
    ({"kind": "custom", "params": []}, "auth.params"),
    ({"kind": "custom", "params": [{"name": "a-b"}]}, "auth.params[0].name"),
    ({"kind": "custom", "params": [{"name": "a", "places": ["path"]}]}, "auth.params[0].places"),
    ({"kind": "custom", "params": ["a", "a"]}, "auth.params[1].name"),
    ({"kind": "aws_access_key", "service": "Bad Service"}, "auth.service"),
    ({"kind": "aws_access_key", "service": "s3", "region": "moon"}, "auth.region"),
    ({"kind": "google_service_account", "scopes": []}, "auth.scopes"),
    ({"kind": "bearer", "endpoint_domain": "example.test"}, "auth.endpoint_domain"),
    ({"kind": "oauth2_code", "authorize_url": "https://example.test/a",
      "token_url": "https://example.test/t", "requires_endpoint_url": True},
     "auth.requires_endpoint_url"),
])
def test_bad_auth_options_are_manifest_errors(auth: dict[str, object], field: str) -> None:
    with pytest.raises(ManifestError) as exc:
        pack_with_auth(auth, domains=("example.test",))
    assert exc.value.details["field"] == field


def test_manifest_round_trips_through_json() -> None:
    from corral import parse_manifest

    manifest = pack_with_auth({"kind": "custom", "params": [{"name": "k", "places": ["query"]}],
                               "requires_endpoint_url": True}, domains=("example.test",))
    again = parse_manifest(json.loads(manifest.to_json()))
    assert again.auth == manifest.auth


# -- the reference's examples ------------------------------------------------------------------


def test_every_auth_kind_has_a_reference_example_that_parses_and_validates() -> None:
    import tomllib

    from corral import parse_manifest
    from corral._cli.reference_auth import AUTH_EXAMPLES, ENDPOINT_EXAMPLE
    from corral._connections.auth import validate_secret
    from corral._pack.manifest import AUTH_KINDS

    assert set(AUTH_EXAMPLES) == set(AUTH_KINDS)
    account = new_service_account()
    for kind, (toml, secret, _) in [*AUTH_EXAMPLES.items(), ("bearer", (*ENDPOINT_EXAMPLE, ""))]:
        table = tomllib.loads("[auth]\n" + toml)["auth"]
        manifest = parse_manifest({"pack": {"name": "Ex", "version": "1.0.0",
                                            "network_domains": ["example.net"]},
                                   "auth": table, "formulas": [{"name": "F"}]})
        assert manifest.auth.kind == kind
        if kind == "none":
            continue
        if kind == "google_service_account":  # the example's key is elided
            secret = {"service_account_key": {**secret["service_account_key"],
                                              "private_key": account.private_pem}}
        assert validate_secret(manifest.auth, secret), kind
