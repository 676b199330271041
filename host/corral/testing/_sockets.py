"""What every local test server does with its sockets: serve TLS on its listening socket,
and cut the connections still open when it closes, so no handler outlives its server."""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from pathlib import Path
from typing import Any


def serve_tls(server: socketserver.TCPServer, tls: tuple[Path, Path]) -> None:
    """Make ``server`` speak TLS with ``tls`` = (cert.pem, key.pem)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls[0]), str(tls[1]))
    server.socket = context.wrap_socket(server.socket, server_side=True)


class CutsConnections(socketserver.BaseServer):
    """A server mixin that knows its open connections and can cut them all."""

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
