"""``corral serve --workers N``: N processes answering on one listening socket.

The parent prepares the data directory once (stores, example packs, the admin key),
closes its own host, binds the socket and starts N worker processes with the ``spawn``
method: each is a fresh interpreter that receives the settings and the socket through
multiprocessing's pipe (never the environment or the command line) and opens its own
:class:`~corral.Host` on the shared data directory. LMDB makes the stores safe to share,
the registry follows packs uploaded through any worker by its generation counter, and API
keys are read from the store on every request, so a key revoked through one worker fails
on all of them.

The parent supervises: a worker that dies is replaced (one that dies before it serves
stops the whole service, since its replacement would fail the same way), and SIGTERM or
SIGINT is passed to every worker, which finishes its calls in flight before it exits.

Counters kept in memory (rate limits, admission, single-flight) are per worker: with N
workers a caller's rate limit is N times the setting.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
from dataclasses import replace
from multiprocessing.process import BaseProcess
from typing import Any

from .._settings import Settings

log = logging.getLogger("corral.serve")

#: A worker's exit status when it could not start serving (its replacement would fail too).
STARTUP_FAILED = 3
_SPAWN = multiprocessing.get_context("spawn")


def bind_listening_socket(settings: Settings, backlog: int = 2048) -> socket.socket:
    """The one socket every worker accepts on."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


class Workers:
    """Runs and replaces the worker processes until told to stop."""

    def __init__(self, settings: Settings, sock: socket.socket) -> None:
        # The parent registered the configured packs; workers find them in the registry.
        self._settings = replace(settings, packs=())
        self._sock = sock
        self._processes: list[BaseProcess] = []
        self._stopping = threading.Event()

    def run(self) -> int:
        """Serve until SIGTERM / SIGINT or a worker that cannot start; the exit status."""
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._processes = [self._start() for _ in range(self._settings.http_workers)]
            status = self._supervise()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return status

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stopping.set()

    def _start(self) -> BaseProcess:
        process = _SPAWN.Process(target=serve_worker, args=(self._settings, self._sock),
                                 name="corral-worker", daemon=False)
        process.start()
        return process

    def _supervise(self) -> int:
        while not self._stopping.wait(0.2):
            for i, process in enumerate(self._processes):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILED:
                    log.error("worker %s could not start; stopping", process.pid)
                    return 1
                log.warning("worker %s exited with %s; starting another", process.pid,
                            process.exitcode)
                self._processes[i] = self._start()
        return 0

    def _stop_all(self) -> None:
        for process in self._processes:
            if process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for process in self._processes:
            process.join()


def serve_worker(settings: Settings, sock: socket.socket) -> None:
    """One worker process: its own host and uvicorn server on the shared socket."""
    import uvicorn

    from .._host import Host
    from .apikeys import ApiKeyStore
    from .app import create_app
    from .stack import exit_cleanly_on_sigterm, uvicorn_config

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    exit_cleanly_on_sigterm()
    try:
        host = Host(settings)
        host.connections  # noqa: B018 - a lost key file beside sealed secrets refuses to start
        app: Any = create_app(host, host.settings, keys=ApiKeyStore.for_settings(settings))
    except Exception:
        log.exception("worker could not start")
        raise SystemExit(STARTUP_FAILED) from None
    try:
        server = uvicorn.Server(uvicorn_config(app, settings))
        server.run(sockets=[sock])
    finally:
        host.close()
