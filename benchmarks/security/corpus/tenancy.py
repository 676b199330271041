"""One caller must not hurt the others, through the real HTTP service. Every verdict is a
count: a flood is held open by the upstream itself (the hostile server keeps ``/json``
answers until released), so "the flood is in full swing" is a fact the benchmark waits
for, not a moment it guesses; then the victim's calls must all succeed. Rate limits use
a refill so slow (0.001 tokens/s) that the count of admitted requests is the burst."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import httpx

from ..harness import Attack, Bench, Observation
from ..service import RunningService, service
from ..world import register, with_manifest

#: The gate under attack: 4 running and 4 waiting in all, 2 and 2 per principal.
GATE = {"global_concurrency": 4, "max_queue": 4, "principal_concurrency": 2,
        "principal_queue": 2}
FLOOD = 12
VICTIM_CALLS = 5
POLLS = 2000  # x 5 ms: waiting for the flood to fill the gate
PUBLIC_SLOW = {"public_rate_limit_per_s": 0.001, "public_rate_limit_burst": 20}


SERVICES = {"tenancy": GATE, "public-rate-a": PUBLIC_SLOW, "public-rate-b": PUBLIC_SLOW,
            "public-rate-c": PUBLIC_SLOW,
            "principal-rate": {"rate_limit_per_s": 0.001, "rate_limit_burst": 5}}


def prepare(bench: Bench) -> None:
    for name, settings in SERVICES.items():
        service(bench, name, **settings)
    _store(bench)


def _flooding(running: RunningService, bench: Bench, who: str,
              victim: Callable[[], list[int]]) -> dict[str, Any]:
    """``who`` sends FLOOD calls the upstream holds; once every one is running, waiting or
    refused, ``victim()`` runs; then the upstream lets go."""
    tag = bench.unique_name("flood")
    gate = bench.server.hold_responses()
    done: list[int] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        with running.client(who, timeout=30.0) as client:
            status = client.post("/v1/packs/zfuel/formulas/Fetch",
                                 json={"args": [bench.url(f"/json?{tag}={i}")]}).status_code
        with lock:
            done.append(status)

    with ThreadPoolExecutor(max_workers=FLOOD) as pool:
        for i in range(FLOOD):
            pool.submit(one, i)
        for _ in range(POLLS):
            held = sum(1 for r in bench.server.requests if tag in r.query)
            with lock:
                finished = len(done)
            if held >= 1 and held + finished >= FLOOD - GATE["max_queue"]:
                break
            threading.Event().wait(0.005)
        try:
            statuses = victim()
        finally:
            gate.set()
    return {"victim": statuses, "flood": sorted(done)}


def _victim_ok(bench: Bench, seen: Observation) -> str | None:
    statuses = seen.value["victim"]
    ok = sum(1 for s in statuses if s == 200)
    if ok * 100 < 99 * len(statuses):
        return f"the victim got {ok}/{len(statuses)} answers ({statuses}) under the flood"
    return None


def _calls(running: RunningService, who: str, path: str, bodies: list[Any]) -> list[int]:
    with running.client(who, timeout=8.0) as client:
        out = []
        for body in bodies:
            try:
                out.append(client.post(path, json=body).status_code)
            except httpx.TimeoutException:
                out.append(0)
        return out


def _other_caller_under_flood(bench: Bench) -> Any:
    running = service(bench, "tenancy", **GATE)
    names = [bench.unique_name("victim") for _ in range(VICTIM_CALLS)]
    return _flooding(running, bench, "eve", lambda: _calls(
        running, "bob", "/v1/packs/hello/formulas/Greet", [{"args": [n]} for n in names]))


def _cache_hit_under_own_flood(bench: Bench) -> Any:
    running = service(bench, "tenancy", **GATE)
    url = bench.url(f"/whoami?cached={bench.unique_name('c')}")
    body = {"args": [url]}
    warm = _calls(running, "bob", "/v1/packs/zhostile/formulas/WhoAmI", [body])
    bench.extras["warm"] = warm
    return _flooding(running, bench, "bob", lambda: _calls(
        running, "bob", "/v1/packs/zhostile/formulas/WhoAmI", [body] * VICTIM_CALLS))


def _memo_under_own_flood(bench: Bench) -> Any:
    running = service(bench, "tenancy", **GATE)
    body = {"formula": f'=hello.Greet("{bench.unique_name("memo")}")'}
    _calls(running, "bob", "/v1/evaluate", [body])
    return _flooding(running, bench, "bob", lambda: _calls(
        running, "bob", "/v1/evaluate", [body] * VICTIM_CALLS))


# -- the connection store --------------------------------------------------------------------


def _store(bench: Bench) -> RunningService:
    if "store_host" not in bench.extras:
        host = bench.make_host("store", connections_map_bytes=4 << 20,
                               max_connections_per_principal=50,
                               max_connection_bytes_per_principal=512 << 10)
        bench.on_close(host.close)
        bench.extras.setdefault("hosts", []).append(host)
        hello = bench.host.pack("hello").path
        assert hello is not None
        register(host, with_manifest(hello.read_bytes(), pack={
            "name": "vault", "network_domains": ["api.vault.test"]}, auth={"kind": "bearer"}),
            "vault")
        bench.extras["store_host"] = host
    return service(bench, "store", host=bench.extras["store_host"])


def _fill(bench: Bench, who: str, attempts: int, secret_bytes: int) -> list[int]:
    """Store connections until refused (at most ``attempts``); the statuses."""
    running = _store(bench)
    with running.client(who) as client:
        statuses = []
        for i in range(attempts):
            status = client.post("/v1/connections", json={
                "pack": "vault", "name": f"{who}{secret_bytes}-{i}",
                "secret": {"token": f"{i:06d}" + "m" * secret_bytes}}).status_code
            statuses.append(status)
            if status != 201:
                break
    return statuses


def _after_fill(bench: Bench, who: str, attempts: int, secret_bytes: int) -> dict[str, Any]:
    """Fill with ``secret_bytes`` secrets, then with 2 KiB ones into what is left; then
    another caller stores one and the filler deletes one."""
    filled = _fill(bench, who, attempts, secret_bytes)
    stored = filled.count(201) * secret_bytes
    if secret_bytes > 2048:
        more = _fill(bench, who, 4 * attempts, 2048)
        stored += more.count(201) * 2048
        filled += more
    running = _store(bench)
    with running.client("alice") as alice, running.client(who) as filler:
        made = alice.post("/v1/connections", json={"pack": "vault", "name": "alice's",
                                                  "secret": {"token": "a" * 32}})
        mine = filler.get("/v1/connections").json()
        deleted = filler.delete(f"/v1/connections/{mine[0]['id']}").status_code if mine else 0
    return {"filled": filled, "bytes": stored, "alice": made.status_code, "deleted": deleted}


def _store_survives(limit: int | None) -> Callable[[Bench, Observation], str | None]:
    def verify(bench: Bench, seen: Observation) -> str | None:
        value = seen.value
        created = value["filled"].count(201)
        if limit is not None and created > limit:
            return f"one caller stored {created} connections (quota {limit})"
        if limit is None and value["bytes"] > 512 << 10:
            return f"one caller stored {value['bytes']} bytes of secrets (quota 512 KiB)"
        if value["filled"][-1] == 201:
            return f"one caller stored {created} connections and was never refused"
        if value["alice"] != 201:
            return f"after the flood another caller could not store one (HTTP {value['alice']})"
        if value["deleted"] != 204:
            return f"the flooding caller could not delete (HTTP {value['deleted']})"
        return None
    return verify


# -- rate limits -----------------------------------------------------------------------------


def _hammer(name: str, settings: dict[str, Any], path: str, times: int, *,
            who: str | None = None, method: str = "GET") -> Callable[[Bench], Any]:
    def run(bench: Bench) -> Any:
        running = service(bench, name, **settings)
        with running.client(who) as client:
            if who is None and path.startswith("/v1/packs"):
                client.headers["Authorization"] = "Bearer corral_wrong_guess"
            statuses = [client.request(method, path).status_code for _ in range(times)]
        return {"statuses": statuses}
    return run


def _limited(at_most: int) -> Callable[[Bench, Observation], str | None]:
    def verify(bench: Bench, seen: Observation) -> str | None:
        statuses = seen.value["statuses"]
        passed = sum(1 for s in statuses if s != 429)
        if 429 not in statuses:
            return f"{len(statuses)} requests and not one was rate-limited"
        return None if passed <= at_most else f"{passed} got through (burst {at_most})"
    return verify


def _per_principal_rate(bench: Bench) -> Any:
    running = service(bench, "principal-rate", **SERVICES["principal-rate"])
    with running.client("alice") as alice, running.client("bob") as bob:
        first = [alice.get("/v1/packs").status_code for _ in range(12)]
        other = [bob.get("/v1/packs").status_code for _ in range(5)]
    return {"statuses": first, "other": other}


def _burst_then_refused(bench: Bench, seen: Observation) -> str | None:
    first, other = seen.value["statuses"], seen.value["other"]
    if first[:5] != [200] * 5 or set(first[5:]) != {429}:
        return f"alice's 12 calls at burst 5 were answered {first}"
    return None if other == [200] * 5 else f"bob, under his own limit, got {other}"


def attacks() -> list[Attack]:
    return [
        Attack("another caller's flood of held calls while bob calls hello", "tenancy", "ok",
               _other_caller_under_flood, verify=_victim_ok, quick=True, language="zig"),
        Attack("bob's own flood, then his cached answer (no wait behind the gate)",
               "tenancy", "ok", _cache_hit_under_own_flood, verify=_victim_ok,
               language="zig"),
        Attack("bob's own flood, then a formula the memo answers", "tenancy", "ok",
               _memo_under_own_flood, verify=_victim_ok, language="zig"),
        Attack("one caller stores 60 small connections (quota 50)", "tenancy", "ok",
               lambda b: _after_fill(b, "eve", 60, 16), verify=_store_survives(50),
               quick=True),
        Attack("one caller fills the connection store with 60 KiB secrets", "tenancy", "ok",
               lambda b: _after_fill(b, "mallory", 200, 60_000),
               verify=_store_survives(None)),
        Attack("unauthenticated /healthz, 60 times (public burst 20)", "tenancy", "ok",
               _hammer("public-rate-a", PUBLIC_SLOW, "/healthz", 60), verify=_limited(20),
               quick=True),
        Attack("unauthenticated OAuth2 callbacks, 60 times", "tenancy", "ok",
               _hammer("public-rate-b", PUBLIC_SLOW, "/v1/oauth2/callback?state=s&code=c", 60),
               verify=_limited(20)),
        Attack("API key guessing, 60 wrong keys", "tenancy", "ok",
               _hammer("public-rate-c", PUBLIC_SLOW, "/v1/packs", 60), verify=_limited(20)),
        Attack("a caller's rate limit engages at its burst, another's is untouched",
               "tenancy", "ok", _per_principal_rate, verify=_burst_then_refused),
    ]
