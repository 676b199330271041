"""What every local test server shares: a socket server on 127.0.0.1 (plain or TLS, an
ephemeral port) served by a background thread, that cuts the connections still open when
it closes, so no handler outlives its server."""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from pathlib import Path
from types import TracebackType
from typing import Any, Self


def serve_tls(server: socketserver.TCPServer, tls: tuple[Path, Path]) -> None:
    """Make ``server`` speak TLS with ``tls`` = (cert.pem, key.pem)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls[0]), str(tls[1]))
    server.socket = context.wrap_socket(server.socket, server_side=True)


class CutsConnections(socketserver.TCPServer):
    """A TCP server (mixed in before a threading one) that knows its open connections and
    can cut them all."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self._open_lock:
            still_open, self._open = list(self._open), set()
        for sock in still_open:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class BackgroundServer:
    """Runs ``server`` in a background thread; use as a context manager (or :meth:`start`
    and :meth:`close`). ``tls`` is ``(cert.pem, key.pem)`` to serve HTTPS."""

    def __init__(self, server: CutsConnections, *, tls: tuple[Path, Path] | None, name: str
                 ) -> None:
        self._served = server
        self.scheme = "http"
        if tls is not None:
            serve_tls(server, tls)
            self.scheme = "https"
        self._thread = threading.Thread(target=server.serve_forever, name=name,
                                        kwargs={"poll_interval": 0.02}, daemon=True)
        self._started = self._closed = False

    @property
    def port(self) -> int:
        return int(self._served.server_address[1])

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def start(self) -> Self:
        """Serve in a background thread (idempotent)."""
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and cut every open connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._started:
            self._served.shutdown()
            self._thread.join(timeout=5)
        self._served.server_close()
        self._served.cut_connections()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
