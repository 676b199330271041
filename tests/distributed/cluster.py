"""Several ``corral serve`` processes, each with its own data dir, on one PostgreSQL and
one Redis: the topology docs/deployment.md describes, on 127.0.0.1.

:class:`Cluster` starts the nodes with one shared secret key, admin key, store URL and
cache URL; :meth:`Node.kill` is ``kill -9`` and :meth:`Node.start` brings a node back on
the same port and data dir. Packs are uploaded through the API (so they reach the store),
never registered from the command line.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import httpx

from ..conftest import REPO

ADMIN_KEY = "cluster-admin-key-0123456789abcdefgh"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
SECRET_KEY_ENV = "CORRAL_SECRET_KEY"
STARTUP_TIMEOUT_S = 60.0
PUBLIC_URL = "https://corral.example.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def node_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This checkout's corral, a clean ``CORRAL_*`` environment, and ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CORRAL_") or k in ("CORRAL_CALL_PATH", "CORRAL_CACHE_DIR")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "host"), str(REPO)])
    env.update(PYTHONUNBUFFERED="1", CORRAL_ADMIN_KEY=ADMIN_KEY, **extra)
    return env


@dataclass
class Node:
    name: str
    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Node:
        log = open(self.data_dir.parent / f"{self.name}.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "corral", "serve", "--data-dir", str(self.data_dir),
             "--port", str(self.port)], cwd=REPO, env=self.env, stdin=subprocess.DEVNULL,
            stdout=log, stderr=log)
        log.close()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"node {self.name} exited ({self.process.returncode}):\n"
                                     f"{self.log()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"node {self.name} never became ready:\n{self.log()[-4000:]}")

    def log(self) -> str:
        path = self.data_dir.parent / f"{self.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self) -> None:
        """``kill -9``: no shutdown of any kind."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, key: str = ADMIN_KEY, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"Authorization": f"Bearer {key}"}, **kwargs)


class Cluster:
    """``count`` nodes on one store and one cache, started together."""

    def __init__(self, root: Path, *, store_url: str, cache_url: str, secret_key: str,
                 count: int = 3, extra_env: Mapping[str, str] | None = None) -> None:
        # One public URL, as behind a load balancer: it is part of a call's context (and
        # of its cache key), so nodes answering on their own ports would never share one.
        env = node_env({"CORRAL_STORE_URL": store_url, "CORRAL_CACHE_URL": cache_url,
                        "CORRAL_PUBLIC_URL": PUBLIC_URL,
                        SECRET_KEY_ENV: secret_key, **(extra_env or {})})
        self.nodes = [Node(name, root / f"node-{name}", dict(env))
                      for name in "ABCDEFGH"[:count]]

    def __enter__(self) -> Cluster:
        for node in self.nodes:
            node.data_dir.parent.mkdir(parents=True, exist_ok=True)
            node.start()
        for node in self.nodes:
            node.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        for node in self.nodes:
            node.stop()

    def __getitem__(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)
