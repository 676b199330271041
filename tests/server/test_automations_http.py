"""Automations over HTTP: made, listed, edited and deleted per caller; fired by a webhook,
by a schedule (the scheduler's tick driven with the test's clock, and the server's own
thread on a real clock) and by new rows of a sync table; each run in the execution log;
a failing one backing off and then disabled; a due run claimed once."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from corral._server.automations_model import next_run
from corral._server.automations_store import AutomationStore
from corral._stores.lmdb_env import open_shared

from ..conftest import REPO
from .runs_env import REPO_NAME, Clock, RunsEnv, poll, runs_env, stored_bytes

GREET = {"pack": "hello", "name": "Greet", "args": ["=$$[variable:trigger].name"]}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunsEnv]:
    with runs_env(tmp_path_factory.mktemp("automations"), automations_max_failures=3,
                  automations_backoff_s=30.0) as made:
        yield made


def create(client: httpx.Client, **definition: Any) -> dict[str, Any]:
    made = client.post("/v1/automations", json={"actions": [GREET], **definition})
    assert made.status_code == 201, made.text
    found: dict[str, Any] = made.json()
    return found


def outcomes(fired: list[Any], automation: dict[str, Any]) -> list[str]:
    """What the tick did for ``automation`` (other tests' automations may be due too)."""
    return [f.outcome for f in fired if f.automation == automation["id"]]


def automation_runs(env: RunsEnv, who: str, automation: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = env.runs(who, automation=automation)["runs"]
    return runs


def test_a_webhook_runs_its_actions_with_the_payload(
        env: RunsEnv, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="corral.access")
    with env.client("alice") as alice:
        made = create(alice, name="shout on hook", trigger={"type": "webhook"},
                      condition="=$$[variable:payload].loud",
                      actions=[{"pack": "hello", "name": "Shout",
                                "args": ["=$$[variable:payload].text", 2]}])
        url = made["webhook_url"]
        assert url.startswith(env.server.url + "/v1/hooks/wh_")
        secret = url.rsplit("/", 1)[1]
        fired = httpx.post(url, json={"loud": True, "text": "ship it"})
        assert fired.status_code == 200, fired.text
        assert fired.json()["outcome"] == "ok"
        quiet = httpx.post(url, json={"loud": False, "text": "psst"})
        assert quiet.json() == {"run": None, "outcome": "skipped"}
        unknown = httpx.post(env.server.url + "/v1/hooks/wh_not-a-hook", json={})
        assert unknown.status_code == 404
        assert unknown.headers["content-type"].startswith("application/problem+json")
        listed = alice.get("/v1/automations").text + alice.get(
            f"/v1/automations/{made['id']}").text
    assert secret not in listed and "webhook_url" not in alice_view(env, made["id"])
    runs = automation_runs(env, "alice", made["id"])
    assert [r["id"] for r in runs] == [fired.json()["run"]]
    run = runs[0]
    assert run["kind"] == "automation" and run["outcome"] == "ok"
    assert (run["pack"], run["formula"]) == ("hello", "Shout")
    assert run["args"]["payload"] == {"loud": True, "text": "ship it"}
    assert run["args"]["results"] == ["SHIP IT SHIP IT"]
    assert run["logs"] == [{"level": "info", "message": "shouted 2 times"}]
    hook_lines = [r.getMessage() for r in caplog.records if "/v1/hooks/" in r.getMessage()]
    assert len(hook_lines) == 3 and not any(secret in line for line in hook_lines)
    for stored in (stored_bytes(env.data_dir / "runs"),
                   stored_bytes(env.data_dir / "automations")):
        assert secret.encode() not in stored


def alice_view(env: RunsEnv, automation: str) -> dict[str, Any]:
    with env.client("alice") as alice:
        found: dict[str, Any] = alice.get(f"/v1/automations/{automation}").json()
        return found


def test_a_schedule_runs_when_the_scheduler_finds_it_due(env: RunsEnv) -> None:
    scheduler = env.service.automations.scheduler
    with env.client("bob") as bob:
        made = create(bob, name="every minute", trigger={"type": "schedule", "every_s": 60})
    assert made["next_run_at"] == env.clock.now + 60
    assert outcomes(scheduler.tick(env.clock.now + 59), made) == []
    env.clock.now += 60
    assert outcomes(scheduler.tick(), made) == ["ok"]
    assert outcomes(scheduler.tick(), made) == []  # once per due time
    runs = automation_runs(env, "bob", made["id"])
    assert [r["args"] for r in runs] == [{"trigger": "schedule",
                                          "results": ["Hello, every minute!"]}]
    state = env.service.automations.store.get("bob", made["id"])
    assert state["next_run_at"] == env.clock.now + 60 and state["last_run_at"] == env.clock.now


def test_its_owner_may_run_a_scheduled_automation_at_once(env: RunsEnv) -> None:
    with env.client("bob") as bob, env.client("alice") as alice:
        made = create(bob, name="on demand", trigger={"type": "schedule", "every_s": 3600})
        ran = bob.post(f"/v1/automations/{made['id']}/run")
        assert ran.status_code == 200, ran.text
        assert [r["outcome"] for r in ran.json()["runs"]] == ["ok"]
        assert alice.post(f"/v1/automations/{made['id']}/run").status_code == 404
        hook = create(bob, name="hooked", trigger={"type": "webhook"})
        refused = bob.post(f"/v1/automations/{hook['id']}/run")
        assert refused.status_code == 400 and refused.json()["field"] == "trigger.type"
    runs = automation_runs(env, "bob", made["id"])
    assert [r["id"] for r in runs] == [ran.json()["runs"][0]["run"]]


def test_a_failing_automation_backs_off_and_is_then_disabled(env: RunsEnv) -> None:
    scheduler = env.service.automations.scheduler
    with env.client("bob") as bob:
        made = create(bob, name="broken", trigger={"type": "schedule", "every_s": 10},
                      actions=[{"pack": "hello", "name": "Add", "args": ["two", 2]}])
        at = made["next_run_at"]
        assert outcomes(scheduler.tick(at), made) == ["error"]
        state = bob.get(f"/v1/automations/{made['id']}").json()
        assert (state["status"], state["failures"]) == ("failing", 1)
        assert state["next_run_at"] == at + 30 and state["last_error"]["kind"] == "bad_args"
        assert outcomes(scheduler.tick(at + 29), made) == []  # still backing off
        scheduler.tick(at + 30)
        second = bob.get(f"/v1/automations/{made['id']}").json()
        assert (second["failures"], second["next_run_at"]) == (2, at + 30 + 60)
        scheduler.tick(at + 90)
        third = bob.get(f"/v1/automations/{made['id']}").json()
    assert (third["status"], third["failures"], third["enabled"]) == ("disabled", 3, False)
    assert third["next_run_at"] is None
    assert outcomes(scheduler.tick(at + 10_000), made) == []  # never retried forever
    runs = automation_runs(env, "bob", made["id"])
    assert [r["outcome"] for r in runs] == ["error"] * 3
    assert all(r["error"]["kind"] == "bad_args" for r in runs)


def test_a_failing_webhook_is_refused_while_it_backs_off(env: RunsEnv) -> None:
    with env.client("alice") as alice:
        made = create(alice, name="bad hook", trigger={"type": "webhook"},
                      actions=[{"pack": "hello", "name": "Add",
                                "args": ["=$$[variable:payload]", 1]}])
    failed = httpx.post(made["webhook_url"], json="not a number")
    assert failed.json()["outcome"] == "error"
    refused = httpx.post(made["webhook_url"], json=5)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert int(refused.headers["retry-after"]) >= 1
    assert alice_view(env, made["id"])["status"] == "failing"


def test_new_rows_of_a_sync_table_each_run_the_actions(env: RunsEnv) -> None:
    connection = env.connect_github("dave")
    scheduler = env.service.automations.scheduler
    with env.client("dave") as dave:
        made = create(dave, name="greet new issues",
                      trigger={"type": "rows", "pack": "github", "table": "Issues",
                               "args": [REPO_NAME], "every_s": 30},
                      connections={"github": connection},
                      actions=[{"pack": "hello", "name": "Greet",
                                "args": ["=$$[variable:row].title"]}])
        assert outcomes(scheduler.tick(made["next_run_at"]), made) == []  # the first look
        opened = dave.post("/v1/packs/github/actions/CreateIssue",
                           json={"args": [REPO_NAME, "Fresh one"], "connection": connection})
        assert opened.status_code == 200, opened.text
    assert outcomes(scheduler.tick(made["next_run_at"] + 30), made) == ["ok"]
    runs = automation_runs(env, "dave", made["id"])
    assert [r["args"]["results"] for r in runs] == [["Hello, Fresh one!"]]
    assert runs[0]["args"]["row"]["title"] == "Fresh one"
    assert runs[0]["fetches"] >= 1  # reading the table is part of the first new row's run


def test_the_servers_own_scheduler_runs_a_schedule(tmp_path: Path) -> None:
    with runs_env(tmp_path, automations_tick_s=0.05) as real:
        real.clock.now = 0.0
        with real.client("alice") as alice:
            made = create(alice, name="tick", trigger={"type": "schedule", "every_s": 1})
        real.clock.now = made["next_run_at"]
        runs = poll(lambda: automation_runs(real, "alice", made["id"]))
        assert runs[0]["outcome"] == "ok" and runs[0]["kind"] == "automation"


def test_definitions_are_checked_and_name_the_bad_field(env: RunsEnv) -> None:
    def refused(body: dict[str, Any]) -> dict[str, Any]:
        with env.client("alice") as alice:
            answer = alice.post("/v1/automations", json={"name": "x", "actions": [GREET],
                                                         **body})
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        found: dict[str, Any] = answer.json()
        return found

    bad_formula = refused({"trigger": {"type": "webhook"}, "actions": [
        {"pack": "hello", "name": "Greet", "args": ["=UPPER("]}]})
    assert bad_formula["field"] == "actions[0].args[0]"
    assert (bad_formula["line"], bad_formula["column"]) == (1, 8)
    condition = refused({"trigger": {"type": "webhook"}, "condition": "=1 +\n  2 *"})
    assert (condition["field"], condition["line"]) == ("condition", 2)
    assert refused({"trigger": {"type": "webhook"}, "actions": [
        {"pack": "hello", "name": "Nope"}]})["field"] == "actions[0].name"
    assert refused({"trigger": {"type": "schedule"}})["field"] == "trigger.every_s"
    assert refused({"trigger": {"type": "schedule", "daily_at": "25:00"}}
                   )["field"] == "trigger.daily_at"
    assert refused({"trigger": {"type": "rows", "pack": "github", "table": "Nope"}}
                   )["field"] == "trigger.table"
    assert refused({"trigger": {"type": "webhook"}, "connections": {"github": "nope"}}
                   )["field"] == "connections.github"
    assert "trigger" in str(refused({})["errors"])


def test_automations_belong_to_their_owner(env: RunsEnv) -> None:
    with env.client("alice") as alice, env.client("bob") as bob:
        made = create(alice, name="mine", trigger={"type": "schedule", "daily_at": "07:30",
                                                   "timezone": "Europe/Paris"})
        assert made["next_run_at"] > env.clock.now
        assert bob.get(f"/v1/automations/{made['id']}").status_code == 404
        assert bob.delete(f"/v1/automations/{made['id']}").status_code == 404
        assert made["id"] not in {a["id"] for a in bob.get("/v1/automations").json()[
            "automations"]}
        edited = alice.put(f"/v1/automations/{made['id']}", json={
            "name": "renamed", "trigger": {"type": "webhook"}, "actions": [GREET]})
        assert edited.status_code == 200, edited.text
        assert edited.json()["name"] == "renamed" and edited.json()["webhook_url"]
        assert alice.delete(f"/v1/automations/{made['id']}").status_code == 204
        assert alice.get(f"/v1/automations/{made['id']}").status_code == 404
        assert httpx.post(edited.json()["webhook_url"], json={}).status_code == 404


def test_a_daily_time_is_the_next_such_time_in_its_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    now = datetime(2026, 3, 28, 8, 0, tzinfo=paris).timestamp()  # the eve of summer time
    trigger = {"type": "schedule", "daily_at": "07:30", "timezone": "Europe/Paris"}
    first = next_run(trigger, now)
    assert first is not None
    assert datetime.fromtimestamp(first, paris) == datetime(2026, 3, 29, 7, 30, tzinfo=paris)
    assert first - now == 23.5 * 3600 - 3600  # the night is an hour shorter
    assert next_run({"type": "webhook"}, now) is None


def test_a_due_run_is_claimed_once(tmp_path: Path) -> None:
    clock = Clock()
    with AutomationStore(open_shared(tmp_path / "a", map_size=1 << 20, max_dbs=4),
                         clock=clock) as store:
        record, _ = store.create("ann", {"name": "n", "enabled": True, "actions": [GREET],
                                         "trigger": {"type": "schedule", "every_s": 5}})
        due = record["next_run_at"]
        wins: list[Any] = []
        threads = [threading.Thread(target=lambda: wins.append(store.claim(record["id"], due)))
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sum(1 for w in wins if w is not None) == 1
        assert store.due(due) == []  # held by the claim until the run finishes
        store.finish(record["id"], due, None)
        assert store.get("ann", record["id"])["next_run_at"] == due + 5


def test_a_due_run_is_claimed_once_among_processes(tmp_path: Path) -> None:
    store_dir = tmp_path / "a"
    with AutomationStore(open_shared(store_dir, map_size=1 << 20, max_dbs=4)) as store:
        record, _ = store.create("ann", {"name": "n", "enabled": True, "actions": [GREET],
                                         "trigger": {"type": "schedule", "every_s": 5}})
    go = tmp_path / "go"
    workers = [subprocess.Popen(
        [sys.executable, "-m", "tests.server.claim_worker", str(store_dir), record["id"],
         repr(record["next_run_at"]), str(go)], cwd=REPO, stdout=subprocess.PIPE, text=True)
        for _ in range(4)]
    go.touch()
    said = sorted(worker.communicate(timeout=120)[0].strip() for worker in workers)
    assert said == ["lost", "lost", "lost", "won"]


def test_the_openapi_document_describes_automations(env: RunsEnv) -> None:
    with env.client("alice") as alice:
        paths = alice.get("/openapi.json").json()["paths"]
    post = paths["/v1/automations"]["post"]
    assert "application/problem+json" in post["responses"]["400"]["content"]
    assert "/v1/hooks/{secret}" in paths and "/v1/automations/{automation_id}" in paths
