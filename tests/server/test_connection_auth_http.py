"""Connections over HTTP: the pack's connection_name op names an unnamed connection (at
creation and at the OAuth2 callback; its failure keeps a default name and never fails
the creation), and each new auth kind's secret shape is checked, answering 400 naming
the field and never echoing the secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from corral import MANIFEST_SECTION, Host, Settings, read_manifest, set_custom_section
from corral._server.apikeys import ApiKeyStore
from corral._server.app import create_app

from ..conftest import PACKS, TEST_PACKS, built
from ..oauth_server import OAuthServer
from corral.testing._signing import new_service_account


def with_manifest(wasm: bytes, name: str, domains: list[str], auth: dict[str, Any]) -> bytes:
    manifest = read_manifest(wasm).to_dict()
    manifest["pack"] = {**manifest["pack"], "name": name, "network_domains": domains}
    manifest["auth"] = auth
    return set_custom_section(wasm, MANIFEST_SECTION, json.dumps(manifest).encode())


class Api:
    def __init__(self, client: TestClient, key: str, oauth: OAuthServer) -> None:
        self.client, self.key, self.oauth = client, key, oauth

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(path, json=body, headers={"Authorization": f"Bearer {self.key}"})

    def get(self, path: str, **params: str) -> Any:
        return self.client.get(path, params=params,
                               headers={"Authorization": f"Bearer {self.key}"})


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data = tmp_path_factory.mktemp("conn-http")
    settings = Settings(data_dir=data, allow_http=True, host_map={"oauth.test": "127.0.0.1"},
                        public_url="http://testserver")
    with OAuthServer() as oauth, Host(settings) as host:
        domain = oauth.token_domain
        authed = built(TEST_PACKS / "authed").read_bytes()
        hello = built(PACKS / "hello").read_bytes()
        host.register_bytes(with_manifest(authed, "named", [domain], {"kind": "bearer"}))
        host.register_bytes(with_manifest(authed, "namedoauth", [domain], {
            "kind": "oauth2_code", "authorize_url": f"http://{domain}/authorize",
            "token_url": f"http://{domain}/token"}))
        for kind, extra in NEW_KINDS.items():
            host.register_bytes(with_manifest(hello, kind.replace("_", ""), ["example.test"],
                                              {"kind": kind, **extra}))
        key = ApiKeyStore.for_settings(settings).create("alice")[1]
        with TestClient(create_app(host, settings), raise_server_exceptions=False) as client:
            yield Api(client, key, oauth)


NEW_KINDS: dict[str, dict[str, Any]] = {
    "custom": {"params": [{"name": "apiKey", "places": ["header"]}],
               "requires_endpoint_url": True},
    "aws_access_key": {"service": "execute-api", "region": "eu-west-1"},
    "aws_assume_role": {"service": "execute-api", "region": "eu-west-1"},
    "google_service_account": {"scopes": ["https://www.googleapis.com/auth/drive"]},
}


def test_an_unnamed_connection_is_named_by_the_pack(api: Api) -> None:
    made = api.post("/v1/connections", {"pack": "named",
                                        "secret": {"token": api.oauth.static_token}})
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "ada (authed)"  # the pack asked the API who this is
    named = api.post("/v1/connections", {"pack": "named", "name": "Mine",
                                         "secret": {"token": api.oauth.static_token}})
    assert named.json()["name"] == "Mine", "a caller's name is kept"


def test_a_failing_connection_name_op_keeps_a_default_name(api: Api) -> None:
    made = api.post("/v1/connections", {"pack": "named", "secret": {"token": "wrong-token-1"}})
    assert made.status_code == 201, made.text  # whoami answered 401: the op failed
    assert made.json()["name"] == "named connection"
    assert "wrong-token-1" not in made.text


def test_the_oauth_callback_names_a_connection_started_without_a_name(api: Api) -> None:
    browser = TestClient(api.client.app, raise_server_exceptions=False)
    names = []
    for extra in ({}, {"name": "Chosen"}):
        started = browser.get("/v1/oauth2/namedoauth/start",
                              params={"client_id": api.oauth.client_id, **extra},
                              headers={"Authorization": f"Bearer {api.key}"})
        assert started.status_code == 200, started.text
        query = dict(parse_qsl(urlsplit(started.json()["authorize_url"]).query))
        _, headers = api.oauth.authorize(query)
        back = urlsplit(headers["Location"])
        done = browser.get(back.path + "?" + back.query)
        assert done.status_code == 200, done.text
        names.append(done.json()["name"])
    assert names == ["ada (authed)", "Chosen"]


def _secret(kind: str) -> dict[str, Any]:
    account = new_service_account()
    return {
        "custom": {"values": {"apiKey": "custom-SECRET-1"}, "endpoint": "https://acme.example.test"},
        "aws_access_key": {"access_key_id": "AKIAEXAMPLE000000001",
                           "secret_access_key": "aws-SECRET-1"},
        "aws_assume_role": {"role_arn": "arn:aws:iam::123456789012:role/Reader",
                            "external_id": "ext-SECRET-1"},
        "google_service_account": {"service_account_key": account.key_file(
            "https://oauth2.googleapis.com/token")},
    }[kind]


@pytest.mark.parametrize("kind", sorted(NEW_KINDS))
def test_each_new_secret_shape_is_accepted_over_http(api: Api, kind: str) -> None:
    made = api.post("/v1/connections", {"pack": kind.replace("_", ""), "secret": _secret(kind)})
    assert made.status_code == 201, made.text
    assert made.json()["kind"] == kind and made.json()["name"].endswith(" connection")
    expected = "https://acme.example.test" if kind == "custom" else None
    assert made.json()["endpoint"] == expected
    assert "SECRET" not in made.text and "PRIVATE KEY" not in made.text


BAD = [
    ("custom", {"values": {}, "endpoint": "https://acme.example.test"}, "apiKey"),
    ("custom", {"values": {"apiKey": "custom-SECRET-2"}, "endpoint": "https://1.2.3.4"},
     "endpoint"),
    ("aws_access_key", {"access_key_id": "AKIAEXAMPLE000000001"}, "secret_access_key"),
    ("aws_access_key", {"access_key_id": "bad id", "secret_access_key": "aws-SECRET-2"},
     "access_key_id"),
    ("aws_assume_role", {"role_arn": "aws-SECRET-2"}, "role_arn"),
    ("google_service_account", {"service_account_key": {"type": "service_account",
                                                        "client_email": "a@b.test",
                                                        "private_key": "SECRET-2"}},
     "service_account_key.private_key"),
]


@pytest.mark.parametrize(("kind", "secret", "field"), BAD,
                         ids=[f"{k}-{f}" for k, _, f in BAD])
def test_a_bad_secret_shape_is_a_400_naming_the_field(api: Api, kind: str,
                                                      secret: dict[str, Any], field: str) -> None:
    refused = api.post("/v1/connections", {"pack": kind.replace("_", ""), "secret": secret})
    assert refused.status_code == 400, refused.text
    assert refused.json()["kind"] == "bad_args" or refused.json()["kind"] == "bad_request"
    assert field in refused.text
    assert "SECRET-2" not in refused.text


def test_corral_connect_names_an_unnamed_connection(api: Api, tmp_path: Path) -> None:
    from ..cli.test_cli import run

    wasm = tmp_path / "named.wasm"
    wasm.write_bytes(with_manifest(built(TEST_PACKS / "authed").read_bytes(), "named",
                                   [api.oauth.token_domain], {"kind": "bearer"}))
    env = {"CORRAL_ALLOW_HTTP": "1", "CORRAL_HOST_MAP": "oauth.test=127.0.0.1"}
    secret = json.dumps({"token": api.oauth.static_token})
    done = run("connect", str(wasm), "--secret", secret, "--data-dir", str(tmp_path / "d"),
               cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "ada (authed)"
    failed = run("connect", str(wasm), "--secret", '{"token": "nope-nope"}', "--data-dir",
                 str(tmp_path / "d"), cwd=tmp_path, env=env)
    assert failed.returncode == 0, failed.stderr
    assert json.loads(failed.stdout)["name"] == "named connection"
