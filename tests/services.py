"""The shared services tests reach: a database of their own on PostgreSQL.

``CORRAL_TEST_POSTGRES_URL`` names the server when set, else the local one
(``postgresql://postgres@127.0.0.1:5432/test``); when neither answers, the session
starts a private server from the binaries (:mod:`tests.pgfixture`), and without
binaries the test fails naming what to install. Each test that asks for
``postgres_url`` gets a new database ``corral_test_<random>`` on it, dropped after the
test (connections still open are ended).

Use it by importing the fixture into a conftest or test module::

    from tests.services import postgres_url  # noqa: F401
"""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import quote

import psycopg
import pytest
from psycopg import conninfo

from tests.pgfixture import running_postgres

POSTGRES_URL_ENV = "CORRAL_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def with_database(url: str, dbname: str) -> str:
    """``url`` naming database ``dbname`` instead."""
    parts = conninfo.conninfo_to_dict(url)
    user = quote(str(parts.get("user") or "postgres"), safe="")
    password = f":{quote(str(parts['password']), safe='')}" if parts.get("password") else ""
    host = quote(str(parts.get("host") or "127.0.0.1"), safe="")  # a socket dir is a path
    port = parts.get("port") or "5432"
    return f"postgresql://{user}{password}@{host}:{port}/{dbname}"


def answers(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError:
        return False
    return True


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``server_url``; dropped afterwards."""
    name = f"corral_test_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server URL for the session (the configured one, or a private one)."""
    url = os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL
    if answers(url):
        yield url
        return
    with running_postgres() as server:
        yield server.url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A database of this test's own (``postgresql://...``), dropped after it."""
    with fresh_database(postgres_server_url) as url:
        yield url
