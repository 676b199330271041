"""A pack holding a caller's connection reaches only its auth domains, unless the operator
approved its other declared domains when registering it: through the real ``authed`` pack,
the registry's LMDB, the upload API and the manifest view. And the credential channel
rules (https only, never across a change of scheme) through the same pack, over TLS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from corral import (MANIFEST_SECTION, ArgumentError, FetchConfig, FetchDenied, Host, NotFoundError,
                    PinnedTransport, Settings, create_app, read_manifest, set_custom_section)
from corral._server.apikeys import ApiKeyStore

from ..conftest import TEST_PACKS, built
from ..fetch_servers import ApiServer, make_tls_files

AUTH_HOST = "auth.example.test"
OTHER_HOST = "other.example.test"
TOKEN = "tok-APPROVAL-7d1e44c09b"
HOST_MAP = {AUTH_HOST: "127.0.0.1", OTHER_HOST: "127.0.0.1"}


@pytest.fixture(scope="module")
def api() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


@pytest.fixture(scope="module")
def other() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


def settings_for(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, allow_http=True, host_map=HOST_MAP)


def authed(network: list[str], auth: dict[str, Any] | None = None, *,
           version: str = "0.1.0") -> bytes:
    """The authed test pack with these network domains and auth (bearer for AUTH_HOST)."""
    wasm = built(TEST_PACKS / "authed").read_bytes()
    manifest = read_manifest(wasm).to_dict()
    manifest["pack"].update(network_domains=network, version=version)
    manifest["auth"] = auth or {"kind": "bearer", "domains": [AUTH_HOST]}
    return set_custom_section(wasm, MANIFEST_SECTION, json.dumps(manifest).encode())


def two_domains(api: ApiServer, other: ApiServer) -> list[str]:
    return [f"{AUTH_HOST}:{api.port}", f"{OTHER_HOST}:{other.port}"]


def connect(host: Host, secret: dict[str, str] | None = None) -> str:
    info = host.connections.create(principal="ada", pack=host.pack("authed").manifest,
                                   name="c", secret=secret or {"token": TOKEN})
    return str(info.id)


def get(host: Host, url: str, conn: str) -> Any:
    return host.call("authed", "Get", url, connection=conn, principal="ada")


# -- through the pack ---------------------------------------------------------------------


def test_an_unapproved_domain_is_refused_and_an_approved_one_reached(
        tmp_path: Path, api: ApiServer, other: ApiServer) -> None:
    wasm = authed(two_domains(api, other))
    target = f"http://{OTHER_HOST}:{other.port}/echo"
    with Host(settings_for(tmp_path)) as host:
        assert host.register_bytes(wasm).approved_domains == ()
        conn = connect(host)
        before = other.hits()
        with pytest.raises(FetchDenied) as info:
            get(host, target, conn)
        assert info.value.rule == "unapproved_domain"
        assert other.hits() == before, "refused before a byte was sent"
        assert get(host, f"http://{AUTH_HOST}:{api.port}/echo", conn)["status"] == 200

        pack = host.register_bytes(wasm, approved_domains=[f"{OTHER_HOST.upper()}:{other.port}"])
        assert pack.approved_domains == (f"{OTHER_HOST}:{other.port}",), "canonical form"
        echoed = get(host, target, conn)
    assert echoed["status"] == 200
    assert "authorization" not in json.loads(echoed["body"])["headers"]
    assert TOKEN not in json.dumps(echoed)


def test_a_redirect_from_an_auth_domain_to_an_unapproved_one_is_refused(
        tmp_path: Path, api: ApiServer, other: ApiServer) -> None:
    hop = "/redirect?" + urlencode({"to": f"http://{OTHER_HOST}:{other.port}/echo"})
    with Host(settings_for(tmp_path)) as host:
        host.register_bytes(authed(two_domains(api, other)))
        before = other.hits()
        with pytest.raises(FetchDenied) as info:
            get(host, f"http://{AUTH_HOST}:{api.port}{hop}", connect(host))
    assert info.value.rule == "unapproved_domain"
    assert other.hits() == before


def test_a_pack_whose_auth_covers_every_domain_needs_no_approval(
        tmp_path: Path, api: ApiServer, other: ApiServer) -> None:
    with Host(settings_for(tmp_path)) as host:
        host.register_bytes(authed(two_domains(api, other), {"kind": "bearer"}))
        echoed = get(host, f"http://{OTHER_HOST}:{other.port}/echo", connect(host))
    assert json.loads(echoed["body"])["headers"]["authorization"] == "Bearer [redacted by corral]"


def test_a_reflected_query_key_is_refused_not_followed(tmp_path: Path, api: ApiServer,
                                                       other: ApiServer) -> None:
    domains = two_domains(api, other)
    steal = f"http://{OTHER_HOST}:{other.port}/steal"
    with Host(settings_for(tmp_path)) as host:
        host.register_bytes(authed(domains, {"kind": "query", "param": "key",
                                             "domains": [AUTH_HOST]}), approved_domains=domains)
        conn = connect(host, {"value": TOKEN})
        with pytest.raises(FetchDenied) as info:
            get(host, f"http://{AUTH_HOST}:{api.port}/reflect-redirect?"
                + urlencode({"to": steal}), conn)
    assert info.value.rule == "redirect_secret"
    assert other.hits("/steal") == 0
    assert TOKEN not in f"{info.value} {json.dumps(info.value.to_dict())}"


# -- https through the pack ------------------------------------------------------------------


@pytest.fixture
def tls_host(tmp_path: Path) -> Iterator[tuple[Host, ApiServer]]:
    ca, cert, key = make_tls_files(tmp_path, [AUTH_HOST])
    transport = PinnedTransport(FetchConfig(allow_http=True, host_map=HOST_MAP, ca_file=str(ca)))
    with ApiServer(tls=(cert, key)) as tls, \
            Host(settings_for(tmp_path / "data"), fetch_transport=transport) as host:
        yield host, tls


def test_credentials_do_not_follow_a_downgrade_to_http_on_the_auth_host(
        tls_host: tuple[Host, ApiServer], api: ApiServer) -> None:
    host, tls = tls_host
    host.register_bytes(authed([f"{AUTH_HOST}:{tls.port}", f"{AUTH_HOST}:{api.port}"]))
    conn = connect(host)
    plain = f"http://{AUTH_HOST}:{api.port}/echo"
    secure = get(host, f"https://{AUTH_HOST}:{tls.port}/echo", conn)
    assert secure["status"] == 200
    assert tls.requests[-1].headers["authorization"] == f"Bearer {TOKEN}", "https carries it"
    downgraded = get(host, f"https://{AUTH_HOST}:{tls.port}/redirect?"
                     + urlencode({"to": plain}), conn)
    assert downgraded["status"] == 200
    assert "authorization" not in api.requests[-1].headers
    assert "authorization" not in json.loads(downgraded["body"])["headers"]


# -- recorded durably, per version -----------------------------------------------------------


def test_approvals_are_recorded_per_version_and_survive_a_restart(
        tmp_path: Path, api: ApiServer, other: ApiServer) -> None:
    domains = two_domains(api, other)
    first, second = authed(domains), authed(domains, version="0.2.0")
    with Host(settings_for(tmp_path)) as host:
        host.register_bytes(first, approved_domains=[domains[1]])
    with Host(settings_for(tmp_path)) as host:  # another process on the data dir, later
        assert host.pack("authed").approved_domains == (domains[1],)
        assert host.register_bytes(first).approved_domains == (domains[1],), "None keeps it"
        host.register_bytes(second)
        assert host.pack("authed").approved_domains == (), "0.2.0 was not approved"
        versions = {v.version: v.approved_domains for v in host.registry.versions("authed")}
        assert versions == {"0.1.0": (domains[1],), "0.2.0": ()}
        assert host.registry.activate("authed", "0.1.0").approved_domains == (domains[1],)
        assert host.register_bytes(first, approved_domains=[]).approved_domains == ()
    with Host(settings_for(tmp_path)) as host:
        assert host.pack("authed").approved_domains == (), "the revocation was recorded"
        host.registry.remove("authed")
        host.register_bytes(first)
        assert host.pack("authed").approved_domains == (), "removal forgot the approvals"


@pytest.mark.parametrize("approval", ["evil.test", f"{OTHER_HOST}:1", "auth.example.test:1",
                                      "127.0.0.1", "*.example.test"])
def test_only_declared_domains_can_be_approved(tmp_path: Path, api: ApiServer, other: ApiServer,
                                               approval: str) -> None:
    with Host(settings_for(tmp_path)) as host:
        with pytest.raises(ArgumentError) as info:
            host.register_bytes(authed(two_domains(api, other)), approved_domains=[approval])
        assert info.value.details["field"] == "approved_domains"
        with pytest.raises(NotFoundError):
            host.pack("authed")  # nothing was stored


def test_an_in_memory_registry_keeps_approvals_too(api: ApiServer, other: ApiServer) -> None:
    from corral._runtime.registry import Registry
    from corral._sandbox.sandbox import Sandbox

    domains = two_domains(api, other)
    with Sandbox() as sandbox:
        registry = Registry(None, sandbox)
        registry.register(authed(domains), approved_domains=[domains[1]])
        assert registry.register(authed(domains)).approved_domains == (domains[1],)
        assert registry.versions("authed")[0].approved_domains == (domains[1],)


def test_corral_serve_approves_the_declared_domains_of_the_bundled_examples(
        tmp_path: Path) -> None:
    import io

    from corral._server.serve import _register_examples

    out = io.StringIO()
    with Host(settings_for(tmp_path)) as host:
        _register_examples(host, out)
        packs = host.registry.packs()
        assert packs, out.getvalue()
        for pack in packs:
            assert pack.approved_domains == tuple(sorted(pack.manifest.network_domains)), \
                pack.name


# -- the upload API and the manifest view --------------------------------------------------


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Host]]:
    settings = settings_for(tmp_path)
    with Host(settings) as host:
        admin = ApiKeyStore(tmp_path / "api-keys.json").ensure_admin() or ""
        with TestClient(create_app(host, settings), raise_server_exceptions=False) as client:
            yield client, {"Authorization": f"Bearer {admin}"}, host


def test_the_upload_api_takes_approvals_and_the_manifest_view_shows_them(
        service: tuple[TestClient, dict[str, str], Host], api: ApiServer,
        other: ApiServer) -> None:
    client, admin, host = service
    domains = two_domains(api, other)
    wasm = authed(domains)
    refused = client.post("/v1/packs", params={"approve": "evil.test"}, content=wasm,
                          headers=admin)
    assert refused.status_code == 400 and refused.json()["kind"] == "bad_args", refused.text
    assert client.get("/v1/packs/authed", headers=admin).status_code == 404

    uploaded = client.post("/v1/packs", params={"approve": domains[1]}, content=wasm,
                           headers=admin)
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["approved_domains"] == [domains[1]]
    view = client.get("/v1/packs/authed", headers=admin).json()
    assert view["approved_domains"] == [domains[1]]
    assert view["versions"][0]["approved_domains"] == [domains[1]]
    assert host.pack("authed").approved_domains == (domains[1],), "the fetch path sees it"

    kept = client.post("/v1/packs", content=wasm, headers=admin).json()
    assert kept["approved_domains"] == [domains[1]], "no parameter: the approval stays"
    both = client.post("/v1/packs", params={"approve": ",".join(domains)}, content=wasm,
                       headers=admin).json()
    assert both["approved_domains"] == sorted(domains)
    revoked = client.post("/v1/packs?approve=", content=wasm, headers=admin).json()
    assert revoked["approved_domains"] == []
