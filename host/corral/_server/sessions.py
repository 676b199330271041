"""Console sessions: an API key exchanged once for a cookie the page's scripts cannot read.

Signing in to the console (``POST /v1/console/session``) checks the API key and makes a
session: a random id (256 bits) that goes to the browser in an ``HttpOnly``,
``SameSite=Strict`` cookie (``Secure`` over https), and a CSRF token the page reads from
``GET /v1/console/session`` and sends back in the ``X-CSRF-Token`` header. The key itself
is never stored, in the browser or here: a session holds the key's *id*, and every request
looks the key up again, so a key revoked after sign-in stops its sessions at once (and a
changed role shows at once too).

Sessions live in this process's memory, keyed by the SHA-256 of their id (a lookup
says nothing about other ids, and a memory dump holds no usable cookie). They end at
sign-out, after ``SESSION_TTL_S``, or when the server restarts (the console then asks
to sign in again); at most ``MAX_SESSIONS`` are kept, the oldest dropped first.

A request that carries the cookie is admitted by :func:`admit_session` (called by the
guard): for any method but GET, HEAD and OPTIONS it must also carry the session's CSRF
token, compared in constant time, or it is refused 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .._errors import AccessDenied, Unauthenticated
from .apikeys import ApiKeyStore, Principal

COOKIE_NAME = "corral_session"
CSRF_HEADER = "x-csrf-token"
#: A session's lifetime from sign-in, in seconds (8 hours: a working day).
SESSION_TTL_S = 8 * 3600.0
MAX_SESSIONS = 10_000
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Session:
    """What the server keeps for one signed-in browser (never the key)."""

    key_id: str
    csrf_token: str
    expires_at: float  # on the store's clock


class SessionStore:
    """Console sessions in memory; safe to share between threads."""

    def __init__(self, *, ttl_s: float = SESSION_TTL_S, max_sessions: int = MAX_SESSIONS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self.clock = clock
        self._sessions: OrderedDict[bytes, Session] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, principal: Principal) -> tuple[str, Session]:
        """A new session for the key ``principal`` signed in with: its cookie value
        (given to the browser, not kept) and the session."""
        session_id = secrets.token_urlsafe(32)
        session = Session(principal.key_id, secrets.token_urlsafe(32),
                          self.clock() + self.ttl_s)
        with self._lock:
            self._drop_expired()
            while len(self._sessions) >= self.max_sessions:
                self._sessions.popitem(last=False)
            self._sessions[_digest(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of a cookie value; None if unknown, ended or expired."""
        if not session_id:
            return None
        digest = _digest(session_id)
        with self._lock:
            session = self._sessions.get(digest)
            if session is not None and session.expires_at <= self.clock():
                del self._sessions[digest]
                return None
            return session

    def end(self, session_id: str | None) -> None:
        """Sign out: the cookie value is refused from now on."""
        if session_id:
            with self._lock:
                self._sessions.pop(_digest(session_id), None)

    def __len__(self) -> int:
        with self._lock:
            self._drop_expired()
            return len(self._sessions)

    def _drop_expired(self) -> None:
        now = self.clock()
        for digest in [d for d, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[digest]


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


def _digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).digest()
