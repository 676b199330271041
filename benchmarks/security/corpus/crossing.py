"""Responses crossing callers: an upstream that sends an extra, unrequested response on a
kept-alive connection (reflecting the credential of the request it followed) must never
have it read as the answer to the next request -- least of all another principal's."""

from __future__ import annotations

from typing import Any, Callable

from ..harness import Attack, Bench, Observation


ROUNDS = 3


def _then(pack: str, first: str, first_conn: str | None, second_principal: str,
          second_conn: str | None, host: str = "bench.test",
          server: str = "wire", scheme: str = "http") -> Callable[[Bench], Any]:
    """ROUNDS times: the first caller's exchange (answered twice), then the second's."""
    def run(bench: Bench) -> Any:
        base = f"{scheme}://{host}:{bench.port(server)}"
        conn = bench.connections.get(first_conn) if first_conn else None
        conn2 = bench.connections.get(second_conn) if second_conn else None
        answers = []
        for round_ in range(ROUNDS):
            bench.call(pack, "Fetch", f"{base}{first}?round={round_}", connection=conn,
                       principal="alice")
            answers.append(bench.call(pack, "Fetch", f"{base}/second?round={round_}",
                                      connection=conn2, principal=second_principal))
        return answers
    return run


def _second_answer(bench: Bench, seen: Observation) -> str | None:
    bodies = [str(answer.get("body", "")) for answer in seen.value or []]
    wrong = [body for body in bodies if '"second"' not in body]
    if not wrong:
        return None
    # never quoted: the stray answer may carry the credential
    return f"{len(wrong)} of {len(bodies)} second calls were answered with another " \
        "exchange's response"


def attacks() -> list[Attack]:
    cases = [
        ("an extra response after alice's, read by mallory's next call", "zwire", "/first",
         "wire", "mallory", None, "bench.test", "wire", "http", True),
        ("an extra response after alice's, read by alice's next call", "zwire", "/first",
         "wire", "alice", "wire", "bench.test", "wire", "http", False),
        ("an extra response sent in a second write, then mallory's call", "zwire",
         "/first-late", "wire", "mallory", None, "bench.test", "wire", "http", False),
        ("an extra response over TLS, read by mallory's next call", "ztlswire", "/first",
         "tls_wire", "mallory", None, "secure.bench.test", "tls_wire", "https", False),
        ("an extra response over TLS, read by alice's next call", "ztlswire", "/first",
         "tls_wire", "alice", "tls_wire", "secure.bench.test", "tls_wire", "https", False),
        ("an extra response without credentials, then alice's call", "zwire", "/first",
         None, "alice", "wire", "bench.test", "wire", "http", False),
    ]
    return [Attack(title, "crossing", "ok",
                   _then(pack, first, c1, who, c2, host, server, scheme),
                   verify=_second_answer, quick=quick, language="zig")
            for title, pack, first, c1, who, c2, host, server, scheme, quick in cases]
