"""The connection store: who may use which credentials, kept sealed.

Its databases live in one LMDB environment directory, or in the ``connections`` space
of PostgreSQL when ``store_url`` is set (:mod:`.space`); the code is the same on both:

* ``connections``: connection id -> JSON metadata (owner, pack, name, kind, status,
  times, a generation counter). Nothing secret.
* ``secrets``: connection id -> the secret, sealed by :class:`~corral._connections.crypto.KeyRing`
  with the connection id and pack name as associated data.
* ``oauth_states``: SHA-256 of an OAuth2 ``state`` -> the pending authorization, its
  PKCE verifier and client secret sealed, and the SHA-256 of the browser binding (the
  value of the cookie the HTTP service set in the browser that started the flow).
* ``usage``: principal -> how many connections and bytes it holds (``usage.py``), kept
  in the same transaction as every write and built once for an older store.
* ``key_ids``: the ids of the keys the sealed records need (``key_ids.py``); a node
  opening a shared store refuses to start when its key ring lacks one.

Ownership: every connection belongs to one principal. Asking for someone else's
connection answers :class:`NotFoundError`, exactly as for an id that does not exist, so
ids cannot be probed.

Refreshes are serialised per connection by an in-process lock and a generation counter:
whoever holds the lock re-reads the record and skips the token request when another
thread already renewed it. The lock does not reach across processes: two nodes may
both renew one token, and the later write wins; a refusal (a refresh token the other
node's renewal used up) marks nothing expired once the record has moved on.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import lmdb

from .._connections.auth import (
    DEFAULT_REFRESH_SKEW_S,
    ConnectionCredentials,
    LoadedSecret,
    credential_domains,
    validate_secret,
)
from .._closing import Closeable
from .._connections.crypto import KeyRing
from .._connections.oauth import (
    TokenClient,
    TokenRoute,
    TokenSet,
    client_credentials,
    exchange_code,
    refresh_tokens,
)
from .._errors import (
    AccessDenied,
    ArgumentError,
    AuthFlowError,
    ConnectionExpired,
    CredentialError,
    NotFoundError,
)
from .._pack.manifest import AuthSpec, Manifest
from .._stores.kv import KvTxn
from .._types import Clock
from .key_ids import blob_key_id, state_key_id
from .pending import new_flow, open_flow, stale_flows, token_route
from .minted import Minter, MintSettings
from .quota import Quotas, stored_size
from .records import (
    ConnectionInfo,
    Record,
    all_items,
    bytes_or_none,
    check_name,
    check_principal,
    check_redirect_uri,
    expired_error,
    new_id,
    state_aad,
    state_key,
    token_fields,
    token_secret,
)
from .space import (DB_CONNECTIONS as _DB_CONNECTIONS, DB_SECRETS as _DB_SECRETS,
                    DB_STATES as _DB_STATES, open_space)

log = logging.getLogger("corral.connections")
#: Names a connection just made (the pack's ``connection_name`` op, through the host).
NameNew = Callable[[str, ConnectionInfo], ConnectionInfo]

ACTIVE = "active"
EXPIRED = "expired"
DEFAULT_STATE_TTL_S = 600.0


class ConnectionStore(Closeable):
    """Create, list, use, test and delete connections; run OAuth2 flows into them.

    With ``store_url`` (PostgreSQL; ``path`` then unused) opening fails with SecretKeyError
    when ``keyring`` lacks a key the sealed records need (``check_key_ring``)."""

    closeable_name = "connection store"

    def __init__(self, path: Path | str, keyring: KeyRing, *, http: TokenClient | None = None,
                 clock: Clock = time.time, refresh_skew_s: float = DEFAULT_REFRESH_SKEW_S,
                 map_size: int = 64 * 1024 * 1024, quotas: Quotas = Quotas(),
                 max_map_size: int = 4 << 30, minting: MintSettings | None = None,
                 store_url: str | None = None, check_key_ring: bool | None = None) -> None:
        self._path = Path(path)
        self._minter = Minter(self._require_http, minting or MintSettings(), clock)
        self._keyring = keyring
        self._http = http
        self._clock = clock
        self._skew = refresh_skew_s
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        space = open_space(self._path, store_url, quotas=quotas, map_size=map_size,
                           max_map_size=max_map_size, keyring=keyring,
                           check_key_ring=check_key_ring)
        self._shared, self._dbs, self._book = space.kv, space.dbs, space.book
        self._key_ids, self.where = space.key_ids, space.where

    # -- lifecycle -----------------------------------------------------------------------

    def _close(self) -> None:
        """Close the store's backend and the token client the store was given."""
        self._shared.close()
        http, self._http = self._http, None
        if http is not None:
            http.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"ConnectionStore({self.where!r}, {state})"

    # -- connections ---------------------------------------------------------------------

    def create(self, *, principal: str, pack: Manifest, name: str,
               secret: Mapping[str, Any]) -> ConnectionInfo:
        """Seal ``secret`` (shaped for the pack's auth kind) into a new connection."""
        check_principal(principal)
        check_name(name)
        if pack.auth.kind == "none":
            raise ArgumentError(f"pack {pack.name!r} declares no auth; it needs no connection")
        values = self._validated(pack, secret)
        record = Record(id=new_id(), principal=principal, pack=pack.name, name=name,
                         kind=pack.auth.kind, status=ACTIVE, created_at=self._clock(),
                         expires_at=values.get("expires_at"), endpoint=values.get("endpoint"))
        with self._txn(write=True) as txn:
            self._put(txn, record, values)
        log.info("created connection %s (pack %s, kind %s)", record.id, record.pack,
                 record.kind)
        return record.info

    def list(self, principal: str, pack: str | None = None) -> list[ConnectionInfo]:
        check_principal(principal)
        with self._txn() as txn:
            records = [Record.from_bytes(raw) for _, raw in
                       all_items(txn, self._dbs[_DB_CONNECTIONS])]
        mine = [r for r in records
                if r.principal == principal and (pack is None or r.pack == pack)]
        return [r.info for r in sorted(mine, key=lambda r: (r.created_at, r.id))]

    def get(self, principal: str, connection_id: str) -> ConnectionInfo:
        return self._owned(principal, connection_id).info

    def rename(self, principal: str, connection_id: str, name: str) -> ConnectionInfo:
        check_name(name)
        with self._txn(write=True) as txn:
            record = replace(self._owned_in(txn, principal, connection_id), name=name)
            self._put_record(txn, record)
        return record.info

    def update_secret(self, *, principal: str, connection_id: str, pack: Manifest,
                      secret: Mapping[str, Any]) -> ConnectionInfo:
        """Replace a connection's secret (reconnecting it); the id stays the same."""
        values = self._validated(pack, secret)
        self._minter.forget(connection_id)
        with self._txn(write=True) as txn:
            record = self._owned_in(txn, principal, connection_id)
            self._check_pack(record, pack)
            record = replace(record, status=ACTIVE, expires_at=values.get("expires_at"),
                             generation=record.generation + 1, endpoint=values.get("endpoint"))
            self._put(txn, record, values)
        return record.info

    def delete(self, principal: str, connection_id: str) -> None:
        with self._txn(write=True) as txn:
            record = self._owned_in(txn, principal, connection_id)
            key = record.id.encode()
            size = stored_size(txn, key, self._dbs[_DB_CONNECTIONS], self._dbs[_DB_SECRETS])
            txn.delete(key, db=self._dbs[_DB_CONNECTIONS])
            txn.delete(key, db=self._dbs[_DB_SECRETS])
            self._book.charge(txn, principal, count=-1, size=-size)
        with self._locks_guard:
            self._locks.pop(connection_id, None)
        self._minter.forget(connection_id)
        log.info("deleted connection %s", connection_id)

    def credentials(self, principal: str, connection_id: str,
                    pack: Manifest) -> ConnectionCredentials:
        """The Credentials the fetch path applies for ``pack`` calls using this connection."""
        record = self._owned(principal, connection_id)
        self._check_pack(record, pack)
        if record.status == EXPIRED:
            raise expired_error(record, "its token could not be refreshed")
        session = _StoreSession(self, record.id, pack.auth, token_route(pack))
        return ConnectionCredentials(
            connection_id=record.id, spec=pack.auth,
            domains=credential_domains(pack.auth, pack.network_domains), session=session,
            clock=self._clock, refresh_skew_s=self._skew, minter=self._minter)

    def test(self, principal: str, connection_id: str, pack: Manifest) -> ConnectionInfo:
        """Check a connection is usable: its secret opens, and an OAuth2 token is (made)
        current. Raises SecretKeyError, ConnectionExpired or AuthFlowError if not."""
        self.credentials(principal, connection_id, pack).apply({}, [])
        return self.get(principal, connection_id)

    def rotate_keys(self) -> int:
        """Re-seal every secret not sealed with the key ring's newest key. Returns how many
        were re-sealed. All or nothing: one blob that fails to open aborts the lot."""
        count = 0
        with self._txn(write=True) as txn:
            secrets_db, states_db = self._dbs[_DB_SECRETS], self._dbs[_DB_STATES]
            for key, blob in all_items(txn, secrets_db):
                if self._keyring.needs_reseal(blob):
                    record = self._record_in(txn, key.decode())
                    sealed = self._keyring.seal(self._keyring.open(blob, record.aad), record.aad)
                    self._book.charge(txn, record.principal, count=0,
                                      size=len(sealed) - len(blob), enforce=False)
                    txn.put(key, sealed, db=secrets_db)
                    count += 1
            for key, raw in all_items(txn, states_db):
                pending = json.loads(raw)
                blob = base64.b64decode(pending["sealed"])
                if self._keyring.needs_reseal(blob):
                    aad = state_aad(key, pending["pack"])
                    sealed = self._keyring.seal(self._keyring.open(blob, aad), aad)
                    pending["sealed"] = base64.b64encode(sealed).decode()
                    txn.put(key, json.dumps(pending).encode(), db=states_db)
                    count += 1
            self._key_ids.rebuild(txn)  # the old keys' ids go once nothing needs them
        log.info("re-sealed %d secrets under key %s", count, self._keyring.current_key_id)
        return count

    # -- OAuth2 authorization code --------------------------------------------------------

    def start_authorization(self, *, pack: Manifest, principal: str, client_id: str,
                            redirect_uri: str, client_secret: str | None = None,
                            name: str | None = None, connection_id: str | None = None,
                            ttl_s: float = DEFAULT_STATE_TTL_S,
                            browser_binding: str | None = None) -> tuple[str, str]:
        """Begin an authorization-code flow. Returns (URL to send the user to, state).

        With ``connection_id`` the flow reconnects that (owned) connection instead of
        creating a new one. With ``browser_binding`` (a random value the HTTP service
        also puts in a cookie of the browser that starts the flow) only a callback that
        presents the same value completes it.
        """
        check_principal(principal)
        if pack.auth.kind != "oauth2_code":
            raise ArgumentError(f"pack {pack.name!r} uses auth kind {pack.auth.kind}, "
                                "not oauth2_code")
        check_redirect_uri(redirect_uri)
        if not client_id:
            raise ArgumentError("client_id is required", field="client_id")
        if connection_id is not None:
            self._check_pack(self._owned(principal, connection_id), pack)
        conn_name = name if name is not None else pack.name
        check_name(conn_name)
        now = self._clock()
        flow = new_flow(self._keyring, pack, principal=principal, client_id=client_id,
                        client_secret=client_secret, redirect_uri=redirect_uri, name=conn_name,
                        connection_id=connection_id, now=now, ttl_s=ttl_s,
                        browser_binding=browser_binding, named=name is not None)
        states = self._dbs[_DB_STATES]
        with self._txn(write=True) as txn:
            for key in stale_flows(all_items(txn, states), now=now, principal=principal,
                                   max_open=self._book.quotas.max_pending_flows):
                txn.delete(key, db=states)
            self._book.check_headroom(txn, new=True)
            self._key_ids.note(txn, state_key_id(flow.raw))
            txn.put(flow.key, flow.raw, db=states)
        return flow.url, flow.state

    def complete_authorization(self, state: str, code: str, *, principal: str | None = None,
                               browser_binding: str | None = None,
                               name_new: NameNew | None = None) -> ConnectionInfo:
        """Finish a flow from the redirect's ``state`` and ``code``: exchange the code and
        store the tokens, in the account of the principal that started it. A state works
        once, even when refused; ``principal``, if given, must own it; a flow started with
        a browser binding needs the same binding back. ``name_new`` names a new connection
        whose flow was started without a name (the pack's ``connection_name`` op)."""
        key = state_key(state)
        with self._txn(write=True) as txn:
            raw = bytes_or_none(txn.pop(key, db=self._dbs[_DB_STATES]))
        flow = open_flow(self._keyring, key, raw, principal=principal,
                         browser_binding=browser_binding, now=self._clock())
        tokens = exchange_code(
            self._require_http(), flow.route, flow.pending["options"],
            client_id=flow.client_id, client_secret=flow.client_secret, code=code,
            redirect_uri=flow.pending["redirect_uri"], code_verifier=flow.verifier,
            now=self._clock())
        values = token_secret(flow.client_id, flow.client_secret, tokens)
        info = self._store_authorized(flow.pending, values)
        unnamed = flow.pending.get("named") is False and flow.pending["connection_id"] is None
        return name_new(flow.pending["principal"], info) if name_new and unnamed else info

    def _store_authorized(self, pending: Mapping[str, Any],
                          values: dict[str, Any]) -> ConnectionInfo:
        with self._txn(write=True) as txn:
            if pending["connection_id"] is not None:
                old = self._owned_in(txn, pending["principal"], pending["connection_id"])
                record = replace(old, status=ACTIVE, expires_at=values["expires_at"],
                                 generation=old.generation + 1)
            else:
                record = Record(id=new_id(), principal=pending["principal"],
                                 pack=pending["pack"], name=pending["name"],
                                 kind="oauth2_code", status=ACTIVE,
                                 created_at=self._clock(), expires_at=values["expires_at"])
            self._put(txn, record, values)
        log.info("authorized connection %s (pack %s)", record.id, record.pack)
        return record.info

    # -- what the credentials session calls ----------------------------------------------

    def _load_secret(self, connection_id: str) -> LoadedSecret:
        with self._txn() as txn:
            record = self._record_in(txn, connection_id)
            blob = bytes_or_none(txn.get(connection_id.encode(), db=self._dbs[_DB_SECRETS]))
        if record.status == EXPIRED:
            raise expired_error(record, "its token could not be refreshed")
        values = self._open(record, blob)
        return LoadedSecret(generation=record.generation, values=values,
                            expires_at=record.expires_at)

    def _renew(self, connection_id: str, spec: AuthSpec, route: TokenRoute,
               seen_generation: int) -> None:
        with self._lock_for(connection_id):
            loaded = self._load_secret(connection_id)
            if loaded.generation != seen_generation:
                return  # another caller renewed it while we waited for the lock
            record = self._record(connection_id)
            try:
                tokens = self._new_tokens(record, spec, route, loaded.values)
            except ConnectionExpired:
                if self._record(connection_id).generation != record.generation:
                    return  # another node renewed it meanwhile: its tokens are current
                raise
            values = {**loaded.values, **token_fields(tokens)}
            with self._txn(write=True) as txn:
                current = self._record_in(txn, connection_id)
                updated = replace(current, status=ACTIVE, expires_at=tokens.expires_at,
                                  generation=current.generation + 1)
                self._put(txn, updated, values)
        log.info("renewed the access token of connection %s (pack %s)", record.id,
                 record.pack)

    def _new_tokens(self, record: Record, spec: AuthSpec, route: TokenRoute,
                    values: Mapping[str, Any]) -> TokenSet:
        http = self._require_http()
        try:
            if record.kind == "oauth2_client_credentials":
                return client_credentials(http, route, spec.options,
                                          client_id=values["client_id"],
                                          client_secret=values["client_secret"],
                                          now=self._clock())
            if not values.get("refresh_token"):
                raise self._mark_expired(record, "it has no refresh token")
            return refresh_tokens(http, route, spec.options, client_id=values["client_id"],
                                  client_secret=values.get("client_secret"),
                                  refresh_token=values["refresh_token"], now=self._clock())
        except AuthFlowError as exc:
            if not exc.details.get("rejected"):
                raise  # network trouble or a server error: the connection may still be fine
            raise self._mark_expired(record, "the token endpoint refused to renew it") from exc

    def _mark_expired(self, record: Record, why: str) -> ConnectionExpired:
        with self._txn(write=True) as txn:
            current = self._record_in(txn, record.id)
            if current.generation != record.generation:
                return expired_error(record, why)  # another node renewed it meanwhile
            self._put_record(txn, replace(current, status=EXPIRED), enforce=False)
        log.warning("connection %s (pack %s) expired: %s", record.id, record.pack, why)
        return expired_error(record, why)

    # -- storage helpers -----------------------------------------------------------------

    def _validated(self, pack: Manifest, secret: Mapping[str, Any]) -> dict[str, Any]:
        return validate_secret(pack.auth, secret,
                               dev_token_hosts=self._minter.settings.dev_token_hosts)

    @contextmanager
    def _txn(self, write: bool = False) -> Iterator[KvTxn]:
        self._check_open()
        try:
            # LMDB grows the map (StorageFull past it); PostgreSQL may be StoreUnavailable.
            with self._shared.txn(write=write) as txn:
                yield txn
        except lmdb.Error as exc:
            raise CredentialError(f"connection store error: {type(exc).__name__}: {exc}") \
                from exc

    def _put(self, txn: KvTxn, record: Record, values: Mapping[str, Any]) -> None:
        """Write a record and its sealed secret, charged to its principal's quota."""
        sealed = self._keyring.seal(json.dumps(dict(values)).encode(), record.aad)
        key = record.id.encode()
        self._charge(txn, record, key, len(record.to_bytes()) + len(sealed))
        self._key_ids.note(txn, blob_key_id(sealed))
        txn.put(key, record.to_bytes(), db=self._dbs[_DB_CONNECTIONS])
        txn.put(key, sealed, db=self._dbs[_DB_SECRETS])

    def _put_record(self, txn: KvTxn, record: Record, *,
                    enforce: bool = True) -> None:
        """Write a record whose secret stays as it is."""
        key = record.id.encode()
        blob = txn.get(key, db=self._dbs[_DB_SECRETS])
        new_size = len(record.to_bytes()) + (len(blob) if blob is not None else 0)
        self._charge(txn, record, key, new_size, enforce=enforce)
        txn.put(key, record.to_bytes(), db=self._dbs[_DB_CONNECTIONS])

    def _charge(self, txn: KvTxn, record: Record, key: bytes, new_size: int, *,
                enforce: bool = True) -> None:
        is_new = txn.get(key, db=self._dbs[_DB_CONNECTIONS]) is None
        old_size = stored_size(txn, key, self._dbs[_DB_CONNECTIONS], self._dbs[_DB_SECRETS])
        self._book.charge(txn, record.principal, count=int(is_new), size=new_size - old_size,
                          enforce=enforce)

    def _open(self, record: Record, blob: bytes | None) -> dict[str, Any]:
        if blob is None:
            raise CredentialError(f"connection {record.id} has lost its secret; reconnect it")
        values: dict[str, Any] = json.loads(self._keyring.open(blob, record.aad))
        return values

    def _record_in(self, txn: KvTxn, connection_id: str) -> Record:
        raw = bytes_or_none(txn.get(connection_id.encode(), db=self._dbs[_DB_CONNECTIONS]))
        if raw is None:
            raise NotFoundError(f"no connection {connection_id!r}", connection=connection_id)
        return Record.from_bytes(raw)

    def _record(self, connection_id: str) -> Record:
        with self._txn() as txn:
            return self._record_in(txn, connection_id)

    def _owned_in(self, txn: KvTxn, principal: str,
                  connection_id: str) -> Record:
        check_principal(principal)
        record = self._record_in(txn, connection_id)
        if record.principal != principal:
            # Same answer as a missing id, so ids cannot be probed.
            raise NotFoundError(f"no connection {connection_id!r}", connection=connection_id)
        return record

    def _owned(self, principal: str, connection_id: str) -> Record:
        with self._txn() as txn:
            return self._owned_in(txn, principal, connection_id)

    def _check_pack(self, record: Record, pack: Manifest) -> None:
        if record.pack != pack.name:
            raise AccessDenied(f"connection {record.id} belongs to pack {record.pack!r}, "
                               f"not {pack.name!r}", connection=record.id)
        if record.kind != pack.auth.kind:
            raise CredentialError(
                f"connection {record.id} was made for auth kind {record.kind}, but pack "
                f"{pack.name!r} now declares {pack.auth.kind}; reconnect it",
                connection=record.id)

    def _lock_for(self, connection_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(connection_id, threading.Lock())

    def _require_http(self) -> TokenClient:
        if self._http is None:
            raise AuthFlowError("no token client for OAuth2 token requests: construct the "
                                "ConnectionStore with http=TokenClient(...)")
        return self._http


class _StoreSession:
    """The :class:`~corral._connections.auth.SecretSession` of one stored connection."""

    def __init__(self, store: ConnectionStore, connection_id: str, spec: AuthSpec,
                 route: TokenRoute) -> None:
        self._store = store
        self._id = connection_id
        self._spec = spec
        self._route = route

    def load(self) -> LoadedSecret:
        return self._store._load_secret(self._id)

    def renew(self, seen_generation: int) -> None:
        self._store._renew(self._id, self._spec, self._route, seen_generation)

