"""A small client for the parts of Corral's HTTP API the benchmark writes and checks.

Every request gives an :class:`Answer`: the status and JSON body, or status 0 when the
connection failed (the server was killed, or dropped the connection without a word). A
write is *acknowledged* only by a 2xx answer read in full.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import httpx

#: Words in an error document that give away the storage layer's internals.
INTERNALS = ("lmdb", "mdb_", "errno", "traceback", "environment", ".mdb", "oserror")


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def dropped(self) -> bool:
        return self.status == 0

    @property
    def detail(self) -> str:
        if isinstance(self.body, dict):
            return f"{self.body.get('kind', '')}: {self.body.get('detail', '')}"[:200]
        return str(self.body or self.error)[:200]

    @property
    def leaks_internals(self) -> bool:
        return not self.dropped and any(word in self.detail.lower() for word in INTERNALS)

    def describe(self, what: str) -> str:
        if self.dropped:
            return f"{what}: connection failed ({self.error[:120]})"
        return f"{what}: {self.status} {self.detail}"


class Api:
    """Requests to one server, as the admin unless another key is given."""

    def __init__(self, base_url: str, admin_key: str, *, timeout_s: float = 15.0) -> None:
        self.base_url = base_url
        self.admin_key = admin_key
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s)

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, *, json: Any = None, content: bytes | None = None,
                key: str | None = None) -> Answer:
        headers = {"Authorization": f"Bearer {key or self.admin_key}"}
        if content is not None:
            headers["Content-Type"] = "application/wasm"
        try:
            response = self._client.request(method, path, json=json, content=content,
                                            headers=headers)
        except httpx.TransportError as exc:
            return Answer(0, error=f"{type(exc).__name__}: {exc}")
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text[:500]
        return Answer(response.status_code, body)

    # -- packs -------------------------------------------------------------------------

    def upload(self, wasm: bytes) -> Answer:
        return self.request("POST", "/v1/packs", content=wasm)

    def delete_pack(self, name: str) -> Answer:
        return self.request("DELETE", f"/v1/packs/{name}")

    def pack(self, name: str) -> Answer:
        return self.request("GET", f"/v1/packs/{name}")

    def call(self, pack: str, formula: str, *args: Any, connection: str | None = None) -> Answer:
        body: dict[str, Any] = {"args": list(args)}
        if connection:
            body["connection"] = connection
        return self.request("POST", f"/v1/packs/{pack}/formulas/{formula}", json=body)

    # -- keys --------------------------------------------------------------------------

    def create_key(self, owner: str, role: str = "caller") -> Answer:
        return self.request("POST", "/v1/keys", json={"name": owner, "role": role})

    def revoke_key(self, key_id: str) -> Answer:
        return self.request("DELETE", f"/v1/keys/{key_id}")

    def key_ids(self) -> set[str] | Answer:
        """The ids of the keys listed (a revoked one listed with a flag counts as gone)."""
        answer = self.request("GET", "/v1/keys")
        if not answer.ok or not isinstance(answer.body, list):
            return answer
        return {str(k["id"]) for k in answer.body
                if not k.get("revoked") and k.get("status", "active") != "revoked"}

    def authenticates(self, key: str) -> Answer:
        """``GET /v1/packs`` with ``key``: 200 if the key is valid, 401 if not."""
        return self.request("GET", "/v1/packs", key=key)

    # -- connections -------------------------------------------------------------------

    def create_connection(self, pack: str, name: str, secret: dict[str, Any]) -> Answer:
        return self.request("POST", "/v1/connections",
                            json={"pack": pack, "name": name, "secret": secret})

    def delete_connection(self, connection_id: str) -> Answer:
        return self.request("DELETE", f"/v1/connections/{connection_id}")

    def connection_ids(self) -> set[str] | Answer:
        answer = self.request("GET", "/v1/connections")
        if not answer.ok or not isinstance(answer.body, list):
            return answer
        return {str(c["id"]) for c in answer.body}

    def test_connection(self, connection_id: str) -> Answer:
        return self.request("POST", f"/v1/connections/{connection_id}/test")


def eventually(check: Callable[[], Answer], want: Callable[[Answer], bool], *,
               within_s: float = 4.0) -> Answer:
    """``check()`` until its answer is what is wanted, for at most ``within_s``: what
    another process wrote may take a moment to be seen (a verdict, not a timing)."""
    deadline = time.monotonic() + within_s
    answer = check()
    while not want(answer) and not answer.dropped and time.monotonic() < deadline:
        time.sleep(0.1)
        answer = check()
    return answer
