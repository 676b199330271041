"""OAuth2 through the real HTTP service and a real provider (TLS, under a name no test
mapping vouches for): login CSRF (an attacker starts a flow, a victim's browser finishes
it), ``redirect_uri`` taken from a request header, and token-endpoint requests that must
meet the guest-fetch policy (https, declared domains and ports, a response cap, one total
deadline, no redirects) -- the verdicts are counts of requests, bytes read and stored
connections, never how long something took."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

import httpx

from ..harness import Attack, Bench, Observation
from ..idp import Provider
from ..service import Answered, RunningService, service
from ..world import REPO, register, with_manifest

#: Token endpoints the attack packs use: (pack, server, path, declared ports).
PACKS = {"oauthok": ("idp", "/token"), "oauthplain": ("idp_plain", "/token"),
         "oauthport": ("idp_other", "/token"), "oauthhuge": ("idp", "/token-huge"),
         "oauthdrip": ("idp", "/token-drip"), "oauthredirect": ("idp", "/token-redirect"),
         "oauthdeep": ("idp", "/token-deep")}
OAUTH_DEADLINE_S = 1.0
BYTES_SLACK = 1 << 20


def _world(bench: Bench) -> dict[str, Any]:
    """Providers, packs and the service, made once."""
    if "oauth" in bench.extras:
        world: dict[str, Any] = bench.extras["oauth"]
        return world
    tls = bench.servers.tls_files
    add = bench.detector.add
    codes: dict[str, Any] = {}  # one authorization server; token endpoints share its codes
    idps = {"idp": Provider(add, codes, tls=tls), "idp_plain": Provider(add, codes),
            "idp_other": Provider(add, codes, tls=tls)}
    for idp in idps.values():
        bench.on_close(idp.close)
        bench.servers.recording.append(idp)
    declared = [f"idp.bench.test:{idps['idp'].port}", f"idp.bench.test:{idps['idp_plain'].port}"]
    hello = bench.build_path(REPO / "packs" / "hello")
    # A Host of its own: the token client's cap and deadline are the Host's settings.
    host = bench.make_host("oauth", oauth_deadline_s=OAUTH_DEADLINE_S)
    bench.on_close(host.close)
    bench.extras.setdefault("hosts", []).append(host)
    for pack, (which, path) in PACKS.items():
        idp = idps[which]
        scheme = "http" if which == "idp_plain" else "https"
        base = f"{scheme}://idp.bench.test:{idp.port}"
        wasm = with_manifest(hello, pack={"name": pack, "network_domains": declared},
                             auth={"kind": "oauth2_code", "pkce": True,
                                   "authorize_url": f"https://idp.bench.test:{idps['idp'].port}"
                                                    "/authorize", "token_url": base + path})
        register(host, wasm, pack)
    bench.carriers |= {("idp.bench.test", idps["idp"].port)}
    world = {"idps": idps, "host": host, "service": service(bench, "oauth", host=host)}
    bench.extras["oauth"] = world
    return world


def prepare(bench: Bench) -> None:
    world = _world(bench)
    service(bench, "oauth-nopublic", host=world["host"], public_url=False)


def _start(client: httpx.Client, pack: str, idp: Provider, **extra: Any) -> httpx.Response:
    if extra.pop("confidential", False):
        return client.post(f"/v1/oauth2/{pack}/start",
                           json={"client_id": idp.client_id, "client_secret": idp.client_secret,
                                 **extra})
    return client.get(f"/v1/oauth2/{pack}/start", params={"client_id": idp.client_id, **extra})


def _cookie(response: httpx.Response) -> str:
    jar = SimpleCookie()
    for raw in response.headers.get_list("set-cookie"):
        jar.load(raw)
    return "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())


def _callback(idp: Provider, started: httpx.Response) -> str:
    authorize = started.json()["authorize_url"]
    back = urlsplit(idp.approve(dict(parse_qsl(urlsplit(authorize).query))))
    return back.path + "?" + back.query


def _count(running: RunningService, who: str) -> int:
    with running.client(who) as client:
        return len(client.get("/v1/connections").json())


def _flow(pack: str, *, starter: str = "alice", same_browser: bool = True,
          confidential: bool = False, cookie: str | None = None) -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        world = _world(bench)
        running: RunningService = world["service"]
        idp = world["idps"][PACKS.get(pack, ("idp",))[0]]
        before = {who: _count(running, who) for who in ("alice", "bob")}
        with running.client(starter) as browser, running.client() as other:
            started = _start(browser, pack, world["idps"]["idp"], confidential=confidential)
            if started.status_code != 200:
                return Answered(started.status_code, "the start was refused")
            path = _callback(world["idps"]["idp"], started)
            own = _cookie(started)
            if same_browser:
                done = other.get(path, headers={"Cookie": own} if own else {})
            else:
                done = other.get(path, headers={"Cookie": cookie} if cookie else {})
        after = {who: _count(running, who) for who in ("alice", "bob")}
        bench.extras["oauth_counts"] = (before, after)
        bench.extras["oauth_idp"] = idp
        return Answered(done.status_code, done.text[:200])
    return run


def _stored_nothing(bench: Bench, seen: Observation) -> str | None:
    before, after = bench.extras.get("oauth_counts", ({}, {}))
    grown = {who for who in before if after.get(who, 0) != before[who]}
    return f"a connection was stored for {sorted(grown)}" if grown else None


def _stored_for(who: str) -> Callable[[Bench, Observation], str | None]:
    def verify(bench: Bench, seen: Observation) -> str | None:
        before, after = bench.extras["oauth_counts"]
        if after[who] != before[who] + 1:
            return f"{who} did not get the connection"
        others = [w for w in before if w != who and after[w] != before[w]]
        return f"{others} got a connection too" if others else None
    return verify


def _untouched_token(path: str = "/token") -> Callable[[Bench, Observation], str | None]:
    def verify(bench: Bench, seen: Observation) -> str | None:
        problem = _stored_nothing(bench, seen)
        if problem:
            return problem
        hits = [r for r in seen.new_requests if getattr(r, "path", "") == path
                and getattr(r, "method", "") == "POST"]
        return f"the token endpoint received {len(hits)} request(s)" if hits else None
    return verify


def _bounded_bytes(bench: Bench, seen: Observation) -> str | None:
    problem = _stored_nothing(bench, seen)
    cap = 256 * 1024
    if seen.bytes_read > cap + BYTES_SLACK:
        return f"the host read {seen.bytes_read} bytes of the token response"
    return problem


def _host_header(public: bool, header: str) -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        world = _world(bench)
        running = world["service"] if public else service(bench, "oauth-nopublic",
                                                          host=world["host"], public_url=False)
        with running.client("alice") as client:
            started = client.get("/v1/oauth2/oauthok/start",
                                 params={"client_id": world["idps"]["idp"].client_id},
                                 headers={header: "evil.example"})
        bench.extras["authorize"] = started.text
        return Answered(started.status_code)
    return run


def _no_evil_redirect(bench: Bench, seen: Observation) -> str | None:
    text = bench.extras.get("authorize", "")
    return "the redirect_uri names the Host header's evil.example" if "evil.example" in text \
        else None


def _replay(bench: Bench) -> Any:
    world = _world(bench)
    running: RunningService = world["service"]
    idp = world["idps"]["idp"]
    with running.client("alice") as browser, running.client() as other:
        started = _start(browser, "oauthok", idp)
        path, own = _callback(idp, started), _cookie(started)
        first = other.get(path, headers={"Cookie": own})
        again = other.get(path, headers={"Cookie": own})
    bench.extras["first"] = first.status_code
    return Answered(again.status_code)


def _csrf_with_own_cookie(bench: Bench) -> Any:
    """The victim's browser carries the cookie of a flow it started itself."""
    world = _world(bench)
    running: RunningService = world["service"]
    idp = world["idps"]["idp"]
    before = {who: _count(running, who) for who in ("alice", "bob")}
    with running.client("bob") as attacker, running.client("alice") as victim:
        bobs = _start(attacker, "oauthok", idp)
        alices = _start(victim, "oauthok", idp)
        done = victim.get(_callback(idp, bobs), headers={"Cookie": _cookie(alices)})
    bench.extras["oauth_counts"] = (before, {w: _count(running, w) for w in before})
    return Answered(done.status_code)


REFUSED = "http_400|http_401|http_403|http_502|http_504"


def attacks() -> list[Attack]:
    return [
        Attack("baseline: the browser that started the flow completes it", "oauth",
               "http_200", _flow("oauthok"), verify=_stored_for("alice"), quick=True),
        Attack("baseline: a confidential client's secret never lands in clear", "oauth",
               "http_200", _flow("oauthok", confidential=True), verify=_stored_for("alice")),
        Attack("login CSRF: bob starts, a victim's browser (no cookie) completes", "oauth",
               REFUSED, _flow("oauthok", starter="bob", same_browser=False),
               verify=_stored_nothing, quick=True),
        Attack("login CSRF: the victim's browser holds a cookie of its own flow", "oauth",
               REFUSED, _csrf_with_own_cookie, verify=_stored_nothing),
        Attack("login CSRF: a forged binding cookie", "oauth", REFUSED,
               _flow("oauthok", starter="bob", same_browser=False,
                     cookie="corral_oauth_x=forged"), verify=_stored_nothing),
        Attack("a callback replayed after it completed", "oauth", REFUSED, _replay),
        Attack("redirect_uri built from the Host header (no public_url)", "oauth",
               "http_503|http_200", _host_header(False, "Host"), verify=_no_evil_redirect,
               quick=True),
        Attack("redirect_uri built from X-Forwarded-Host (no public_url)", "oauth",
               "http_503|http_200", _host_header(False, "X-Forwarded-Host"),
               verify=_no_evil_redirect),
        Attack("redirect_uri with public_url set and a hostile Host header", "oauth",
               "http_200", _host_header(True, "Host"), verify=_no_evil_redirect),
        Attack("token endpoint over plain http", "oauth", REFUSED, _flow("oauthplain"),
               verify=_untouched_token(), quick=True),
        Attack("token endpoint on an undeclared port", "oauth", REFUSED, _flow("oauthport"),
               verify=_untouched_token()),
        Attack("token endpoint answering 200 MiB", "oauth", REFUSED, _flow("oauthhuge"),
               verify=_bounded_bytes),
        Attack("token endpoint drip-feeding a valid grant for 4 s (deadline 1 s)", "oauth",
               REFUSED, _flow("oauthdrip"), verify=_stored_nothing),
        Attack("token endpoint redirecting (the client secret must not follow)", "oauth",
               REFUSED, _flow("oauthredirect"), verify=_untouched_token()),
        Attack("token endpoint answering JSON nested 100,000 deep", "oauth", REFUSED,
               _flow("oauthdeep"), verify=_stored_nothing),
    ]
