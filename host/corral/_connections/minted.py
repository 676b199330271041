"""Credentials the host mints from a connection's secret and keeps until they expire:
AWS temporary credentials (AssumeRole) and Google service-account access tokens.

Kept in memory only (never at rest, never in a cache key), per connection and secret
generation, so a reconnected connection mints afresh. Concurrent callers of one
connection wait for one mint.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .._types import Clock
from .aws import AwsKeys, StsSettings, assume_role
from .google import mint_token
from .kinds import check_token_uri
from .oauth import TokenClient

#: Mint again this long before the credentials expire.
MINT_SKEW_S = 60.0


@dataclass(frozen=True)
class MintSettings:
    """The host settings minting needs."""

    sts: StsSettings = field(default_factory=StsSettings)
    #: Host names a service-account key's token_uri may name besides Google's (tests).
    dev_token_hosts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Minted:
    value: Any = field(repr=False)
    expires_at: float


class Minter:
    """Mints and caches the short-lived credentials of connections."""

    def __init__(self, http: Callable[[], TokenClient], settings: MintSettings,
                 clock: Clock) -> None:
        self._http = http
        self.settings = settings
        self._clock = clock
        self._cache: dict[tuple[str, int], _Minted] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        #: How many mints reached the network (for tests and metrics).
        self.mints = 0

    def aws_role(self, connection_id: str, generation: int,
                 values: Mapping[str, Any]) -> AwsKeys:
        def mint() -> tuple[AwsKeys, float]:
            keys = assume_role(self._http(), self.settings.sts, role_arn=values["role_arn"],
                               external_id=values.get("external_id"),
                               session_name=f"corral-{connection_id}"[:64])
            return keys, keys.expires_at or self._clock() + self.settings.sts.duration_s

        found: AwsKeys = self._get(connection_id, generation, mint)
        return found

    def google_token(self, connection_id: str, generation: int, values: Mapping[str, Any],
                     scopes: Sequence[str]) -> str:
        def mint() -> tuple[str, float]:
            # Checked again: the key may predate a change of allow_dev_token_uris.
            check_token_uri(values["service_account_key"]["token_uri"],
                            self.settings.dev_token_hosts)
            tokens = mint_token(self._http(), values["service_account_key"], scopes,
                                self._clock())
            return tokens.access_token, tokens.expires_at or self._clock() + 3600

        found: str = self._get(connection_id, generation, mint)
        return found

    def cached(self, connection_id: str) -> list[Any]:
        """What is held for a connection now (for redaction)."""
        with self._guard:
            return [m.value for (cid, _), m in self._cache.items() if cid == connection_id]

    def forget(self, connection_id: str) -> None:
        """Drop a connection's minted credentials (after a 401, or when it is deleted)."""
        with self._guard:
            for key in [k for k in self._cache if k[0] == connection_id]:
                del self._cache[key]

    def _get(self, connection_id: str, generation: int,
             mint: Callable[[], tuple[Any, float]]) -> Any:
        key = (connection_id, generation)
        with self._guard:
            lock = self._locks.setdefault(connection_id, threading.Lock())
        with lock:
            with self._guard:
                held = self._cache.get(key)
            if held is not None and self._clock() < held.expires_at - MINT_SKEW_S:
                return held.value
            value, expires_at = mint()
            self.mints += 1
            with self._guard:
                for old in [k for k in self._cache if k[0] == connection_id]:
                    del self._cache[old]
                self._cache[key] = _Minted(value, expires_at)
            return value
