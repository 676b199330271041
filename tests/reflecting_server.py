"""A hostile API that reflects the credentials it receives, byte for byte as a test wants.

``ReflectingServer`` listens on 127.0.0.1 and answers each request with the raw bytes
its ``respond(path, secret)`` builds: the secret is what followed the scheme in the
request's ``Authorization`` header, so a test can echo it in a body (in any encoding),
a header name or value, the status line, a ``Location``, or a line no HTTP parser
accepts. One request per connection; the server closes after answering.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Callable

Respond = Callable[[str, str], bytes]


def response(status: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    """An HTTP/1.1 response with ``Content-Length`` and ``Connection: close``; header
    names, values and the status line go out as UTF-8, as they are given."""
    lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers),
             f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("utf-8") + body


class ReflectingServer:
    """Raw sockets, so nothing between the test and the wire tidies what it sends."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.secrets_seen: list[str] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        port: int = self._socket.getsockname()[1]
        return port

    def __enter__(self) -> ReflectingServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            lines = head.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")
            path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
            secret = ""
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "authorization":
                    secret = value.strip().partition(" ")[2] or value.strip()
            self.secrets_seen.append(secret)
            try:
                conn.sendall(self.respond(path, secret))
            except OSError:
                pass
