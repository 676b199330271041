"""The execution log over HTTP: every formula, evaluate, action and sync call recorded for
its principal, with fuel, fetches, logs and cache hits; paged and filtered newest first;
kept within its retention; never holding a secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral._errors import StoreUnavailable
from corral._metrics import Metrics
from corral._server.runs import ExecutionLog, PendingRun
from corral._server.runs_store import RunStore
from corral._stores.lmdb_env import open_shared

from ..fake_github import TOKEN
from .runs_env import REPO_NAME, Clock, RunsEnv, runs_env, stored_bytes

MAX_RUNS = 12


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunsEnv]:
    with runs_env(tmp_path_factory.mktemp("runs"), runs_max_per_principal=MAX_RUNS) as made:
        yield made


def test_each_kind_of_call_is_recorded_with_what_it_cost(env: RunsEnv) -> None:
    connection = env.connect_github("alice")
    with env.client("alice") as alice:
        assert alice.post("/v1/packs/hello/formulas/Shout", json={"args": ["hey", 2]}
                          ).status_code == 200
        for _ in range(2):  # the second answer comes from the result cache
            assert alice.post("/v1/packs/hello/formulas/Greet", json={"args": ["Ada"]}
                              ).json() == {"result": "Hello, Ada!"}
        made = alice.post("/v1/packs/github/actions/CreateIssue",
                          json={"args": [REPO_NAME, "From the log test"],
                                "connection": connection})
        assert made.status_code == 200, made.text
        evaluated = alice.post("/v1/evaluate", json={
            "formula": f'=github.GetIssue("{REPO_NAME}", 1).title',
            "connections": {"github": connection}})
        assert evaluated.status_code == 200, evaluated.text
        with alice.stream("POST", "/v1/packs/github/tables/Issues/sync",
                          json={"args": [REPO_NAME], "connection": connection}) as synced:
            assert synced.status_code == 200
            synced.read()
        assert alice.post("/v1/packs/hello/formulas/Add", json={"args": ["two", 3]}
                          ).status_code == 400

    runs = env.runs("alice", limit=50)["runs"]
    kinds = [(r["kind"], r["pack"], r["formula"], r["outcome"]) for r in runs[:7]]
    assert kinds == [("formula", "hello", "Add", "error"), ("sync", "github", "Issues", "ok"),
                     ("formula", "github", "GetIssue", "ok"),
                     ("action", "github", "CreateIssue", "ok"),
                     ("formula", "hello", "Greet", "ok"), ("formula", "hello", "Greet", "ok"),
                     ("formula", "hello", "Shout", "ok")]
    failed, synced_run, evaluate_run, action, cached, first_greet, shout = runs[:7]
    assert failed["error"]["kind"] == "bad_args" and failed["error"]["message"]
    assert shout["logs"] == [{"level": "info", "message": "shouted 2 times"}]
    assert shout["fuel"] > 0 and shout["fetches"] == 0 and shout["args"]["args"] == ["hey", 2]
    assert cached["cache_hit"] and cached["fuel"] == 0 and not first_greet["cache_hit"]
    assert action["fetches"] >= 1 and action["args"]["connection"] == connection
    assert not action["cache_hit"]
    assert evaluate_run["args"]["formula"].startswith("=github.GetIssue")
    assert synced_run["fetches"] >= 1 and synced_run["duration_ms"] > 0
    assert all(r["automation"] is None for r in runs)
    assert [r["at"] for r in runs] == sorted((r["at"] for r in runs), reverse=True)


def test_pages_and_filters(env: RunsEnv) -> None:
    with env.client("bob") as bob:
        for name in ("Ann", "Ben", "Cy", "Di", "Ed"):
            assert bob.post("/v1/packs/hello/formulas/Shout", json={"args": [name]}
                            ).status_code == 200
        bob.post("/v1/packs/hello/formulas/WordCount", json={"args": []})
        wrong = bob.get("/v1/runs", params={"cursor": "not-a-cursor"})
        assert wrong.status_code == 400
        assert wrong.headers["content-type"].startswith("application/problem+json")
        assert wrong.json()["field"] == "cursor"
        assert bob.get("/v1/runs", params={"outcome": "maybe"}).status_code == 400

    everything = env.runs("bob", limit=200)["runs"]
    seen, cursor = [], None
    while True:
        page = env.runs("bob", limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(page["runs"]) <= 2
        seen += [r["id"] for r in page["runs"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [r["id"] for r in everything] and len(seen) == 6
    shouts = env.runs("bob", formula="Shout")["runs"]
    assert [r["args"]["args"][0] for r in shouts] == ["Ed", "Di", "Cy", "Ben", "Ann"]
    errors = env.runs("bob", outcome="error")["runs"]
    assert [r["formula"] for r in errors] == ["WordCount"]
    assert env.runs("bob", pack="github")["runs"] == []


def test_each_principal_sees_only_its_own_runs(env: RunsEnv) -> None:
    with env.client("dave") as dave:
        assert dave.post("/v1/packs/hello/formulas/Shout", json={"args": ["mine"]}
                         ).status_code == 200
        refused = dave.get("/v1/runs", params={"principal": "alice"})
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("application/problem+json")
    daves = env.runs("dave")["runs"]
    assert daves and all(r["args"]["args"] == ["mine"] for r in daves)
    alice_ids = {r["id"] for r in env.runs("alice", limit=200)["runs"]}
    assert alice_ids and not alice_ids & {r["id"] for r in daves}
    as_admin = env.runs("admin", principal="dave")["runs"]
    assert [r["id"] for r in as_admin] == [r["id"] for r in daves]


def test_a_principal_keeps_at_most_its_share_of_runs(env: RunsEnv) -> None:
    with env.client("dave") as dave:
        for n in range(MAX_RUNS + 5):
            assert dave.post("/v1/packs/hello/formulas/Shout", json={"args": [f"n{n}"]}
                             ).status_code == 200
    kept = env.runs("dave", limit=200)["runs"]
    assert len(kept) == MAX_RUNS
    assert kept[0]["args"]["args"] == [f"n{MAX_RUNS + 4}"]
    assert kept[-1]["args"]["args"] == [f"n{5}"]
    assert env.service.runs.store.count("dave") == MAX_RUNS


def test_runs_past_the_age_limit_are_hidden_then_removed(tmp_path: Path) -> None:
    clock = Clock()
    store = RunStore(open_shared(tmp_path / "runs", map_size=1 << 20, max_dbs=4),
                     max_per_principal=100, max_age_s=60, clock=clock)
    with store:
        store.write_batch([("ann", _run(clock.now, n)) for n in range(3)])
        assert len(store.page("ann")[0]) == 3
        clock.now += 61
        assert store.page("ann")[0] == []  # hidden before a write removes them
        store.write_batch([("ann", _run(clock.now, 9))])
        assert [r["args"] for r in store.page("ann")[0]] == [9]
        assert store.count("ann") == 1


def test_a_log_that_cannot_write_drops_runs_and_counts_them() -> None:
    def unreachable() -> RunStore:
        raise StoreUnavailable("the test's store is down", store="postgresql")

    metrics = Metrics()
    with ExecutionLog(unreachable, metrics, queue_size=4) as log:
        for n in range(3):
            log.finish(PendingRun("ann", "formula", "hello", "Greet", [n]))
        assert log.flush()
        assert log.dropped == 3
    assert metrics.value("corral_runs_dropped_total") == 3


def test_no_stored_run_holds_a_secret(env: RunsEnv) -> None:
    env.runs("alice")  # everything queued is written
    stored = stored_bytes(env.data_dir / "runs")
    assert b"GetIssue" in stored, "the scan reads the log's files"
    for secret in [TOKEN, *env.keys.values()]:
        assert secret.encode() not in stored


def test_the_openapi_document_describes_runs(env: RunsEnv) -> None:
    with env.client("alice") as alice:
        schema = alice.get("/openapi.json").json()
    get = schema["paths"]["/v1/runs"]["get"]
    names = {p["name"] for p in get["parameters"]}
    assert {"limit", "cursor", "pack", "formula", "outcome", "principal"} <= names
    assert "application/problem+json" in get["responses"]["400"]["content"]
    assert "RunPage" in json.dumps(get["responses"]["200"])


def _run(at: float, n: int) -> dict[str, object]:
    from corral._server.runs_store import new_run_id

    return {"id": new_run_id(at + n / 1000), "at": at, "args": n}


def test_a_caller_reads_back_the_call_it_just_made(env: RunsEnv) -> None:
    with env.client("bob") as bob:
        for n in range(5):
            made = bob.post("/v1/packs/hello/formulas/Shout", json={"args": [f"now {n}"]})
            assert made.status_code == 200
            newest = bob.get("/v1/runs", params={"limit": 1}).json()["runs"][0]
            assert newest["args"]["args"] == [f"now {n}"]
