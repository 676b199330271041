"""The request-signing and minted-token auth kinds on the fetch path, against local
servers that check what AWS and Google check: a SigV4 signature recomputed from the
spec, a JWT bearer grant verified with the service account's public key."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from corral import AuthFlowError, FetchClient
from corral._fetch.guest import GuestFetch
from corral._metrics import Metrics

from ..oauth_server import pack_with_auth
from ..signing_kit import (API_HOST, BASE_KEY_ID, BASE_SECRET, GOOGLE_HOST, aws_pack, fetch,
                           fetch_client, store)
from corral.testing._signing import AwsServer, GoogleTokenServer, Key, Role, new_service_account

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def aws() -> Iterator[AwsServer]:
    with AwsServer() as server:
        server.add_key("AKIDEXAMPLE0000001", SECRET)
        yield server


@pytest.fixture
def client() -> Iterator[FetchClient]:
    c = fetch_client()
    yield c
    c.close()


# -- AWSAccessKey ------------------------------------------------------------------------------


def test_aws_access_key_requests_are_signed_as_aws_verifies(aws: AwsServer, client: FetchClient,
                                                            tmp_path: Path) -> None:
    manifest = aws_pack("aws_access_key", aws.port)
    with store(tmp_path / "db") as s:
        info = s.create(principal="alice", pack=manifest, name="AWS",
                        secret={"access_key_id": "AKIDEXAMPLE0000001",
                                "secret_access_key": SECRET})
        creds = s.credentials("alice", info.id, manifest)
        url = f"http://{API_HOST}:{aws.port}/api/items?b=2&a=x%20y&c="
        got = fetch(client, manifest, creds, {"method": "POST", "url": url,
                                              "headers": {"Content-Type": "application/json",
                                                          "X-Trace": "t  1"},
                                              "body": '{"n": 1}'})
        assert got["status"] == 200, got["body"]
        echoed = json.loads(got["body"])
        assert echoed["key"] == "AKIDEXAMPLE0000001"
        assert "x-trace" in echoed["headers"]["authorization"]  # guest headers are signed
        get = fetch(client, manifest, creds, {"url": f"http://{API_HOST}:{aws.port}/api/deep%2Fpath"})
        assert get["status"] == 200, get["body"]
    assert aws.refusals == []


def test_a_wrong_secret_is_refused_by_the_verifier(aws: AwsServer, client: FetchClient,
                                                   tmp_path: Path) -> None:
    manifest = aws_pack("aws_access_key", aws.port)
    with store(tmp_path / "db") as s:
        info = s.create(principal="alice", pack=manifest, name="AWS",
                        secret={"access_key_id": "AKIDEXAMPLE0000001",
                                "secret_access_key": "not-the-secret-at-all"})
        got = fetch(client, manifest, s.credentials("alice", info.id, manifest),
                    {"url": f"http://{API_HOST}:{aws.port}/api/x"})
    assert got["status"] == 403
    assert aws.refusals == ["SignatureDoesNotMatch"]


def test_a_guest_cannot_set_the_signature_headers(aws: AwsServer, client: FetchClient,
                                                  tmp_path: Path) -> None:
    manifest = aws_pack("aws_access_key", aws.port)
    with store(tmp_path / "db") as s:
        info = s.create(principal="alice", pack=manifest, name="AWS",
                        secret={"access_key_id": "AKIDEXAMPLE0000001",
                                "secret_access_key": SECRET})
        creds = s.credentials("alice", info.id, manifest)
        for name in ("Authorization", "X-Amz-Date", "x-amz-security-token"):
            with pytest.raises(Exception) as info_exc:
                fetch(client, manifest, creds, {"url": f"http://{API_HOST}:{aws.port}/api/x",
                                                "headers": {name: "forged"}})
            assert "header" in str(info_exc.value).lower()


def test_a_reflected_signed_request_does_not_show_the_secret_to_the_guest(
        aws: AwsServer, client: FetchClient, tmp_path: Path) -> None:
    manifest = aws_pack("aws_access_key", aws.port)
    with store(tmp_path / "db") as s:
        info = s.create(principal="alice", pack=manifest, name="AWS",
                        secret={"access_key_id": "AKIDEXAMPLE0000001",
                                "secret_access_key": SECRET, "session_token": "sess-tok-123456789"})
        aws.keys["AKIDEXAMPLE0000001"] = Key(SECRET, session_token="sess-tok-123456789")
        guest = GuestFetch(client, Metrics(), pack=manifest.name, pack_hash="0" * 64,
                           principal="alice", domains=manifest.network_domains,
                           credentials=s.credentials("alice", info.id, manifest))
        got = guest.fetch({"url": f"http://{API_HOST}:{aws.port}/api/echo?q={SECRET}"},
                          time.monotonic() + 10)
    text = json.dumps(got)
    assert SECRET not in text and "sess-tok-123456789" not in text
    assert "[redacted by corral]" in text


# -- AWSAssumeRole -----------------------------------------------------------------------------


ROLE = "arn:aws:iam::123456789012:role/CorralReader"


def test_assume_role_mints_once_signs_with_the_temporary_keys(aws: AwsServer,
                                                              client: FetchClient,
                                                              tmp_path: Path) -> None:
    aws.base_keys[BASE_KEY_ID] = Key(BASE_SECRET)
    aws.roles[ROLE] = Role(ROLE, external_id="ext-42")
    manifest = aws_pack("aws_assume_role", aws.port)
    with store(tmp_path / "db", sts_port=aws.port) as s:
        info = s.create(principal="alice", pack=manifest, name="Role",
                        secret={"role_arn": ROLE, "external_id": "ext-42"})
        for _ in range(3):
            creds = s.credentials("alice", info.id, manifest)
            got = fetch(client, manifest, creds, {"url": f"http://{API_HOST}:{aws.port}/api/x"})
            assert got["status"] == 200, got["body"]
            assert json.loads(got["body"])["key"].startswith("ASIA")
    assert len(aws.assumed) == 1  # cached until expiry
    assert aws.assumed[0]["ExternalId"] == "ext-42"
    assert aws.assumed[0]["RoleSessionName"] == f"corral-{info.id}"[:64]
    assert aws.refusals == []


def test_assume_role_with_a_wrong_external_id_fails_as_a_refusal(aws: AwsServer,
                                                                 client: FetchClient,
                                                                 tmp_path: Path) -> None:
    aws.base_keys[BASE_KEY_ID] = Key(BASE_SECRET)
    aws.roles[ROLE] = Role(ROLE, external_id="ext-42")
    manifest = aws_pack("aws_assume_role", aws.port)
    with store(tmp_path / "db", sts_port=aws.port) as s:
        info = s.create(principal="alice", pack=manifest, name="Role",
                        secret={"role_arn": ROLE, "external_id": "ext-wrong"})
        with pytest.raises(AuthFlowError) as exc:
            fetch(client, manifest, s.credentials("alice", info.id, manifest),
                  {"url": f"http://{API_HOST}:{aws.port}/api/x"})
    assert "AccessDenied" in str(exc.value) and exc.value.details["rejected"] is True
    assert BASE_SECRET not in str(exc.value)


def test_assume_role_with_a_bad_host_key_is_refused_by_sts(aws: AwsServer, client: FetchClient,
                                                           tmp_path: Path) -> None:
    aws.base_keys[BASE_KEY_ID] = Key("some-other-secret")
    aws.roles[ROLE] = Role(ROLE)
    manifest = aws_pack("aws_assume_role", aws.port)
    with store(tmp_path / "db", sts_port=aws.port) as s:
        info = s.create(principal="alice", pack=manifest, name="Role", secret={"role_arn": ROLE})
        with pytest.raises(AuthFlowError, match="SignatureDoesNotMatch"):
            fetch(client, manifest, s.credentials("alice", info.id, manifest),
                  {"url": f"http://{API_HOST}:{aws.port}/api/x"})


# -- GoogleServiceAccount ----------------------------------------------------------------------


SCOPES = ["https://www.googleapis.com/auth/drive.readonly"]


def test_service_account_grant_is_verified_and_the_token_cached(client: FetchClient,
                                                                tmp_path: Path) -> None:
    account = new_service_account()
    with GoogleTokenServer(account, scopes=tuple(SCOPES)) as google:
        manifest = pack_with_auth({"kind": "google_service_account", "scopes": SCOPES},
                                  domains=(f"{GOOGLE_HOST}:{google.port}",))
        with store(tmp_path / "db") as s:
            info = s.create(principal="alice", pack=manifest, name="SA", secret={
                "service_account_key": json.dumps(account.key_file(google.token_uri))})
            url = f"http://{GOOGLE_HOST}:{google.port}/api/files"
            for _ in range(2):
                got = fetch(client, manifest, s.credentials("alice", info.id, manifest),
                            {"url": url})
                assert got["status"] == 200, got["body"]
            assert google.grants == 1 and google.refusals == []
            google.expire_tokens()  # a 401 mints a new token once, and the retry passes
            got = fetch(client, manifest, s.credentials("alice", info.id, manifest),
                        {"url": url})
            assert got["status"] == 200 and google.grants == 2


def test_an_assertion_signed_by_another_key_is_refused(client: FetchClient,
                                                       tmp_path: Path) -> None:
    account, impostor = new_service_account(), new_service_account()
    with GoogleTokenServer(account, scopes=tuple(SCOPES)) as google:
        manifest = pack_with_auth({"kind": "google_service_account", "scopes": SCOPES},
                                  domains=(f"{GOOGLE_HOST}:{google.port}",))
        key = {**account.key_file(google.token_uri), "private_key": impostor.private_pem}
        with store(tmp_path / "db") as s:
            info = s.create(principal="alice", pack=manifest, name="SA",
                            secret={"service_account_key": key})
            with pytest.raises(AuthFlowError, match="invalid_grant"):
                fetch(client, manifest, s.credentials("alice", info.id, manifest),
                      {"url": f"http://{GOOGLE_HOST}:{google.port}/api/files"})
    assert google.refusals == ["InvalidSignatureError"]


def test_wrong_scopes_are_refused_by_the_token_server(client: FetchClient,
                                                      tmp_path: Path) -> None:
    account = new_service_account()
    with GoogleTokenServer(account, scopes=("https://www.googleapis.com/auth/other",)) as google:
        manifest = pack_with_auth({"kind": "google_service_account", "scopes": SCOPES},
                                  domains=(f"{GOOGLE_HOST}:{google.port}",))
        with store(tmp_path / "db") as s:
            info = s.create(principal="alice", pack=manifest, name="SA",
                            secret={"service_account_key": account.key_file(google.token_uri)})
            with pytest.raises(AuthFlowError):
                fetch(client, manifest, s.credentials("alice", info.id, manifest),
                      {"url": f"http://{GOOGLE_HOST}:{google.port}/api/files"})
    assert google.refusals == ["wrong scope"]


def test_no_log_record_shows_a_minted_session_token(aws: AwsServer, client: FetchClient,
                                                    tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    aws.base_keys[BASE_KEY_ID] = Key(BASE_SECRET)
    aws.roles[ROLE] = Role(ROLE)
    manifest = aws_pack("aws_assume_role", aws.port)
    caplog.set_level("DEBUG")
    with store(tmp_path / "db", sts_port=aws.port) as s:
        info = s.create(principal="alice", pack=manifest, name="Role", secret={"role_arn": ROLE})
        got = fetch(client, manifest, s.credentials("alice", info.id, manifest),
                    {"url": f"http://{API_HOST}:{aws.port}/api/x"})
    assert got["status"] == 200
    minted = [k for k in aws.keys.values() if k.session_token]
    assert minted
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for key in minted:
        assert key.secret not in logged and str(key.session_token) not in logged
    assert BASE_SECRET not in logged


def test_a_dev_token_uri_stops_working_when_the_setting_is_off(client: FetchClient,
                                                               tmp_path: Path) -> None:
    from corral import ArgumentError, KeyRing

    account = new_service_account()
    with GoogleTokenServer(account, scopes=tuple(SCOPES)) as google:
        manifest = pack_with_auth({"kind": "google_service_account", "scopes": SCOPES},
                                  domains=(f"{GOOGLE_HOST}:{google.port}",))
        ring = KeyRing.generate()
        with store(tmp_path / "db", keyring=ring) as s:
            info = s.create(principal="alice", pack=manifest, name="SA",
                            secret={"service_account_key": account.key_file(google.token_uri)})
        with store(tmp_path / "db", dev_tokens=False, keyring=ring) as s:  # same data, setting now off
            with pytest.raises(ArgumentError, match="token_uri"):
                fetch(client, manifest, s.credentials("alice", info.id, manifest),
                      {"url": f"http://{GOOGLE_HOST}:{google.port}/api/files"})
    assert google.grants == 0
