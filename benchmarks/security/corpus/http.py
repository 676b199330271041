"""The HTTP service attacked from outside, on a real uvicorn: bodies an unauthenticated
caller sends (the key is checked before a byte of the body is read), bodies over the
cap (refused before they are parsed), JSON nested ~600-990 deep in requests and pack
results (a client or pack error, never a 500), and the problem documents and ``/metrics``
a caller reads after a reflecting API quoted the token on an error path."""

from __future__ import annotations


import socket
from typing import Any, Callable

from ..harness import Attack, Bench
from ..service import Answered, RunningService, service
from .caps import register_deep

HUGE = 96 << 20
#: How long an answer may take to start once the request line and headers are in: the
#: refusal needs no body, so a correct service answers at once; one that waits for the
#: body that never comes is caught by the bound, whatever the machine's speed.
ANSWER_BOUND_S = 3.0


def _main(bench: Bench) -> RunningService:
    return service(bench, "main")


def prepare(bench: Bench) -> None:
    _main(bench)
    register_deep(bench, 990)
    register_deep(bench, 600)


def _raw(path: str, headers: dict[str, str], body_parts: list[bytes], *, who: str | None = None,
         chunked: bool = False, finish: bool = False) -> Callable[[Bench], Any]:
    """Send the head and part of a body on a raw socket; the answer's status line, read
    while the rest of the body is still owed."""
    def run(bench: Bench) -> Any:
        running = _main(bench)
        head = {"Host": f"127.0.0.1:{running.port}", "Content-Type": "application/json",
                **headers}
        if who:
            head["Authorization"] = f"Bearer {running.keys[who]}"
        if chunked:
            head["Transfer-Encoding"] = "chunked"
        lines = "".join(f"{k}: {v}\r\n" for k, v in head.items())
        with socket.create_connection(("127.0.0.1", running.port), timeout=ANSWER_BOUND_S) as s:
            try:
                s.sendall(f"POST {path} HTTP/1.1\r\n{lines}\r\n".encode())
                for part in body_parts:
                    s.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n" if chunked
                              else part)
                if finish and chunked:
                    s.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the service answered and hung up before taking it all: read why
            try:
                first = s.recv(65536)
            except socket.timeout:
                return Answered(0, "no answer while the body was still owed")
            except OSError:
                first = b""
        status = first.split(b" ", 2)[1] if first.startswith(b"HTTP/") else b"0"
        bench.http_texts.append(first.decode("latin-1"))
        return Answered(int(status))
    return run


def _post(who: str, path: str, body: Any, *, raw: bytes | None = None) -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        running = _main(bench)
        payload = body(bench) if callable(body) else body
        with running.client(who) as client:
            if raw is not None:
                answer = client.post(path, content=raw,
                                     headers={"Content-Type": "application/json"})
            else:
                answer = client.post(path, json=payload)
        return Answered(answer.status_code, answer.text[:200])
    return run


def _nested(depth: int) -> str:
    """JSON text of a list nested ``depth`` deep (written by hand: the client's own JSON
    encoder would recurse)."""
    return "[" * depth + "1" + "]" * depth


def _deep_pack_call(depth: int, evaluate: bool = False) -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        name = register_deep(bench, depth)
        path, body = (("/v1/evaluate", {"formula": f"={name}.Call()"}) if evaluate
                      else (f"/v1/packs/{name}/formulas/Call", {"args": []}))
        return _post("alice", path, body)(bench)
    return run


def _reflected_problem(pack: str, connection: str, server: str,
                       path: str) -> Callable[[Bench], Any]:
    def body(bench: Bench) -> Any:
        return {"args": [f"http://bench.test:{bench.port(server)}{path}"],
                "connection": bench.connections[connection]}
    return _post("alice", f"/v1/packs/{pack}/formulas/Fetch", body)


def _metrics(bench: Bench) -> Any:
    with _main(bench).client() as client:
        answer = client.get("/metrics")
    return Answered(answer.status_code)


CLIENT_ERROR = "http_400|http_413|http_422"
DEEP_BODY = "http_400|http_422"


def attacks() -> list[Attack]:
    evaluate = {"Content-Length": str(HUGE)}
    out = [
        Attack("unauthenticated 96 MiB body to /v1/evaluate: 401 before the body", "http",
               "http_401", _raw("/v1/evaluate", evaluate, [b"{" + b" " * 65535]), quick=True),
        Attack("unauthenticated endless chunked body to /v1/evaluate", "http", "http_401",
               _raw("/v1/evaluate", {}, [b" " * 65536] * 32, chunked=True)),
        Attack("unauthenticated 96 MiB upload to /v1/packs", "http", "http_401",
               _raw("/v1/packs", {"Content-Length": str(HUGE),
                                  "Content-Type": "application/wasm"}, [b"\0asm" * 4096])),
        Attack("unauthenticated 96 MiB body to a formula call", "http", "http_401",
               _raw("/v1/packs/hello/formulas/Greet", evaluate, [b"{" + b" " * 65535])),
        Attack("unauthenticated 96 MiB body to /v1/connections", "http", "http_401",
               _raw("/v1/connections", evaluate, [b"{" + b" " * 65535])),
        Attack("authenticated body declaring 96 MiB: 413 before the body", "http", "http_413",
               _raw("/v1/evaluate", evaluate, [b"{" + b" " * 65535], who="alice"),
               quick=True),
        Attack("authenticated chunked body past the cap", "http", "http_413",
               _raw("/v1/evaluate", {}, [b" " * 65536] * 160, who="alice", chunked=True,
                    finish=True)),
        Attack("a Content-Length that is not a number", "http", CLIENT_ERROR,
               _raw("/v1/evaluate", {"Content-Length": "12abc"}, [b"{}"], who="alice")),
    ]
    for depth in (600, 800, 990):
        out.append(Attack(f"call arguments nested {depth} deep", "http", DEEP_BODY,
                          _post("alice", "/v1/packs/hello/formulas/Greet", None,
                                raw=f'{{"args": [{_nested(depth)}]}}'.encode()),
                          quick=depth == 990))
    out += [
        Attack("evaluate body nested 990 deep", "http", DEEP_BODY,
               _post("alice", "/v1/evaluate", None, raw=f'{{"formula": "=1", "connections": '
                     f'{{"a": {_nested(990)}}}}}'.encode())),
        Attack("raw JSON nested 100,000 deep", "http", DEEP_BODY,
               _post("alice", "/v1/evaluate", None,
                     raw=b'{"formula": "=1", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")),
        Attack("pack result nested 990 deep through the HTTP encoder", "http", "http_502",
               _deep_pack_call(990), quick=True, language="wat"),
        Attack("pack result nested 600 deep through /v1/evaluate", "http", "http_502|http_400",
               _deep_pack_call(600, evaluate=True), language="wat"),
        Attack("problem document of a status line quoting the token", "http", "http_502",
               _reflected_problem("zwire", "wire", "wire", "/bad-status"), quick=True,
               language="zig"),
        Attack("problem document of a header line quoting the token", "http", "http_502",
               _reflected_problem("zwire", "wire", "wire", "/colonless"), language="zig"),
        Attack("problem document of a redirect to an undeclared host via the token's path",
               "http", "http_502",
               _reflected_problem("zwire", "wire", "wire", "/to-undeclared"), language="zig"),
        Attack("problem document of a redirect carrying the token to the cdn", "http",
               "http_502", _reflected_problem("zwire", "wire", "wire", "/to-cdn-path"),
               language="zig"),
        Attack("result of a call whose API reflected the token JSON-escaped", "http",
               "http_200", _reflected_problem("zhostile", "alice", "server",
                                              "/reflect/json/json-u"), language="zig"),
        Attack("result of a call whose API reflected the short token in a header", "http",
               "http_200", _reflected_problem("zhostile", "short", "server",
                                              "/reflect/header/raw"), language="zig"),
        Attack("/metrics over HTTP after reflected errors", "http", "http_200", _metrics),
        Attack("a refused connection body never echoes its secret", "http", CLIENT_ERROR,
               _post("alice", "/v1/connections",
                     # the name may be left out (the pack names the connection), so the
                     # refusal comes from a name that is not text
                     lambda b: {"pack": "zhostile", "name": 7,
                                "secret": {"token": b.secret.symbols}})),
        Attack("a connection secret of the wrong shape is not echoed", "http",
               "http_400|http_422",
               _post("alice", "/v1/connections",
                     lambda b: {"pack": "zhostile", "name": "x",
                                "secret": {"tokn": b.secret.alice}})),
    ]
    return out



