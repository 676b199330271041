"""Hosts on their own data dirs sharing one Redis, and a local upstream that counts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from corral import Host, Settings
from corral.testing import FixtureRequest, RawServer, raw_response

from ..conftest import TEST_PACKS, built
from ..server.test_server import with_manifest

API = "api.example.test"
AUTH = "auth.example.test"
TOKEN = "tok-redis-bearer-7e21c4d09a"


def upstream(release: threading.Event | None = None) -> RawServer:
    """``/data`` answers JSON the fetcher's Summary reads; ``/slow`` first waits for
    ``release``; ``/echo`` sends back the request's headers (the injected token too)."""
    def answer(request: FixtureRequest) -> list[bytes]:
        if request.path == "/slow" and release is not None:
            release.wait(10.0)
        return [raw_response(b'{"path": "%s", "ok": true}' % request.path.encode(),
                             headers=[("Content-Type", "application/json")])]

    def echo(request: FixtureRequest) -> list[bytes]:
        seen = "; ".join(f"{k}={v}" for k, v in request.headers.items())
        return [raw_response(seen.encode(), headers=[("Content-Type", "text/plain")])]

    return RawServer({"/data": answer, "/slow": answer, "/echo": echo})


def cached_packs() -> list[bytes]:
    """The fetcher with Summary cached 10 minutes, the authed pack with Get cached too."""
    def cache(names: set[str]) -> Any:
        def change(manifest: dict[str, Any]) -> None:
            for formula in manifest["formulas"]:
                if formula["name"] in names:
                    formula["cache_ttl_s"] = 600
        return change

    return [with_manifest(built(TEST_PACKS / "fetcher").read_bytes(), cache({"Summary"})),
            with_manifest(built(TEST_PACKS / "authed").read_bytes(), cache({"Get"}))]


def settings(data_dir: Path, cache_url: str, port: int, **extra: Any) -> Settings:
    return Settings(data_dir=data_dir, cache_url=cache_url, allow_http=True,
                    host_map={API: f"127.0.0.1:{port}", AUTH: f"127.0.0.1:{port}"},
                    **extra)


@contextmanager
def hosts(tmp_path: Path, cache_url: str, port: int, count: int = 2,
          **extra: Any) -> Iterator[list[Host]]:
    """``count`` hosts, each with its own data dir (and so its own LMDB), one Redis."""
    packs = cached_packs()
    with ExitStack() as stack:
        made = []
        for i in range(count):
            host = stack.enter_context(Host(settings(tmp_path / f"node{i}", cache_url, port,
                                                     **extra)))
            for wasm in packs:
                host.register_bytes(wasm)
            made.append(host)
        yield made
