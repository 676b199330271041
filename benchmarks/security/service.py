"""The real HTTP service for the attacks on it: ``create_app`` over a Host, served by a
real uvicorn on a socket bound on 127.0.0.1 before the app is made (so ``public_url`` can
name it), with API keys for a few principals. Every response an attack gets goes to the
judge, which looks for secrets in it (problem documents included)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn

from corral import Host, Settings, create_app
from corral._server.apikeys import ApiKeyStore

from .settings import with_settings

if TYPE_CHECKING:
    from .harness import Bench

PRINCIPALS = ("alice", "bob", "eve", "mallory")
STARTUP_POLLS = 2000  # x 5 ms: how long uvicorn may take to start


@dataclass(frozen=True)
class Answered:
    """What the service answered; the judge reads its kind as ``http_<status>``."""

    status: int
    detail: str = ""

    @property
    def outcome_kind(self) -> str:
        return f"http_{self.status}" if self.status else "no_answer"


class RunningService:
    """One app under uvicorn; ``close()`` stops it."""

    def __init__(self, bench: Bench, host: Host, settings: Settings, keys_file: Path, *,
                 public_url: bool = True) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(512)
        self.port = int(self._socket.getsockname()[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.host = host
        if public_url:
            settings = with_settings(settings, public_url=self.base_url)
        self.settings = settings
        store = ApiKeyStore(keys_file)
        self.keys = {"admin": store.ensure_admin() or "",
                     **{name: store.create(name)[1] for name in PRINCIPALS}}
        bench.detector.add(*self.keys.values(), exact=True)
        self._bench = bench
        app = create_app(host, settings, keys=store)
        self._server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False,
                                                     lifespan="on", log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True,
                                        kwargs={"sockets": [self._socket]},
                                        name=f"bench-service-{self.port}")
        self._thread.start()
        for _ in range(STARTUP_POLLS):
            if self._server.started:
                break
            time.sleep(0.005)
        else:
            raise RuntimeError("uvicorn did not start")

    def client(self, who: str | None = None, **kwargs: Any) -> httpx.Client:
        """A client of the service (with ``who``'s key) whose responses the judge reads."""
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return httpx.Client(base_url=self.base_url, headers=headers, trust_env=False,
                            event_hooks={"response": [self._record]},
                            timeout=kwargs.pop("timeout", 30.0), **kwargs)

    def _record(self, response: httpx.Response) -> None:
        response.read()
        self._bench.http_texts.append(f"{response.status_code} {dict(response.headers)} "
                                      f"{response.text}")

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


def service(bench: Bench, name: str, *, host: Host | None = None, public_url: bool = True,
            **settings: Any) -> RunningService:
    """The service ``name`` (made on first use) over ``host`` (the bench's by default)."""
    key = f"service:{name}"
    if key not in bench.extras:
        target = host or bench.host
        # refusals answered at once: the verdicts count them, a delay would only cost time
        settings.setdefault("refusal_delay_s", 0.0)
        running = RunningService(bench, target, with_settings(target.settings, **settings),
                                 bench.data_dir / f"keys-{name}.json", public_url=public_url)
        bench.extras[key] = running
        bench.on_close(running.close)
    found: RunningService = bench.extras[key]
    return found
