"""The console's session store: on disk, so another process or a restart knows a
session; holding neither the cookie nor the CSRF token in clear; bounded."""

from __future__ import annotations

from pathlib import Path

from corral._server.apikeys import Principal
from corral._server.sessions import SessionStore

ALICE = Principal("alice", "caller", "key_alice")


def test_a_session_outlives_its_store_object_and_the_disk_holds_no_cookie_or_token(
        tmp_path: Path) -> None:
    with SessionStore(tmp_path / "sessions") as first:
        cookie, session = first.create(ALICE)
    with SessionStore(tmp_path / "sessions") as again:
        found = again.get(cookie)
        assert found is not None and found.key_id == "key_alice"
        assert found.csrf_token == session.csrf_token
    on_disk = b"".join(p.read_bytes() for p in (tmp_path / "sessions").iterdir())
    assert cookie.encode() not in on_disk and session.csrf_token.encode() not in on_disk


def test_expired_and_ended_sessions_are_gone_and_the_store_keeps_its_bound(
        tmp_path: Path) -> None:
    now = [1000.0]
    with SessionStore(tmp_path / "s", ttl_s=10, max_sessions=3, clock=lambda: now[0]) as store:
        cookies = []
        for _ in range(5):
            cookies.append(store.create(ALICE)[0])
            now[0] += 0.5  # each later session expires later
        assert len(store) == 3
        assert [store.get(c) is not None for c in cookies] == [False, False, True, True, True]
        store.end(cookies[2])
        assert store.get(cookies[2]) is None
        now[0] += 10
        assert store.get(cookies[3]) is None and len(store) == 0
