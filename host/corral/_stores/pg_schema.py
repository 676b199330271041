"""The PostgreSQL schema of the key-value seam, and its versioned migrations.

Every space ("registry", "connections", ...) shares one table: a row per key, keyed by
the space, the sub-database and the key. ``bytea`` compares bytewise, so an index scan
yields keys in the order LMDB would. Migrations are numbered; the applied ones are
recorded in ``corral_schema_migrations``. They run when a process first opens a URL, in
one transaction holding an advisory lock, so nodes starting together apply each one
exactly once and the later ones find it done.
"""

from __future__ import annotations

import logging
from typing import Final

import psycopg

log = logging.getLogger("corral.storage")

#: Distinguishes the migration lock from any other advisory lock on the database.
MIGRATION_LOCK: Final = 0x636F7272616C  # "corral"

#: (version, what it does, its statements); append only, never edit a released one.
MIGRATIONS: Final[tuple[tuple[int, str, tuple[str, ...]], ...]] = (
    (1, "key-value table", (
        """CREATE TABLE corral_kv (
               space text COLLATE "C" NOT NULL,
               db text COLLATE "C" NOT NULL,
               key bytea NOT NULL,
               value bytea NOT NULL,
               PRIMARY KEY (space, db, key))""",
    )),
)

_LEDGER = """CREATE TABLE IF NOT EXISTS corral_schema_migrations (
                 version integer PRIMARY KEY,
                 name text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now())"""


def migrate(conn: psycopg.Connection[tuple[object, ...]]) -> list[int]:
    """Apply the migrations ``conn``'s database lacks; the versions applied now."""
    applied_now: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(_LEDGER)  # read committed: sees what the previous lock holder made
        done = {int(str(row[0])) for row in
                conn.execute("SELECT version FROM corral_schema_migrations")}
        for version, name, statements in MIGRATIONS:
            if version in done:
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO corral_schema_migrations (version, name) "
                         "VALUES (%s, %s)", (version, name))
            applied_now.append(version)
    newer = sorted(done - {version for version, _, _ in MIGRATIONS})
    if newer:
        log.warning("the store's schema has migrations this release does not know (%s); "
                    "a newer Corral migrated it", ", ".join(map(str, newer)))
    if applied_now:
        log.info("store schema migrated to version %d", applied_now[-1])
    return applied_now


def schema_version() -> int:
    """The newest migration this release knows."""
    return MIGRATIONS[-1][0]
