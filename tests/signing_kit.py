"""Stores and fetch clients for the signing / minted-token auth kinds against the local
stand-ins of :mod:`corral.testing._signing`: every name maps to 127.0.0.1 over plain http."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corral import ConnectionStore, FetchClient, FetchConfig, KeyRing, Manifest
from corral._connections.aws import AwsKeys, StsSettings
from corral._connections.minted import MintSettings

from .oauth_server import pack_with_auth, token_client

API_HOST = "api.aws.test"
STS_HOST = "sts.test"
GOOGLE_HOST = "google-token.test"
HOSTS = (API_HOST, STS_HOST, GOOGLE_HOST, "acme.example.test", "other.example.test",
         "evil.test")
BASE_KEY_ID = "AKIAHOSTBASE0000001"
BASE_SECRET = "host-base-secret-0123456789abcdefghij"
PACK_HASH = "0" * 64


def fetch_client() -> FetchClient:
    return FetchClient(FetchConfig(allow_http=True, host_map={h: "127.0.0.1" for h in HOSTS}))


def store(path: Path, *, sts_port: int = 0, dev_tokens: bool = True,
          keyring: KeyRing | None = None) -> ConnectionStore:
    sts = StsSettings(endpoint=f"http://{STS_HOST}:{sts_port}/sts",
                      base=AwsKeys(BASE_KEY_ID, BASE_SECRET))
    minting = MintSettings(sts=sts, dev_token_hosts=frozenset(HOSTS) if dev_tokens
                           else frozenset())
    return ConnectionStore(path, keyring or KeyRing.generate(), http=token_client(hosts=HOSTS),
                           minting=minting)


def aws_pack(kind: str, port: int, **extra: Any) -> Manifest:
    return pack_with_auth({"kind": kind, "service": "execute-api", "region": "eu-west-1",
                           **extra}, domains=(f"aws.test:{port}",))


def fetch(client: FetchClient, manifest: Manifest, creds: Any, request: dict[str, Any],
          approved: tuple[str, ...] = ()) -> dict[str, Any]:
    """One fetch; ``approved`` are the declared domains the operator approved beyond the
    auth domains (a call holding a connection reaches nothing else)."""
    return client.fetch(request, pack=manifest.name, pack_hash=PACK_HASH,
                        domains=manifest.network_domains, credentials=creds,
                        approved_domains=approved)
