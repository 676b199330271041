"""Attacks on the shared state of a cluster, as an outsider would try them over HTTP.

Three ``corral serve`` nodes on one PostgreSQL database and one Redis, both reached
through URLs with passwords in them; real packs (``authed`` with a bearer token and with
OAuth2 through :class:`~tests.oauth_server.OAuthServer`, ``fetcher``, ``hello``) and an
upstream that answers each caller by the credential it received. Two callers, ada and
bob, try each other's results, connections and sessions across the nodes; a revoked key
or deleted connection must stop working on every node; and at the end a scan of every
PostgreSQL row (every column, as bytes, also decompressed and decoded from MessagePack
or JSON) and every Redis key and value, and of every node's log, finds no secret.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from corral._connections.crypto import encode_key
from corral.testing import FixtureRequest, RawServer, raw_response

from ..conftest import PACKS, TEST_PACKS, built
from ..oauth_server import OAuthServer
from ..redis_services import base_url, open_space
from ..server.test_server import with_manifest
from ..services import fresh_database
from .at_rest_scan import leaks, postgres_contents, redis_contents
from .cluster import ADMIN, ADMIN_KEY, Cluster
from .test_three_nodes import call, eventually, make_key, upload

PG_PASSWORD = "pg-PASSWORD-9d1c77e0"
REDIS_PASSWORD = "redis-PASSWORD-4be2a913"
ADA_TOKEN = "tok-ADA-bearer-1f9e2c7d5a"
BOB_TOKEN = "tok-BOB-bearer-8c3b6a0e42"
CLIENT_SECRET = "oauth-CLIENT-secret-77aa"


def who_is(authorization: str) -> str:
    """What the upstream tells a caller about itself: a digest of its credential."""
    return "acct-" + hashlib.sha256(authorization.encode()).hexdigest()[:12]


@dataclass
class World:
    cluster: Cluster
    upstream: RawServer
    oauth: OAuthServer
    store_url: str
    cache_url: str
    redis_prefix: str
    ada: str = ""
    bob: str = ""
    secrets: set[str] = field(default_factory=set)

    def node(self, name: str) -> str:
        return self.cluster[name].url


def with_password(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{user}:{password}@{parts.hostname}:{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def packs(oauth: OAuthServer) -> list[bytes]:
    authed = built(TEST_PACKS / "authed").read_bytes()

    def cached_get(name: str, ttl: float) -> Any:
        def change(manifest: dict[str, Any]) -> None:
            manifest["pack"] = {**manifest["pack"], "name": name}
            for formula in manifest["formulas"]:
                if formula["name"] == "Get":
                    formula["cache_ttl_s"] = ttl
        return change

    def oauthed(manifest: dict[str, Any]) -> None:
        cached_get("oauthed", 600)(manifest)
        manifest["pack"]["network_domains"] = [oauth.token_domain]
        manifest["auth"] = {"kind": "oauth2_code", "authorize_url": f"http://{oauth.token_domain}/authorize",
                            "token_url": oauth.token_url}

    def fetcher(manifest: dict[str, Any]) -> None:
        for formula in manifest["formulas"]:
            if formula["name"] == "Summary":
                formula["cache_ttl_s"] = 600

    return [built(PACKS / "hello").read_bytes(),
            with_manifest(authed, cached_get("authed", 600)),
            with_manifest(authed, cached_get("authedget", 0)),
            with_manifest(authed, oauthed),
            with_manifest(built(TEST_PACKS / "fetcher").read_bytes(), fetcher)]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str) -> Iterator[World]:
    def answer(request: FixtureRequest) -> list[bytes]:
        authorization = request.headers.get("authorization", "")
        body = json.dumps({"path": request.path, "who": who_is(authorization)}).encode()
        return [raw_response(body, headers=[("Content-Type", "application/json"),
                                            ("Cache-Control", "max-age=600")])]

    space = open_space(base_url())
    with ExitStack() as stack:
        stack.callback(space.client.close)
        stack.callback(space.clear)
        routes = {f"/{p}": answer for p in ("who", "who2", "who3", "gone", "data")}
        upstream = stack.enter_context(RawServer({**routes, **REFLECTING}))
        oauth = stack.enter_context(OAuthServer(client_secret=CLIENT_SECRET))
        plain_store = stack.enter_context(fresh_database(postgres_server_url))
        store_url = with_password(plain_store, "postgres", PG_PASSWORD)
        cache_url = with_password(space.url, "default", REDIS_PASSWORD)
        env = {"CORRAL_ALLOW_HTTP": "1",
               "CORRAL_HOST_MAP": f"api.example.test=127.0.0.1:{upstream.port},"
                                  f"auth.example.test=127.0.0.1:{upstream.port},"
                                  "oauth.test=127.0.0.1"}
        cluster = stack.enter_context(Cluster(
            tmp_path_factory.mktemp("attacks"), store_url=store_url, cache_url=cache_url,
            secret_key=encode_key(os.urandom(32)), extra_env=env))
        world = World(cluster, upstream, oauth, store_url, cache_url, space.prefix)
        with cluster["A"].client() as admin:
            for wasm in packs(oauth):
                upload(admin, wasm)
            world.ada = make_key(admin, "ada")[1]
            world.bob = make_key(admin, "bob")[1]
        for node in cluster.nodes:
            eventually(lambda: httpx.get(f"{node.url}/v1/packs/oauthed", headers=ADMIN)
                       .status_code == 200, f"the packs on {node.name}")
        world.secrets |= {PG_PASSWORD, REDIS_PASSWORD, ADA_TOKEN, BOB_TOKEN, CLIENT_SECRET,
                          ADMIN_KEY, world.ada, world.bob}
        yield world


def reflect(encode: Any, *, encoding: str | None = None) -> Any:
    """An upstream answer that hands the caller's credential back, encoded."""
    def answer(request: FixtureRequest) -> list[bytes]:
        secret = request.headers.get("authorization", "").removeprefix("Bearer ")
        body = encode(secret.encode())
        headers = [("Content-Type", "text/plain"), ("Cache-Control", "max-age=600"),
                   ("X-Echo", secret)]
        if encoding:
            headers.append(("Content-Encoding", encoding))
        return [raw_response(body, headers=headers)]
    return answer


REFLECTING = {
    "/echo": reflect(lambda s: b"token=" + s),
    "/echo64": reflect(lambda s: base64.b64encode(s)),
    "/echojson": reflect(lambda s: json.dumps({"t": s.decode()}).encode()),
    "/echogz": reflect(lambda s: gzip.compress(b"token=" + s), encoding="gzip"),
    "/echodeflate": reflect(lambda s: zlib.compress(b"token=" + s), encoding="deflate"),
}


def connect(world: World, node: str, key: str, token: str, pack: str = "authed",
            name: str = "mine") -> str:
    made = httpx.post(f"{world.node(node)}/v1/connections", headers=bearer(key),
                      json={"pack": pack, "name": name, "secret": {"token": token}})
    assert made.status_code == 201, made.text
    world.secrets.add(token)
    return str(made.json()["id"])


def seen_who(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.text
    return str(json.loads(answer.json()["result"]["body"])["who"])


# -- one caller against another ------------------------------------------------------------


@pytest.mark.timeout(300)
def test_bob_cannot_use_adas_connection_or_her_cached_result_from_another_node(
        world: World) -> None:
    url = "http://auth.example.test/who"
    ada_conn = connect(world, "A", world.ada, ADA_TOKEN)
    ada_answer = call(world.node("A"), world.ada, "authed", "Get", url, connection=ada_conn)
    assert seen_who(ada_answer) == who_is(f"Bearer {ADA_TOKEN}")
    for node in "ABC":
        stolen = call(world.node(node), world.bob, "authed", "Get", url, connection=ada_conn)
        assert stolen.status_code in (403, 404), (node, stolen.text)
        assert who_is(f"Bearer {ADA_TOKEN}") not in stolen.text
    bob_conn = connect(world, "B", world.bob, BOB_TOKEN)
    bob_answer = call(world.node("C"), world.bob, "authed", "Get", url, connection=bob_conn)
    assert seen_who(bob_answer) == who_is(f"Bearer {BOB_TOKEN}")
    listed = httpx.get(f"{world.node('C')}/v1/connections", headers=bearer(world.bob))
    assert [c["id"] for c in listed.json()] == [bob_conn]
    for node in "AC":
        probe = httpx.post(f"{world.node(node)}/v1/connections/{ada_conn}/test",
                           headers=bearer(world.bob))
        assert probe.status_code in (403, 404), probe.text
        gone = httpx.delete(f"{world.node(node)}/v1/connections/{ada_conn}",
                            headers=bearer(world.bob))
        assert gone.status_code in (403, 404), gone.text
    again = call(world.node("B"), world.ada, "authed", "Get", url, connection=ada_conn)
    assert seen_who(again) == who_is(f"Bearer {ADA_TOKEN}"), "bob deleted ada's connection"


@pytest.mark.timeout(300)
def test_the_get_cache_of_an_authenticated_fetch_is_each_callers_own(world: World) -> None:
    """``authedget`` caches no result; the upstream says ``max-age``: the GET cache."""
    url = "http://auth.example.test/who2"
    ada_conn = connect(world, "A", world.ada, ADA_TOKEN, pack="authedget")
    bob_conn = connect(world, "A", world.bob, BOB_TOKEN, pack="authedget")
    ada = call(world.node("A"), world.ada, "authedget", "Get", url, connection=ada_conn)
    assert seen_who(ada) == who_is(f"Bearer {ADA_TOKEN}")
    bob = call(world.node("B"), world.bob, "authedget", "Get", url, connection=bob_conn)
    assert seen_who(bob) == who_is(f"Bearer {BOB_TOKEN}")
    bob_again = call(world.node("C"), world.bob, "authedget", "Get", url, connection=bob_conn)
    assert seen_who(bob_again) == who_is(f"Bearer {BOB_TOKEN}")
    anonymous = call(world.node("C"), world.bob, "authedget", "Get", url)
    assert who_is(f"Bearer {ADA_TOKEN}") not in anonymous.text
    assert who_is(f"Bearer {BOB_TOKEN}") not in anonymous.text


@pytest.mark.timeout(300)
def test_a_formula_evaluated_by_bob_never_answers_from_adas_memo(world: World) -> None:
    url = "http://auth.example.test/who3"
    ada_conn = connect(world, "A", world.ada, ADA_TOKEN, name="memo")
    formula = f'=authed.Get("{url}")'
    ada = httpx.post(f"{world.node('A')}/v1/evaluate", headers=bearer(world.ada),
                     json={"formula": formula, "connections": {"authed": ada_conn}})
    assert ada.status_code == 200, ada.text
    assert who_is(f"Bearer {ADA_TOKEN}") in ada.text
    for node in "AB":
        bob = httpx.post(f"{world.node(node)}/v1/evaluate", headers=bearer(world.bob),
                         json={"formula": formula, "connections": {"authed": ada_conn}})
        assert bob.status_code in (403, 404), (node, bob.text)
        assert who_is(f"Bearer {ADA_TOKEN}") not in bob.text


# -- revocation ----------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_a_deleted_connection_stops_working_on_every_node_even_when_cached(
        world: World) -> None:
    url = "http://auth.example.test/gone"
    conn = connect(world, "A", world.ada, "tok-ADA-doomed-3e5f7a9c", name="doomed")
    for node in "ABC":  # cached on every node's view of the shared cache
        first = call(world.node(node), world.ada, "authed", "Get", url, connection=conn)
        assert first.status_code == 200, first.text
    gone = httpx.delete(f"{world.node('B')}/v1/connections/{conn}", headers=bearer(world.ada))
    assert gone.status_code == 204, gone.text
    for node in "ABC":
        eventually(lambda: call(world.node(node), world.ada, "authed", "Get", url,
                                connection=conn).status_code == 404,
                   f"the deleted connection refused on {node}")
        evaluated = httpx.post(f"{world.node(node)}/v1/evaluate", headers=bearer(world.ada),
                               json={"formula": f'=authed.Get("{url}")',
                                     "connections": {"authed": conn}})
        assert evaluated.status_code == 404, (node, evaluated.text)


@pytest.mark.timeout(300)
def test_a_revoked_key_ends_its_console_sessions_on_every_node(world: World) -> None:
    with world.cluster["A"].client() as admin:
        key_id, key = make_key(admin, "cora")
    world.secrets.add(key)
    signed = httpx.post(f"{world.node('A')}/v1/console/session", json={"key": key})
    assert signed.status_code == 201, signed.text
    session = signed.cookies.get("corral_session")
    assert session
    csrf = signed.json()["csrf_token"]
    world.secrets |= {session, csrf}
    cookies = {"corral_session": session}
    for node in "BC":
        seen = httpx.get(f"{world.node(node)}/v1/console/session", cookies=cookies)
        assert seen.status_code == 200, (node, seen.text)
    with world.cluster["C"].client() as admin:
        assert admin.delete(f"/v1/keys/{key_id}").status_code == 204
    for node in "AB":
        eventually(lambda: httpx.get(f"{world.node(node)}/v1/connections",
                                     cookies=cookies).status_code == 401,
                   f"the session of a revoked key refused on {node}")
        assert call(world.node(node), key, "hello", "Greet", "x").status_code == 401


@pytest.mark.timeout(300)
def test_a_deleted_pack_stops_answering_cached_results_on_every_node(world: World) -> None:
    def renamed(manifest: dict[str, Any]) -> None:
        manifest["pack"] = {**manifest["pack"], "name": "doomedpack"}
        for formula in manifest["formulas"]:
            if formula["name"] == "Summary":
                formula["cache_ttl_s"] = 600

    with world.cluster["A"].client() as admin:
        upload(admin, with_manifest(built(TEST_PACKS / "fetcher").read_bytes(), renamed))
    url = "http://api.example.test/data?doomed=1"
    for node in "ABC":
        eventually(lambda: call(world.node(node), world.ada, "doomedpack", "Summary", url)
                   .status_code == 200, f"doomedpack cached on {node}")
    with world.cluster["C"].client() as admin:
        assert admin.delete("/v1/packs/doomedpack").status_code == 204
    for node in "ABC":
        eventually(lambda: call(world.node(node), world.ada, "doomedpack", "Summary", url)
                   .status_code == 404, f"the deleted pack refused on {node}")


@pytest.mark.timeout(300)
def test_a_signed_out_session_replayed_on_another_node_is_refused(world: World) -> None:
    signed = httpx.post(f"{world.node('A')}/v1/console/session", json={"key": world.ada})
    assert signed.status_code == 201, signed.text
    session, csrf = signed.cookies["corral_session"], signed.json()["csrf_token"]
    world.secrets |= {session, csrf}
    cookies = {"corral_session": session}
    no_csrf = httpx.delete(f"{world.node('C')}/v1/connections/nothing", cookies=cookies)
    assert no_csrf.status_code == 403, no_csrf.text
    out = httpx.delete(f"{world.node('B')}/v1/console/session", cookies=cookies,
                       headers={"X-CSRF-Token": csrf})
    assert out.status_code in (200, 204), out.text
    for node in "ABC":
        replay = httpx.get(f"{world.node(node)}/v1/connections", cookies=cookies)
        assert replay.status_code == 401, (node, replay.text)


# -- OAuth2 across nodes -----------------------------------------------------------------


@pytest.mark.timeout(300)
def test_an_oauth_connection_made_across_nodes_is_adas_alone(world: World) -> None:
    oauth = world.oauth
    started = httpx.post(f"{world.node('A')}/v1/oauth2/oauthed/start", headers=bearer(world.ada),
                         json={"client_id": oauth.client_id, "client_secret": CLIENT_SECRET,
                               "name": "oauth"})
    assert started.status_code == 200, started.text
    query = dict(parse_qsl(urlsplit(started.json()["authorize_url"]).query))
    assert CLIENT_SECRET not in started.text
    status, headers = oauth.authorize(query)
    assert status == 302
    back = urlsplit(headers["Location"])
    binding = {name: value for name, value in started.cookies.items()}
    done = httpx.get(f"{world.node('B')}{back.path}?{back.query}", cookies=binding)
    assert done.status_code == 200, done.text
    conn = done.json()["id"]
    world.secrets |= set(oauth.issued_access) | set(oauth.issued_refresh) | set(binding.values())
    api = f"http://{oauth.token_domain}/api/oauth"
    used = call(world.node("C"), world.ada, "oauthed", "Get", api, connection=conn)
    assert used.status_code == 200 and used.json()["result"]["status"] == 200, used.text
    oauth.expire_access_tokens()  # the next call refreshes (a new token pair)
    refreshed = call(world.node("A"), world.ada, "oauthed", "Get", api + "?again=1",
                     connection=conn)
    assert refreshed.status_code == 200 and refreshed.json()["result"]["status"] == 200, \
        refreshed.text
    world.secrets |= set(oauth.issued_access) | set(oauth.issued_refresh)
    # bob, with a callback URL of ada's flow but not her browser's cookie, cannot finish it
    hijacked = httpx.post(f"{world.node('A')}/v1/oauth2/oauthed/start", headers=bearer(world.ada),
                          json={"client_id": oauth.client_id, "client_secret": CLIENT_SECRET})
    _, headers = oauth.authorize(dict(parse_qsl(urlsplit(
        hijacked.json()["authorize_url"]).query)))
    back = urlsplit(headers["Location"])
    hijack = httpx.get(f"{world.node('C')}{back.path}?{back.query}")
    assert hijack.status_code in (400, 403), hijack.text
    listed = httpx.get(f"{world.node('B')}/v1/connections", headers=bearer(world.bob))
    assert conn not in listed.text and listed.json() == [] or all(
        c["pack"] != "oauthed" for c in listed.json()), listed.text
    stolen = call(world.node("B"), world.bob, "oauthed", "Get", api, connection=conn)
    assert stolen.status_code in (403, 404), stolen.text
    for token in oauth.issued_access + oauth.issued_refresh:
        assert token not in used.text + refreshed.text


@pytest.mark.timeout(300)
def test_a_reflecting_upstream_leaves_no_token_in_any_answer_or_shared_cache(
        world: World) -> None:
    """The answers must not hold the token; test_zz then scans Redis for what these
    cached (results of ``authed``, GET cache entries of ``authedget``)."""
    token = "tok-ADA-reflected-6c2e8f0a4b"
    conns = {pack: connect(world, "B", world.ada, token, pack=pack, name="reflected")
             for pack in ("authed", "authedget")}
    for index, path in enumerate(REFLECTING):
        for pack, conn in conns.items():
            node = world.node("ABC"[index % 3])
            url = f"http://auth.example.test{path}"
            for _ in range(2):  # the second is a cache hit
                answer = call(node, world.ada, pack, "Get", url, connection=conn)
                assert answer.status_code in (200, 502), answer.text
                for form in (token, base64.b64encode(token.encode()).decode()):
                    assert form not in answer.text, (pack, path, answer.text)


# -- hostile identifiers against the shared store ------------------------------------------

HOSTILE_IDS = ["%00", "a%00b", "%27%3B%20DROP%20TABLE%20t%3B--", "*", "%2A%3A%2A",
               "x" * 3000, "%E2%80%AE", "..%2F..%2Fetc", "%F0%9F%90%84" * 200]


@pytest.mark.timeout(300)
def test_hostile_ids_are_4xx_problems_on_every_node_never_a_store_error(world: World) -> None:
    user = bearer(world.bob)
    for index, raw in enumerate(HOSTILE_IDS):
        node = world.node("ABC"[index % 3])
        answers = [
            httpx.delete(f"{node}/v1/connections/{raw}", headers=user),
            httpx.post(f"{node}/v1/connections/{raw}/test", headers=user),
            httpx.delete(f"{node}/v1/keys/{raw}", headers=ADMIN),
            httpx.get(f"{node}/v1/packs/{raw}", headers=user),
            httpx.post(f"{node}/v1/packs/authed/formulas/Get", headers=user,
                       json={"args": ["http://auth.example.test/who"],
                             "connection": raw.replace("%00", "\u0000")}),
            httpx.post(f"{node}/v1/console/session", json={"key": "corral_" + raw}),
            httpx.get(f"{node}/v1/console/session",
                      headers={"Cookie": f"corral_session={raw}"}),
        ]
        for answer in answers:
            what = f"{answer.request.method} {answer.request.url.path[:80]}"
            assert 400 <= answer.status_code < 500, (what, answer.status_code, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json"), what
            for telltale in ("corral_kv", "SELECT", "psycopg", "bytea", "Traceback"):
                assert telltale not in answer.text, (what, answer.text)
    assert all(httpx.get(f"{n.url}/readyz").status_code == 200 for n in world.cluster.nodes)


def oauth_flow(world: World, start: str, back: str, key: str,
               **extra: str) -> httpx.Response:
    """Start an ``oauthed`` flow on node ``start`` as ``key``, approve it at the provider,
    and come back on node ``back`` with the start's browser cookie."""
    started = httpx.post(f"{world.node(start)}/v1/oauth2/oauthed/start", headers=bearer(key),
                         json={"client_id": world.oauth.client_id,
                               "client_secret": CLIENT_SECRET, **extra})
    if started.status_code != 200:
        return started
    query = dict(parse_qsl(urlsplit(started.json()["authorize_url"]).query))
    _, headers = world.oauth.authorize(query)
    location = urlsplit(headers["Location"])
    world.secrets |= set(dict(started.cookies.items()).values())
    return httpx.get(f"{world.node(back)}{location.path}?{location.query}",
                     cookies=dict(started.cookies.items()))


@pytest.mark.timeout(300)
def test_bob_cannot_reconnect_adas_connection_through_oauth(world: World) -> None:
    made = oauth_flow(world, "A", "B", world.ada, name="target")
    assert made.status_code == 200, made.text
    ada_conn = made.json()["id"]
    tokens_before = len(world.oauth.issued_access)
    for start, back in (("B", "C"), ("C", "A")):
        hijack = oauth_flow(world, start, back, world.bob, connection_id=ada_conn)
        assert hijack.status_code in (400, 403, 404), hijack.text
    assert len(world.oauth.issued_access) == tokens_before, "bob's flow got tokens"
    mine = httpx.get(f"{world.node('B')}/v1/connections", headers=bearer(world.ada)).json()
    assert [c["name"] for c in mine if c["id"] == ada_conn] == ["target"]
    bobs = httpx.get(f"{world.node('C')}/v1/connections", headers=bearer(world.bob)).json()
    assert ada_conn not in [c["id"] for c in bobs]
    world.secrets |= set(world.oauth.issued_access) | set(world.oauth.issued_refresh)


# -- runs last: after everything above left its traces ------------------------------------


@pytest.mark.timeout(300)
def test_zz_no_secret_at_rest_in_postgresql_redis_or_the_logs(world: World) -> None:
    # one more cached call through a connection and one single-flight, so Redis holds some
    url = "http://auth.example.test/data"
    conn = connect(world, "C", world.ada, "tok-ADA-last-0b1d3f5e", name="last")
    assert call(world.node("C"), world.ada, "authed", "Get", url, connection=conn) \
        .status_code == 200
    assert call(world.node("A"), world.ada, "fetcher", "Summary",
                "http://api.example.test/data").status_code == 200
    secrets = set(world.secrets)
    assert len(secrets) > 12
    at_rest = leaks(postgres_contents(world.store_url), secrets)
    assert not at_rest, f"secrets in PostgreSQL: {at_rest}"
    in_redis = leaks(redis_contents(world.cache_url, world.redis_prefix), secrets)
    assert not in_redis, f"secrets in Redis: {in_redis}"
    for node in world.cluster.nodes:
        log = node.log()
        assert "Traceback" not in log, log[-3000:]
        logged = sorted(s for s in secrets if s in log)
        assert not logged, f"secrets in node {node.name}'s log: {logged}"
