"""The at-rest scan of the attack tests: every PostgreSQL row (each column as bytes) and
every Redis key and value under a prefix, each also decompressed, base64-decoded and
decoded from MessagePack or JSON, searched for secrets."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from collections.abc import Iterator
from typing import Any

import msgpack
import psycopg
import redis

def decoded_forms(raw: bytes, depth: int = 0) -> Iterator[bytes]:
    """``raw`` and what it may hide: decompressed, base64-decoded, MessagePack or JSON."""
    yield raw
    if depth > 3 or not raw:
        return
    inner: list[bytes] = []
    for decompress in (zlib.decompress, gzip.decompress,
                       lambda b: zlib.decompress(b, -zlib.MAX_WBITS)):
        try:
            inner.append(decompress(raw))
        except (zlib.error, OSError, EOFError, ValueError):
            pass
    try:
        inner.append(base64.b64decode(raw + b"=" * (-len(raw) % 4), altchars=b"-_",
                                      validate=True))
    except ValueError:
        pass
    for load in (lambda b: msgpack.unpackb(b, raw=True, strict_map_key=False),
                 lambda b: json.loads(b)):
        try:
            inner.extend(flattened(load(raw)))
        except Exception:  # noqa: BLE001 - anything undecodable is simply not that form
            pass
    for item in inner:
        if item != raw:
            yield from decoded_forms(item, depth + 1)


def flattened(value: Any) -> Iterator[bytes]:
    if isinstance(value, (bytes, bytearray, memoryview)):
        yield bytes(value)
    elif isinstance(value, str):
        yield value.encode("utf-8", "surrogatepass")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from flattened(key)
            yield from flattened(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from flattened(item)
    elif isinstance(value, msgpack.ExtType):
        yield value.data


def postgres_contents(store_url: str) -> Iterator[tuple[str, bytes]]:
    with psycopg.connect(store_url) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM "
            "information_schema.tables WHERE table_schema NOT IN "
            "('pg_catalog', 'information_schema')")]
        assert tables, "no tables in the store"
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}"):
                for column in row:
                    raw = column if isinstance(column, bytes) else str(column).encode()
                    yield table, raw


def redis_contents(cache_url: str, prefix: str) -> Iterator[tuple[str, bytes]]:
    client = redis.Redis.from_url(cache_url.split("?")[0])
    try:
        for key in client.scan_iter(f"{prefix}*", count=1000):
            yield "key", key
            kind = client.type(key)
            if kind == b"string":
                yield "value", client.get(key) or b""
            elif kind == b"hash":
                for name, value in client.hgetall(key).items():
                    yield "hash", name + b"=" + value
            elif kind == b"zset":
                for member, _ in client.zrange(key, 0, -1, withscores=True):
                    yield "zset", member
            elif kind == b"set":
                yield from (("set", m) for m in client.smembers(key))
            elif kind == b"list":
                yield from (("list", m) for m in client.lrange(key, 0, -1))
    finally:
        client.close()


def leaks(contents: Iterator[tuple[str, bytes]], secrets: set[str]) -> list[str]:
    wanted = {s.encode() for s in secrets if s}
    found = []
    for where, raw in contents:
        for form in decoded_forms(raw):
            for secret in wanted:
                if secret in form:
                    found.append(f"{where}: {secret.decode()}")
    return sorted(set(found))
