"""The HTTP service for real: uvicorn on a free loopback port, httpx as the client, the
github pack talking to a fake GitHub on 127.0.0.1, and `corral serve` in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from corral._server.apikeys import ApiKeyStore
from corral import Host, Settings, create_app
from corral._server.serve import ADMIN_KEY_LINE
from corral.testing import LoopbackRouter

from ..conftest import HOSTILE_PACKS, PACKS, REPO, built
from .test_server import with_manifest
from ..fake_github import TOKEN, FakeGitHub

REPO_NAME = "octo/demo"
ISSUES = 7


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RunningServer:
    """uvicorn serving an app in a thread; ``stop()`` asks for a graceful shutdown."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class Env:
    def __init__(self, server: RunningServer, host: Host, api: FakeGitHub,
                 keys: dict[str, str]) -> None:
        self.server = server
        self.host = host
        self.api = api
        self.keys = keys

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, timeout=60,
                            headers={"Authorization": f"Bearer {self.keys[who]}"})


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    data = tmp_path_factory.mktemp("e2e")
    settings = Settings(data_dir=data, max_workers=8, per_pack_concurrency=4,
                        global_concurrency=64, max_queue=128, principal_concurrency=16,
                        principal_queue=64)
    with FakeGitHub() as api:
        api.add_repo(REPO_NAME, issues=ISSUES)
        router = LoopbackRouter({"api.github.test": api.port})
        with Host(settings, fetch_transport=router) as host:
            for pack_dir in (PACKS / "github", HOSTILE_PACKS / "hostile",
                             HOSTILE_PACKS / "hostile_time"):
                host.register_file(built(pack_dir))
            admin = ApiKeyStore.for_settings(settings).ensure_admin()
            assert admin is not None
            server = RunningServer(create_app(host, settings)).start()
            keys = {"admin": admin}
            try:
                with httpx.Client(base_url=server.url,
                                  headers={"Authorization": f"Bearer {admin}"}) as client:
                    for name in ("alice", "bob"):
                        made = client.post("/v1/keys", json={"name": name, "role": "caller"})
                        keys[name] = made.json()["key"]
                yield Env(server, host, api, keys)
            finally:
                server.stop()


def upload_hello(env: Env) -> httpx.Response:
    with env.client("admin") as admin:
        return admin.post("/v1/packs", content=built(PACKS / "hello").read_bytes(),
                          headers={"Content-Type": "application/wasm"})


def sync_lines(client: httpx.Client, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        return [json.loads(line) for line in response.iter_lines() if line]


def test_upload_connect_invoke_evaluate_and_sync(env: Env) -> None:
    with env.client("alice") as alice:
        assert "hello" not in [p["name"] for p in alice.get("/v1/packs").json()]
        uploaded = upload_hello(env)
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["manifest"]["pack"]["name"] == "hello"
        assert "hello" in [p["name"] for p in alice.get("/v1/packs").json()]

        created = alice.post("/v1/connections", json={"pack": "github", "name": "my github",
                                                      "secret": {"token": TOKEN}})
        assert created.status_code == 201, created.text
        conn = created.json()["id"]
        assert alice.post(f"/v1/connections/{conn}/test").json()["status"] == "active"

        greeting = alice.post("/v1/packs/hello/formulas/Greet", json={"args": ["Ada"]})
        assert greeting.json() == {"result": "Hello, Ada!"}
        issue = alice.post("/v1/packs/github/formulas/GetIssue",
                           json={"args": [REPO_NAME, 3], "connection": conn})
        assert issue.status_code == 200, issue.text
        assert issue.json()["result"]["title"] == "Issue 3"

        evaluated = alice.post("/v1/evaluate", json={
            "formula": f'=hello.Greet(github.GetIssue("{REPO_NAME}", 5).title)',
            "connections": {"github": conn}})
        assert evaluated.status_code == 200, evaluated.text
        assert evaluated.json() == {"result": "Hello, Issue 5!"}

        lines = sync_lines(alice, "/v1/packs/github/tables/Issues/sync",
                           {"args": [REPO_NAME, 3], "connection": conn})
        pages, last = lines[:-1], lines[-1]
        assert [p["page"] for p in pages] == [1, 2, 3]
        numbers = [row["number"] for p in pages for row in p["rows"]]
        assert numbers == list(range(1, ISSUES + 1))
        assert last == {"done": True, "rows": ISSUES, "pages": 3}

        everything = json.dumps(lines) + issue.text + created.text + evaluated.text
        assert TOKEN not in everything, "the token never comes back out"
    assert env.api.seen_auth and all(a == f"Bearer {TOKEN}" for a in env.api.seen_auth)


def test_two_way_sync_dynamic_tables_and_autocomplete_over_http(env: Env) -> None:
    if not env.api.data.projects:
        env.api.add_project("Roadmap", [{"name": "Title", "type": "text"}],
                            [{"id": 1, "Title": "Ship it"}])
    with env.client("alice") as alice:
        conn = alice.post("/v1/connections", json={"pack": "github", "name": "model",
                                                   "secret": {"token": TOKEN}}).json()["id"]
        lines = sync_lines(alice, "/v1/packs/github/tables/Issues/sync",
                           {"args": [REPO_NAME], "connection": conn})
        first = lines[0]["rows"][0]
        updated = alice.post("/v1/packs/github/tables/Issues/update", json={
            "updates": [{"previous": first, "new": {**first, "title": "Renamed over HTTP"}}],
            "args": [REPO_NAME], "connection": conn})
        assert updated.status_code == 200, updated.text
        (result,) = updated.json()["results"]
        assert result["ok"]["title"] == "Renamed over HTTP"
        assert env.api.data.repos[REPO_NAME][0]["title"] == "Renamed over HTTP"

        immutable = alice.post("/v1/packs/github/tables/Issues/update", json={
            "updates": [{"previous": first, "new": {**first, "comments": 99}}],
            "args": [REPO_NAME], "connection": conn})
        assert immutable.status_code == 400
        assert "not mutable" in immutable.json()["detail"]

        urls = alice.get("/v1/packs/github/tables/ProjectItems/urls",
                         params={"connection": conn})
        assert urls.status_code == 200, urls.text
        roadmap = next(u for u in urls.json()["urls"] if u["display"] == "Roadmap")
        schema = alice.post("/v1/packs/github/tables/ProjectItems/schema",
                            json={"url": roadmap["url"], "connection": conn})
        assert schema.status_code == 200, schema.text
        assert "Title" in schema.json()["schema"]["properties"]

        options = alice.post("/v1/packs/github/autocomplete/Issues", json={
            "param": "repo", "search": REPO_NAME[:4], "connection": conn})
        assert options.status_code == 200, options.text
        assert {"display": REPO_NAME, "value": REPO_NAME} in options.json()["options"]


def test_another_caller_can_neither_see_nor_use_a_connection(env: Env) -> None:
    with env.client("alice") as alice, env.client("bob") as bob:
        conn = alice.post("/v1/connections", json={"pack": "github", "name": "mine",
                                                   "secret": {"token": TOKEN}}).json()["id"]
        assert conn not in [c["id"] for c in bob.get("/v1/connections").json()]
        before = len(env.api.requests)
        stolen = bob.post("/v1/packs/github/formulas/GetIssue",
                          json={"args": [REPO_NAME, 1], "connection": conn})
        assert stolen.status_code == 404 and stolen.json()["kind"] == "not_found"
        with bob.stream("POST", "/v1/packs/github/tables/Issues/sync",
                        json={"args": [REPO_NAME], "connection": conn}) as response:
            assert response.status_code == 404
        assert len(env.api.requests) == before, "nothing reached the API"
        assert bob.delete(f"/v1/connections/{conn}").status_code == 404
        assert alice.delete(f"/v1/connections/{conn}").status_code == 204


def test_max_pages_previews_a_sync(env: Env) -> None:
    with env.client("alice") as alice:
        conn = alice.post("/v1/connections", json={"pack": "github", "name": "preview",
                                                   "secret": {"token": TOKEN}}).json()["id"]
        lines = sync_lines(alice, "/v1/packs/github/tables/Issues/sync",
                           {"args": [REPO_NAME, 2], "connection": conn, "max_pages": 2})
    assert [len(line["rows"]) for line in lines[:-1]] == [2, 2]
    assert lines[-1] == {"done": True, "rows": 4, "pages": 2}


def test_a_sync_failing_after_its_first_page_ends_with_a_problem_line(env: Env) -> None:
    def capped(manifest: dict[str, Any]) -> None:
        manifest["pack"]["name"] = "github_capped"
        manifest["limits"]["max_sync_pages"] = 2

    wasm = with_manifest(built(PACKS / "github").read_bytes(), capped)
    with env.client("admin") as admin:
        assert admin.post("/v1/packs", content=wasm).status_code == 201
    with env.client("alice") as alice:
        conn = alice.post("/v1/connections", json={"pack": "github_capped", "name": "capped",
                                                   "secret": {"token": TOKEN}}).json()["id"]
        lines = sync_lines(alice, "/v1/packs/github_capped/tables/Issues/sync",
                           {"args": [REPO_NAME, 2], "connection": conn})
    assert [line.get("page") for line in lines[:-1]] == [1, 2]
    problem = lines[-1]["error"]
    assert (problem["status"], problem["kind"], problem["pack"]) == (502, "limit",
                                                                     "github_capped")
    assert "max_sync_pages" in problem["detail"]


def test_a_hostile_pack_does_not_starve_fifty_concurrent_callers(env: Env) -> None:
    assert upload_hello(env).status_code == 201

    def spin(_: int) -> httpx.Response:
        with env.client("bob") as bob:
            return bob.post("/v1/packs/hostile/formulas/Spin", json={})

    def greet(i: int) -> httpx.Response:
        with env.client("alice") as alice:
            return alice.post("/v1/packs/hello/formulas/Greet", json={"args": [f"caller {i}"]})

    with ThreadPoolExecutor(max_workers=60) as pool:
        spins = [pool.submit(spin, i) for i in range(4)]
        greets = [pool.submit(greet, i) for i in range(50)]
        greeted = [f.result() for f in greets]
        spun = [f.result() for f in spins]

    assert [r.status_code for r in greeted] == [200] * 50
    assert [r.json()["result"] for r in greeted] == [f"Hello, caller {i}!" for i in range(50)]
    for response in spun:
        assert response.status_code == 502
        assert response.headers["content-type"] == "application/problem+json"
        doc = response.json()
        assert (doc["kind"], doc["pack"], doc["formula"]) == ("fuel_exhausted", "hostile",
                                                               "Spin")


def test_graceful_shutdown_finishes_the_call_in_flight(env: Env) -> None:
    app = create_app(env.host, env.host.settings)
    server = RunningServer(app).start()
    outcome: dict[str, httpx.Response] = {}

    def call() -> None:
        with httpx.Client(base_url=server.url, timeout=60,
                          headers={"Authorization": f"Bearer {env.keys['bob']}"}) as bob:
            outcome["response"] = bob.post("/v1/packs/hostile_time/formulas/Spin", json={})

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 20
    while app.state.corral.gate.running == 0:
        assert time.monotonic() < deadline, "the call never started"
        time.sleep(0.005)
    server.stop()  # asked to exit while the call runs
    caller.join(timeout=30)
    assert not server.thread.is_alive()
    response = outcome["response"]
    assert response.status_code == 504, response.text
    assert response.json()["kind"] == "timeout"


def metric(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_http_requests_sync_rows_and_fetches(env: Env) -> None:
    rows = 'corral_sync_rows_total{pack="github",table="Issues"}'
    fetches = 'corral_fetches_total{outcome="ok",pack="github"}'
    requests = ('corral_http_requests_total{method="POST",'
                'route="/v1/packs/{pack}/tables/{table}/sync",status="200"}')
    with httpx.Client(base_url=env.server.url) as anonymous, env.client("bob") as bob:
        before = anonymous.get("/metrics").text
        conn = bob.post("/v1/connections", json={"pack": "github", "name": "metrics",
                                                 "secret": {"token": TOKEN}}).json()["id"]
        sync_lines(bob, "/v1/packs/github/tables/Issues/sync",
                   {"args": [REPO_NAME, 3], "connection": conn, "max_pages": 1})
        # A streamed response is counted once its last byte is sent, which may be just
        # after the client has read it: wait for the count, without a deadline on speed.
        deadline = time.monotonic() + 30
        after = anonymous.get("/metrics")
        while metric(after.text, requests) == metric(before, requests) and (
                time.monotonic() < deadline):
            time.sleep(0.05)
            after = anonymous.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    assert metric(after.text, rows) - metric(before, rows) == 3
    assert metric(after.text, fetches) - metric(before, fetches) == 1
    assert metric(after.text, requests) - metric(before, requests) == 1


# -- `corral serve` -----------------------------------------------------------------------


def start_serve(data_dir: Path, port: int, **extra_env: str) -> tuple[subprocess.Popen[str],
                                                                       list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update(extra_env)
    process = subprocess.Popen(
        [sys.executable, "-m", "corral", "serve", "--data-dir", str(data_dir),
         "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=env, cwd=REPO)
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or "serving on" not in lines[-1]:
        line = process.stdout.readline()
        assert line, f"corral serve exited early: {lines}"
        lines.append(line.rstrip("\n"))
    wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
    return process, lines


def wait_until_up(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "server never came up"
        time.sleep(0.05)


def stop_serve(process: subprocess.Popen[str]) -> int:
    process.terminate()
    return process.wait(timeout=30)


@pytest.mark.timeout(180)
def test_corral_serve_on_a_fresh_data_dir_prints_a_key_once_that_works(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    port = free_port()
    process, lines = start_serve(data_dir, port)
    try:
        printed = [line[len(ADMIN_KEY_LINE):] for line in lines if line.startswith(ADMIN_KEY_LINE)]
        assert len(printed) == 1
        key = printed[0]
        packs = httpx.get(f"http://127.0.0.1:{port}/v1/packs",
                          headers={"Authorization": f"Bearer {key}"})
        assert packs.status_code == 200
        assert {"hello", "textstats"} <= {p["name"] for p in packs.json()}
        assert httpx.get(f"http://127.0.0.1:{port}/v1/packs").status_code == 401
    finally:
        assert stop_serve(process) == 0
    assert key.encode() not in (data_dir / "api-keys" / "data.mdb").read_bytes()

    configured = "configured-admin-key-for-the-test"
    process, lines = start_serve(data_dir, port, CORRAL_ADMIN_KEY=configured)
    try:
        assert not any(line.startswith(ADMIN_KEY_LINE) for line in lines), "printed once only"
        for usable in (key, configured):
            response = httpx.post(f"http://127.0.0.1:{port}/v1/packs/hello/formulas/Greet",
                                  json={"args": ["serve"]},
                                  headers={"Authorization": f"Bearer {usable}"})
            assert response.json() == {"result": "Hello, serve!"}
    finally:
        assert stop_serve(process) == 0
