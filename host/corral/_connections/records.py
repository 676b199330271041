"""Connection records: the non-secret metadata of a connection, and the checks and
shapes shared by the store's operations (ids, names, principals, token fields)."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from .._connections.oauth import TokenSet
from .._errors import ArgumentError, ConnectionExpired
from .._stores.kv import KvTxn


@dataclass(frozen=True)
class ConnectionInfo:
    """What anyone may see of a connection: never a secret."""

    id: str
    pack: str
    name: str
    kind: str
    status: str
    created_at: float
    expires_at: float | None = None
    #: The connection's own endpoint (``auth.requires_endpoint_url``); not a secret.
    endpoint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Record:
    id: str
    principal: str
    pack: str
    name: str
    kind: str
    status: str
    created_at: float
    expires_at: float | None
    generation: int = 0
    endpoint: str | None = None

    @property
    def info(self) -> ConnectionInfo:
        return ConnectionInfo(self.id, self.pack, self.name, self.kind, self.status,
                              self.created_at, self.expires_at, self.endpoint)

    @property
    def aad(self) -> bytes:
        return b"corral:connection:v1\0" + self.id.encode() + b"\0" + self.pack.encode()

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Record:
        return cls(**json.loads(raw))


def state_aad(state_key: bytes, pack: str) -> bytes:
    return b"corral:oauth-state:v1\0" + state_key + b"\0" + pack.encode()


def state_key(state: str) -> bytes:
    # The state is a bearer value for finishing a flow; only its hash is stored.
    return hashlib.sha256(state.encode()).hexdigest().encode()


def all_items(txn: KvTxn, db: Any) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of one database, copied out of the transaction."""
    return [(bytes(key), bytes(value)) for key, value in txn.cursor(db=db)]


def bytes_or_none(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def token_fields(tokens: TokenSet) -> dict[str, Any]:
    fields: dict[str, Any] = {"access_token": tokens.access_token,
                              "expires_at": tokens.expires_at}
    if tokens.refresh_token is not None:
        fields["refresh_token"] = tokens.refresh_token
    return fields


def token_secret(client_id: str, client_secret: str | None,
                  tokens: TokenSet) -> dict[str, Any]:
    values: dict[str, Any] = {"client_id": client_id, **token_fields(tokens)}
    if client_secret:
        values["client_secret"] = client_secret
    return values


def expired_error(record: Record, why: str) -> ConnectionExpired:
    return ConnectionExpired(f"connection {record.name!r} ({record.id}) of pack {record.pack} "
                             f"has expired: {why}; reconnect it", connection=record.id,
                             pack=record.pack)


def new_id() -> str:
    return "conn_" + secrets.token_urlsafe(12)


def check_principal(principal: str) -> None:
    if not isinstance(principal, str) or not principal:
        raise ArgumentError("a principal must be a non-empty string", field="principal")


def check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ArgumentError("a connection name must be 1 to 200 characters", field="name")
    if any(ord(ch) < 32 for ch in name):
        raise ArgumentError("a connection name must not contain control characters",
                            field="name")


def check_redirect_uri(uri: str) -> None:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ArgumentError("redirect_uri must be an absolute http(s) URL without a fragment",
                            field="redirect_uri")
