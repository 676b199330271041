"""Local HTTP servers that stand in for external APIs (and for hostile ones) in fetch tests.

``ApiServer`` is a stdlib ThreadingHTTPServer on 127.0.0.1 that records every request it
receives (so a test can prove a request never reached it) and serves these routes:

    /json                     200 JSON {"ok": true, "path", "query"}
    /echo                     200 JSON {"method", "path", "query", "headers", "body"}
    /status/<code>            that status, a short text body
    /redirect?to=U&code=C     a redirect (default 302) to U
    /reflect-redirect?to=U    a 302 to U with this request's whole query appended (a leaky API)
    /hops/<n>                 n redirects in a row, then /json
    /auth                     200 if Authorization is "Bearer <server.valid_token>", else 401
    /set-cookie               200 with Set-Cookie: session=s3cr3t
    /endless                  a chunked body that never ends
    /huge-headers?count=N&size=M   N response headers of M bytes each
    /gzip                     a small gzip-encoded JSON body
    /deflate                  a small raw-deflate-encoded body
    /gzip-bomb?mb=N           N MiB of zeros, gzip-encoded (about N KiB on the wire)
    /slow?every=S             a 1000-byte body dripped one byte every S seconds

``make_tls_files`` writes a throwaway CA and a server certificate for given names, so a
test can run the server over TLS and verify the name while connecting to 127.0.0.1.
"""

from __future__ import annotations

import datetime
import gzip
import json
import ssl
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TEST_HOST = "api.example.test"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    peer_port: int = 0  # the client's port: one per connection
    raw_target: str = ""  # the request target exactly as it arrived


@dataclass
class _State:
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    valid_token: str = "fresh-token"
    gate: threading.Event | None = None


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up mid-response are what several tests do on purpose


class ApiServer:
    """A threaded HTTP/1.1 server on 127.0.0.1; use as a context manager."""

    def __init__(self, *, tls: tuple[Path, Path] | None = None) -> None:
        self._state = _State()
        self._httpd = _QuietServer(("127.0.0.1", 0), _make_handler(self._state))
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.01})

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def valid_token(self) -> str:
        return self._state.valid_token

    @valid_token.setter
    def valid_token(self, token: str) -> None:
        self._state.valid_token = token

    def hold_responses(self) -> threading.Event:
        """Make /json wait until the returned event is set (to keep a request in flight)."""
        gate = threading.Event()
        self._state.gate = gate
        return gate

    def url(self, path: str, host: str = TEST_HOST) -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def hits(self, path: str | None = None) -> int:
        """How many requests arrived (for ``path`` only, if given)."""
        return sum(1 for r in self.requests if path is None or r.path == path)

    def __enter__(self) -> ApiServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._state.gate is not None:
            self._state.gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _make_handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        shared = state

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    shared: _State

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length", "0") or "0")
        body = self.rfile.read(length) if length else b""
        recorded = RecordedRequest(
            method=self.command, path=parts.path, query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()}, body=body,
            peer_port=self.client_address[1], raw_target=self.path)
        with self.shared.lock:
            self.shared.requests.append(recorded)
        try:
            self._route(recorded)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def _route(self, r: RecordedRequest) -> None:
        routes: dict[str, Callable[[RecordedRequest], None]] = {
            "/json": self._json, "/echo": self._echo, "/redirect": self._redirect,
            "/reflect-redirect": self._reflect_redirect,
            "/auth": self._auth, "/set-cookie": self._set_cookie, "/endless": self._endless,
            "/huge-headers": self._huge_headers, "/gzip": self._gzip, "/deflate": self._deflate,
            "/gzip-bomb": self._gzip_bomb, "/slow": self._slow,
        }
        if r.path in routes:
            routes[r.path](r)
        elif r.path.startswith("/status/"):
            code = int(r.path.rsplit("/", 1)[1])
            self._send(code, f"status {code}".encode(), "text/plain")
        elif r.path.startswith("/hops/"):
            left = int(r.path.rsplit("/", 1)[1])
            target = f"/hops/{left - 1}" if left > 1 else "/json"
            self._send(302, b"", "text/plain", [("Location", target)])
        else:
            self._send(404, b"no such route", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str,
              extra: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra or []:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, value: Any, status: int = 200) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _json(self, r: RecordedRequest) -> None:
        if self.shared.gate is not None:
            self.shared.gate.wait(10)
        self._send_json({"ok": True, "path": r.path, "query": r.query})

    def _echo(self, r: RecordedRequest) -> None:
        self._send_json({"method": r.method, "path": r.path, "query": r.query,
                         "headers": r.headers, "body": r.body.decode("utf-8", "replace")})

    def _redirect(self, r: RecordedRequest) -> None:
        code = int(r.query.get("code", ["302"])[0])
        self._send(code, b"", "text/plain", [("Location", r.query["to"][0])])

    def _reflect_redirect(self, r: RecordedRequest) -> None:
        query = urlsplit(self.path).query
        self._send(302, b"", "text/plain", [("Location", f"{r.query['to'][0]}?{query}")])

    def _auth(self, r: RecordedRequest) -> None:
        if r.headers.get("authorization") == f"Bearer {self.shared.valid_token}":
            self._send_json({"authorized": True})
        else:
            self._send_json({"authorized": False}, status=401)

    def _set_cookie(self, r: RecordedRequest) -> None:
        self._send(200, b"{}", "application/json",
                   [("Set-Cookie", "session=s3cr3t; Path=/"), ("Set-Cookie", "other=1; Path=/")])

    def _endless(self, r: RecordedRequest) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"x" * 65536
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        stop = time.monotonic() + 30
        while time.monotonic() < stop:
            self.wfile.write(frame)
        self.close_connection = True

    def _huge_headers(self, r: RecordedRequest) -> None:
        count = int(r.query.get("count", ["10"])[0])
        size = int(r.query.get("size", ["10"])[0])
        self._send(200, b"{}", "application/json",
                   [(f"X-Filler-{i}", "v" * size) for i in range(count)])

    def _gzip(self, r: RecordedRequest) -> None:
        body = gzip.compress(json.dumps({"compressed": True}).encode())
        self._send(200, body, "application/json", [("Content-Encoding", "gzip")])

    def _deflate(self, r: RecordedRequest) -> None:
        squeezer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = squeezer.compress(b"deflated " * 100) + squeezer.flush()
        self._send(200, body, "text/plain", [("Content-Encoding", "deflate")])

    def _gzip_bomb(self, r: RecordedRequest) -> None:
        megabytes = int(r.query.get("mb", ["64"])[0])
        self._send(200, _zeros_gzip(megabytes), "application/octet-stream",
                   [("Content-Encoding", "gzip")])

    def _slow(self, r: RecordedRequest) -> None:
        every = float(r.query.get("every", ["0.2"])[0])
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(1000):
            self.wfile.write(b".")
            self.wfile.flush()
            time.sleep(every)


_BOMBS: dict[int, bytes] = {}


def _zeros_gzip(megabytes: int) -> bytes:
    if megabytes not in _BOMBS:
        squeezer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        block = bytes(1 << 20)
        parts = [squeezer.compress(block) for _ in range(megabytes)]
        _BOMBS[megabytes] = b"".join(parts) + squeezer.flush()
    return _BOMBS[megabytes]


def make_tls_files(directory: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for ``names``: (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "corral test CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256()))
    paths = (directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths
