"""``corral.testing.RawServer``: a raw upstream that writes exactly the bytes its routes
script, and ``CountingConnector``, which counts what a client reads off the wire."""

from __future__ import annotations

import contextlib
import socket
import ssl
from pathlib import Path

import httpcore
import pytest

from corral.testing import (CountingConnector, FixtureRequest, RawServer, chunk, endless,
                            make_tls_files, raw_response)


def exchange(port: int, data: bytes, *, until: bytes) -> tuple[bytes, socket.socket]:
    """Send ``data`` on a new connection and read until ``until`` has arrived."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(data)
    return read_until(sock, until), sock


def read_until(sock: socket.socket, until: bytes) -> bytes:
    got = b""
    while until not in got:
        data = sock.recv(65536)
        if not data:
            break
        got += data
    return got


def test_raw_responses_are_built_byte_for_byte() -> None:
    assert raw_response(b"hi", headers=[("X-A", "1"), ("X-A", "2")]) == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\nX-A: 2\r\n\r\nhi")
    assert raw_response(status=404).startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert raw_response(status=599).startswith(b"HTTP/1.1 599 X\r\n")
    assert raw_response(status="2x0 whatever").startswith(b"HTTP/1.1 2x0 whatever\r\n")
    assert chunk(b"hello") == b"5\r\nhello\r\n"
    stream = endless(b"a", b"b")
    assert [next(stream) for _ in range(4)] == [b"a", b"b", b"b", b"b"]


def test_a_route_writes_exactly_its_bytes_and_every_request_is_recorded() -> None:
    malformed = b"HTTP/1.1 200 OK\r\nX-No-Colon\r\nContent-Length: 2\r\n\r\n{}"

    def two_at_once(request: FixtureRequest) -> list[bytes]:
        return [raw_response(b"first") + raw_response(request.body)]

    routes = {"/malformed": lambda request: [malformed], "/two": two_at_once}
    with RawServer(routes) as server:
        got, sock = exchange(server.port, b"GET /malformed?a=1&a=2 HTTP/1.1\r\nHost: x.test\r\n"
                             b"X-Mixed-Case: v\r\n\r\n", until=b"{}")
        with sock:
            assert got == malformed
            sock.sendall(b"POST /two HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody")
            assert read_until(sock, b"body") == raw_response(b"first") + raw_response(b"body")
            sock.sendall(b"GET /nowhere HTTP/1.1\r\n\r\n")
            assert read_until(sock, b"route").startswith(b"HTTP/1.1 404 Not Found\r\n")
        first, second, third = server.requests
    assert (first.method, first.path, first.query) == ("GET", "/malformed", {"a": ["1", "2"]})
    assert first.raw_target == "/malformed?a=1&a=2"
    assert first.headers == {"host": "x.test", "x-mixed-case": "v"} and first.host == "x.test"
    assert (second.method, second.body) == ("POST", b"body")
    assert first.peer_port == second.peer_port == third.peer_port, "one kept-alive connection"
    assert (server.hits(), server.hits("/two"), server.hits("/nowhere")) == (3, 1, 1)


def test_routes_added_later_are_served_and_a_route_may_split_its_writes() -> None:
    with RawServer() as server:
        server.route("/split", lambda request: [b"HTTP/1.1 200 OK\r\nContent-", b"Length: 1",
                                                b"\r\n\r\n", b"!"])
        got, sock = exchange(server.port, b"GET /split HTTP/1.1\r\n\r\n", until=b"!")
        sock.close()
    assert got == b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!"
    assert server.url("/x", "api.test") == f"http://api.test:{server.port}/x"


def test_a_raw_server_speaks_tls(tmp_path: Path) -> None:
    ca, cert, key = make_tls_files(tmp_path, ["raw.example.test"])
    context = ssl.create_default_context(cafile=str(ca))
    with RawServer({"/x": lambda request: [raw_response(b"secret")]}, tls=(cert, key)) as server:
        assert server.url("/x").startswith("https://")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="raw.example.test") as tls:
            tls.sendall(b"GET /x HTTP/1.1\r\n\r\n")
            assert read_until(tls, b"secret").endswith(b"\r\n\r\nsecret")


def test_closing_cuts_an_endless_route_and_refuses_new_connections() -> None:
    server = RawServer({"/forever": lambda request: endless(b"HTTP/1.1 200 OK\r\n\r\n",
                                                            b"x" * 4096)}).start()
    got, sock = exchange(server.port, b"GET /forever HTTP/1.1\r\n\r\n", until=b"xxxx")
    with sock:
        assert got.startswith(b"HTTP/1.1 200 OK")
        server.close()
        server.close()  # idempotent
        sock.settimeout(10)
        received = 0  # what was in flight drains, then the cut shows
        with contextlib.suppress(ConnectionResetError):
            while (data := sock.recv(65536)) and received < 16 << 20:
                received += len(data)
        assert received < 16 << 20, "the route kept writing after the server closed"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()


def test_the_counting_connector_counts_every_byte_read_and_every_connection() -> None:
    answer = raw_response(b"z" * 10_000)
    connector = CountingConnector()
    with RawServer({"/z": lambda request: [answer]}) as server, \
            httpcore.ConnectionPool(network_backend=connector) as pool:
        for _ in range(2):
            assert pool.request("GET", server.url("/z")).content == b"z" * 10_000
    assert connector.bytes_read == 2 * len(answer)
    assert connector.connections == 1, "the second request reused the connection"
