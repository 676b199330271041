"""The PostgreSQL backend beyond the shared conformance suite: migrations, writers on
several nodes, change notifications between processes, outages and recovery."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Callable

import psycopg
import pytest

from corral import Host, Settings, StoreUnavailable
from corral._errors import CorralError
from corral._stores.pg import open_pg_space
from corral._stores.pg_schema import migrate, schema_version

from ..conftest import REPO
from ..pgfixture import PrivatePostgres
from ..runtime.test_calls import constant_pack

WAIT_S = 15.0
SECRET = "hunter2-not-for-logs"


def eventually(check: Callable[[], object], what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            result = check()
            if result:
                return result
        except StoreUnavailable:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


def run_nodes(code: str, count: int, *args: str) -> list[str]:
    """``code`` run by ``count`` processes at once (each its own pool); their outputs."""
    script = textwrap.dedent(code)
    env_path = f"{REPO / 'host'}"
    procs = [subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})
             for _ in range(count)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append(out)
    return outs


def applied(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(
            "SELECT version FROM corral_schema_migrations ORDER BY version")]


def test_migrations_run_once_and_again_change_nothing(postgres_url: str) -> None:
    kv = open_pg_space(postgres_url, "migrations", name="test store")
    kv.close()
    assert applied(postgres_url) == list(range(1, schema_version() + 1))
    with psycopg.connect(postgres_url) as conn:
        assert migrate(conn) == []
    again = open_pg_space(postgres_url, "migrations", name="test store")
    again.write(lambda txn: txn.put(b"k", b"v"))
    again.close()
    assert applied(postgres_url) == list(range(1, schema_version() + 1))


def test_nodes_starting_together_migrate_once(postgres_url: str) -> None:
    outs = run_nodes("""
        import sys
        from corral._stores.pg import open_pg_space
        kv = open_pg_space(sys.argv[1], "together", name="test store")
        kv.write(lambda txn: txn.put(b"started", b"yes"))
        print(kv.read(lambda txn: txn.get(b"started")).decode())
        kv.close()
    """, 4, postgres_url)
    assert [out.strip() for out in outs] == ["yes"] * 4
    assert applied(postgres_url) == list(range(1, schema_version() + 1))


def test_writers_on_several_nodes_lose_no_increment(postgres_url: str) -> None:
    rounds = 100
    run_nodes("""
        import sys
        from corral._stores.pg import open_pg_space
        kv = open_pg_space(sys.argv[1], "counting", name="test store")
        def increment(txn):
            txn.put(b"n", str(int(txn.get(b"n", b"0")) + 1).encode())
        for _ in range(int(sys.argv[2])):
            kv.write(increment)
        kv.close()
    """, 2, postgres_url, str(rounds))
    kv = open_pg_space(postgres_url, "counting", name="test store")
    try:
        assert kv.read(lambda txn: txn.get(b"n")) == str(2 * rounds).encode()
    finally:
        kv.close()


def test_a_commit_on_one_node_reaches_the_listener_of_another(postgres_url: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, threading
        from corral._stores.pg import open_pg_space
        kv = open_pg_space(sys.argv[1], "watched", name="test store")
        changed = threading.Event()
        kv.on_change(changed.set)
        print("ready", flush=True)
        print("changed" if changed.wait(30) else "timeout", flush=True)
        print(kv.read(lambda txn: txn.get(b"k")).decode(), flush=True)
        kv.close()
    """), postgres_url], stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": str(REPO / "host")})
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    kv = open_pg_space(postgres_url, "watched", name="test store")
    other = open_pg_space(postgres_url, "unwatched", name="test store")
    try:
        other.write(lambda txn: txn.put(b"k", b"elsewhere"))  # another space: no wake-up
        kv.write(lambda txn: txn.put(b"k", b"hello"))
        out, _ = child.communicate(timeout=60)
    finally:
        kv.close()
        other.close()
    assert out.split() == ["changed", "hello"]


def test_a_write_that_changes_nothing_notifies_nobody(postgres_url: str) -> None:
    kv = open_pg_space(postgres_url, "quiet", name="test store")
    calls: list[str] = []
    try:
        kv.on_change(lambda: calls.append("quiet"))
        kv.write(lambda txn: txn.delete(b"absent"))
        kv.write(lambda txn: txn.put(b"marker", b"1"))  # delivered in commit order
        eventually(lambda: calls, "the marker's notification")
        assert calls == ["quiet"]
    finally:
        kv.close()


def test_a_nested_write_to_the_same_space_is_refused(postgres_url: str) -> None:
    kv = open_pg_space(postgres_url, "nested", name="nested store")
    try:
        with pytest.raises(CorralError, match="inside another write"):
            kv.write(lambda txn: kv.write(lambda inner: inner.put(b"k", b"v")))
        with pytest.raises(CorralError, match="read transaction"):
            kv.read(lambda txn: txn.put(b"k", b"v"))
        assert kv.read(lambda txn: txn.get(b"k")) is None
    finally:
        kv.close()


def secret_url(server: PrivatePostgres) -> str:
    return f"postgresql://postgres:{SECRET}@127.0.0.1:{server.port}/postgres"


def test_an_outage_fails_fast_and_the_store_recovers_by_itself(
        private_postgres: PrivatePostgres, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    kv = open_pg_space(secret_url(private_postgres), "outage", name="outage store")
    woken = threading.Event()
    try:
        kv.write(lambda txn: txn.put(b"k", b"before"))
        kv.on_change(woken.set)
        kv.ping()
        private_postgres.stop()
        with pytest.raises(StoreUnavailable):
            kv.ping()
        for _ in range(3):
            with pytest.raises(StoreUnavailable) as down:
                kv.read(lambda txn: txn.get(b"k"))
            assert down.value.details == {"store": "postgresql", "retry_after_s": 1}
            # a caller may see this message: it names the store, not where it runs
            assert "PostgreSQL" in down.value.message
            assert str(private_postgres.port) not in down.value.message
        with pytest.raises(StoreUnavailable):
            kv.write(lambda txn: txn.put(b"k", b"during"))
        eventually(lambda: not kv.listening, "the listener notices the outage")
        woken.clear()
        private_postgres.start()
        assert eventually(lambda: kv.read(lambda txn: txn.get(b"k")), "reads again") == b"before"
        eventually(lambda: kv.listening, "the listener is back")
        assert woken.wait(WAIT_S), "subscribers hear that they may have missed changes"
        kv.write(lambda txn: txn.put(b"k", b"after"))
        assert kv.read(lambda txn: txn.get(b"k")) == b"after"
        assert SECRET not in str(down.value)
    finally:
        kv.close()
    assert SECRET not in caplog.text
    assert "unreachable" in caplog.text


def test_a_crash_restart_costs_no_request(private_postgres: PrivatePostgres) -> None:
    kv = open_pg_space(private_postgres.url, "crash", name="crash store")
    try:
        kv.write(lambda txn: txn.put(b"k", b"1"))
        private_postgres.stop(mode="immediate")
        private_postgres.start()
        # the pooled connection died with the server; the write takes a new one
        assert kv.write(lambda txn: txn.put(b"k", b"2")) is True
        assert kv.read(lambda txn: txn.get(b"k")) == b"2"
    finally:
        kv.close()


def test_a_store_that_never_answered_is_unavailable(tmp_path: Path) -> None:
    from tests.pgfixture import free_port

    url = f"postgresql://postgres:{SECRET}@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(StoreUnavailable) as down:
        open_pg_space(url, "none", name="test store")
    assert SECRET not in str(down.value) and "PostgreSQL" in str(down.value)
    assert "nothing" not in str(down.value)  # a caller is not told where the store runs


def test_the_registry_fails_fast_in_an_outage_then_serves_again(
        private_postgres: PrivatePostgres, tmp_path: Path) -> None:
    url = private_postgres.url
    with Host(Settings(data_dir=tmp_path / "a", store_url=url)) as host:
        host.register_bytes(constant_pack("1.0.0", "one"))
        assert host.call("versions", "Which") == "one"
        private_postgres.stop()
        eventually(lambda: not host.registry._watched.listening,  # type: ignore[union-attr]
                   "the listener notices the outage")
        with pytest.raises(StoreUnavailable):
            host.call("versions", "Which")
        private_postgres.start()
        assert eventually(lambda: host.call("versions", "Which"), "serves again") == "one"


def test_a_listener_cut_off_reconnects_and_tells_every_subscriber(postgres_url: str) -> None:
    kv = open_pg_space(postgres_url, "cut", name="test store")
    heard = threading.Event()
    try:
        kv.on_change(heard.set)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            ended = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                "datname = current_database() AND query LIKE 'LISTEN%%'").fetchall()
        assert ended, "found the listener's session"
        assert heard.wait(WAIT_S), "subscribers were told they may have missed changes"
        eventually(lambda: kv.listening, "the listener is back")
        heard.clear()
        kv.write(lambda txn: txn.put(b"k", b"v"))
        assert heard.wait(WAIT_S), "and notifications flow again"
    finally:
        kv.close()


def corral_sessions(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND application_name = 'corral'").fetchone()
    return int(row[0]) if row else 0


def test_spaces_share_one_pool_which_closes_with_its_last_user(postgres_url: str) -> None:
    one = open_pg_space(postgres_url, "one", name="test store")
    two = open_pg_space(postgres_url, "two", name="test store")
    one.write(lambda txn: txn.put(b"k", b"1"))
    two.write(lambda txn: txn.put(b"k", b"2"))
    assert one._backend is two._backend
    one.close()
    assert two.read(lambda txn: txn.get(b"k")) == b"2"
    with pytest.raises(CorralError, match="closed"):
        one.read(lambda txn: txn.get(b"k"))
    two.close()
    eventually(lambda: corral_sessions(postgres_url) == 0, "every session of the pool ends")


def test_more_threads_than_pooled_connections_all_get_served(postgres_url: str) -> None:
    kv = open_pg_space(postgres_url, "crowd", name="test store")
    threads_count, rounds = 24, 10
    failures: list[BaseException] = []

    def worker(index: int) -> None:
        key = b"t%d" % index
        try:
            for _ in range(rounds):
                kv.write(lambda txn: txn.put(key, str(int(txn.get(key, b"0")) + 1).encode()))
                kv.read(lambda txn: txn.get(key))
        except BaseException as exc:  # reported below, with the thread's own error
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not failures, failures[:3]
        counts = kv.read(lambda txn: [int(v) for _, v in txn.cursor()])
        assert counts == [rounds] * threads_count
    finally:
        kv.close()


def test_a_role_that_may_not_create_tables_gets_a_clear_error(postgres_url: str) -> None:
    role = "corral_reader_" + postgres_url.rsplit("_", 1)[-1]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC, {role}")
    try:
        url = postgres_url.replace("postgres@", f"{role}@", 1)
        with pytest.raises(CorralError, match="could not be prepared") as refused:
            open_pg_space(url, "denied", name="test store")
        assert "InsufficientPrivilege" in str(refused.value)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
