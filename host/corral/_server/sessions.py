"""Console sessions: an API key exchanged once for a cookie the page's scripts cannot read.

Signing in to the console (``POST /v1/console/session``) checks the API key and makes a
session: a random id (256 bits) that goes to the browser in an ``HttpOnly``,
``SameSite=Strict`` cookie (``Secure`` over https), and a CSRF token the page reads from
``GET /v1/console/session`` and sends back in the ``X-CSRF-Token`` header. The key itself
is never stored, in the browser or here: a session holds the key's *id*, and every request
looks the key up again, so a key revoked after sign-in stops its sessions at once (and a
changed role shows at once too).

Sessions live in the data directory (an LMDB store, ``console-sessions/``), or in the
``console-sessions`` space of PostgreSQL when ``store_url`` is set, so every worker
process of ``corral serve --workers N``, every node and a restarted server know them. A
session is stored under the SHA-256 of its id (the store holds no usable cookie) with only
the key's id and its expiry on the wall clock; its CSRF token is not stored at all but
derived from the id (a hash apart from the store's), so only the holder of the cookie can
learn it from ``GET /v1/console/session``. Sessions end at sign-out or after
``SESSION_TTL_S``; at most ``MAX_SESSIONS`` are kept, the soonest to expire dropped first.

A request that carries the cookie is admitted by :func:`admit_session` (called by the
guard): for any method but GET, HEAD and OPTIONS it must also carry the session's CSRF
token, compared in constant time, or it is refused 403.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .._closing import Closeable
from .._stores.kv import KvTxn
from .._stores.opening import open_kv

from .._errors import AccessDenied, Unauthenticated
from .apikeys import ApiKeyStore, Principal

COOKIE_NAME = "corral_session"
CSRF_HEADER = "x-csrf-token"
#: A session's lifetime from sign-in, in seconds (8 hours: a working day).
SESSION_TTL_S = 8 * 3600.0
MAX_SESSIONS = 10_000
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MAP_BYTES = 4 * 1024 * 1024
_MAP_MAX_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Session:
    """What the server keeps for one signed-in browser (never the key)."""

    key_id: str
    csrf_token: str
    expires_at: float  # on the store's clock (the wall clock: processes share it)


class SessionStore(Closeable):
    """Console sessions in the data directory; safe to share between threads and
    processes."""

    closeable_name = "console session store"

    def __init__(self, path: Path, *, ttl_s: float = SESSION_TTL_S,
                 max_sessions: int = MAX_SESSIONS,
                 clock: Callable[[], float] = time.time, store_url: str | None = None) -> None:
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self.clock = clock
        self._env = open_kv(store_url, "console-sessions", lmdb_dir=path, map_size=_MAP_BYTES,
                            max_map_size=_MAP_MAX_BYTES, max_dbs=0,
                            name="console session store")

    def _close(self) -> None:
        self._env.close()

    def create(self, principal: Principal) -> tuple[str, Session]:
        """A new session for the key ``principal`` signed in with: its cookie value
        (given to the browser, not kept) and the session."""
        session_id = secrets.token_urlsafe(32)
        expires_at = self.clock() + self.ttl_s
        record = json.dumps({"key_id": principal.key_id, "expires_at": expires_at}).encode()

        def add(txn: KvTxn) -> None:
            self._make_room(txn)
            txn.put(_digest(session_id), record)

        self._env.write(add)
        return session_id, Session(principal.key_id, _csrf_token(session_id), expires_at)

    def get(self, session_id: str | None) -> Session | None:
        """The live session of a cookie value; None if unknown, ended or expired."""
        if not session_id:
            return None
        raw = self._env.read(lambda txn: txn.get(_digest(session_id)))
        if raw is None:
            return None
        record = json.loads(bytes(raw))
        if float(record["expires_at"]) <= self.clock():
            self.end(session_id)
            return None
        return Session(str(record["key_id"]), _csrf_token(session_id),
                       float(record["expires_at"]))

    def end(self, session_id: str | None) -> None:
        """Sign out: the cookie value is refused from now on."""
        if session_id:
            self._env.write(lambda txn: txn.delete(_digest(session_id)), frees=True)

    def __len__(self) -> int:
        now = self.clock()
        return int(self._env.read(lambda txn: sum(
            1 for _, raw in txn.cursor() if float(json.loads(bytes(raw))["expires_at"]) > now)))

    def _make_room(self, txn: KvTxn) -> None:
        """Drop expired sessions, then the soonest to expire while the store is full."""
        now = self.clock()
        entries = [(float(json.loads(bytes(raw))["expires_at"]), bytes(key))
                   for key, raw in txn.cursor()]
        live = sorted((expiry, key) for expiry, key in entries if expiry > now)
        for expiry, key in entries:
            if expiry <= now:
                txn.delete(key)
        for _, key in live[:max(0, len(live) - self.max_sessions + 1)]:
            txn.delete(key)


def admit_session(sessions: SessionStore, keys: ApiKeyStore, session_id: str,
                  method: str, csrf_token: str | None) -> Principal:
    """The principal a session cookie stands for, checked as a bearer key would be.

    Unauthenticated (401) for an unknown, ended or expired session or a revoked key;
    AccessDenied (403) for a state-changing request without the session's CSRF token."""
    session = sessions.get(session_id)
    if session is None:
        raise Unauthenticated("the console session is not valid (signed out or expired): "
                              "sign in again")
    principal = keys.principal_for_id(session.key_id)
    if principal is None:
        sessions.end(session_id)
        raise Unauthenticated("the API key this console session signed in with was revoked")
    if method not in SAFE_METHODS and not _same_token(session.csrf_token, csrf_token):
        raise AccessDenied(f"a {method} with the console session cookie needs the "
                           f"session's CSRF token in the {CSRF_HEADER!r} header")
    return principal


def _same_token(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def _csrf_token(session_id: str) -> str:
    material = hashlib.sha256(b"corral console csrf\0" + session_id.encode("utf-8", "replace"))
    return base64.urlsafe_b64encode(material.digest()).decode().rstrip("=")


def _digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).digest()
