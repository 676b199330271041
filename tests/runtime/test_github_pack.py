"""The github example pack against a local fake of its API (tests/fake_github.py).

The pack runs for real: built from Zig, run in wasmtime, every fetch through the host's
policy with the bearer token injected from a sealed connection.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest

from corral import ArgumentError, BadOutput, GuestError, read_manifest
from corral._runtime.tables import dynamic_schema, run_sync
from corral.testing import PackHarness

from ..conftest import PACKS, built
from ..fake_github import TOKEN, FakeGitHub

PACK_DIR = PACKS / "github"


@pytest.fixture(scope="module")
def github_wasm() -> Path:
    return built(PACK_DIR)


@pytest.fixture(scope="module")
def api() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.add_repo("octo/paged", 25)
        fake.add_repo("octo/small", 4)
        fake.add_repo("octo/hello", 3)
        fake.add_project("Roadmap", [{"name": "Title", "type": "text"},
                                     {"name": "Estimate", "type": "number"},
                                     {"name": "Due", "type": "date"}],
                         [{"id": 1, "fields": {"Title": "Ship", "Estimate": 3, "Due": "2024-05-01"}},
                          {"id": 2, "fields": {"Title": "Test", "Estimate": None, "Due": None}}])
        fake.add_project("Bugs", [{"name": "Summary", "type": "text"},
                                  {"name": "Severity", "type": "single_select"}],
                         [{"id": 7, "fields": {"Summary": "Crash", "Severity": "high"}}])
        yield fake


@pytest.fixture(scope="module")
def gh(github_wasm: Path, api: FakeGitHub) -> Iterator[PackHarness]:
    with PackHarness(github_wasm, domains_map={"api.github.test": api.port},
                     secret={"token": TOKEN}) as harness:
        yield harness


def test_sync_over_three_pages_returns_every_row_in_order(gh: PackHarness,
                                                           api: FakeGitHub) -> None:
    before = api.count("GET", "/repos/octo/paged/issues")
    pages = list(run_sync(gh.host.calls, gh.pack, "Issues", ["octo/paged", 10],
                          connection=gh.connection, principal=gh.principal))
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [row["number"] for page in pages for row in page] == list(range(1, 26))
    assert api.count("GET", "/repos/octo/paged/issues") - before == 3
    assert all(auth == f"Bearer {TOKEN}" for auth in api.seen_auth)


def test_get_issue_returns_the_declared_object(gh: PackHarness) -> None:
    issue = gh.call("GetIssue", "octo/hello", 3)
    assert issue["number"] == 3 and issue["title"] == "Issue 3"
    assert issue["author"] == {"login": "octocat", "url": "https://github.test/octocat"}
    assert issue["labels"] == ["bug"]
    schema = gh.pack.manifest.formula("GetIssue").result
    assert (schema.id_property, schema.display_property) == ("number", "title")
    assert schema.property("url").hint == "url"  # type: ignore[union-attr]
    assert schema.property("updated_at").hint == "datetime"  # type: ignore[union-attr]
    # GitHub gives a login, not the e-mail address a `person` hint is keyed by
    assert schema.property("author").hint is None  # type: ignore[union-attr]


def test_get_issue_that_does_not_exist_is_the_packs_error(gh: PackHarness) -> None:
    with pytest.raises(GuestError, match="not found: /repos/octo/hello/issues/99"):
        gh.call("GetIssue", "octo/hello", 99)


def test_bad_repo_name_is_refused_by_the_pack_before_any_request(gh: PackHarness,
                                                                 api: FakeGitHub) -> None:
    before = len(api.requests)
    with pytest.raises(GuestError, match="owner/name"):
        gh.call("GetIssue", "../../user", 1)
    assert len(api.requests) == before


def test_create_issue_action_creates_it_in_the_api(gh: PackHarness, api: FakeGitHub) -> None:
    created = gh.call("CreateIssue", "octo/small", "Flaky test", "It fails on Tuesdays.")
    assert created["number"] == 5 and created["state"] == "open"
    assert api.data.repos["octo/small"][-1]["body"] == "It fails on Tuesdays."


def test_update_batch_returns_a_result_per_row(gh: PackHarness, api: FakeGitHub) -> None:
    rows = gh.sync("Issues", "octo/hello")
    renamed = {**rows[0], "title": "Renamed", "state": "closed"}
    broken = {**rows[1], "state": "archived"}
    results = gh.sync_update("Issues", [{"previous": rows[0], "new": renamed},
                                        {"previous": rows[1], "new": broken}])
    assert [r.ok for r in results] == [True, False]
    assert results[0].row is not None and results[0].row["title"] == "Renamed"
    assert results[0].row["closed_at"] is not None
    assert "Validation Failed" in (results[1].error or "")
    assert api.data.repos["octo/hello"][0]["title"] == "Renamed"
    assert api.data.repos["octo/hello"][1]["state"] == "open"


def test_update_of_an_immutable_property_is_refused_before_the_pack_runs(
        gh: PackHarness, api: FakeGitHub) -> None:
    rows = gh.sync("Issues", "octo/hello")
    before = api.count("PATCH", "/repos/")
    with pytest.raises(ArgumentError, match=r"updates\[0\]\.new\.comments: 'comments' is not "
                                            "mutable"):
        gh.sync_update("Issues", [{"previous": rows[0], "new": {**rows[0], "comments": 9}}])
    assert api.count("PATCH", "/repos/") == before


def test_autocomplete_suggests_matching_repositories(gh: PackHarness) -> None:
    assert gh.autocomplete("Issues", "repo", "PAG") == [
        {"display": "octo/paged", "value": "octo/paged"}]
    assert len(gh.autocomplete("GetIssue", "repo", "")) == 3


def test_dynamic_table_has_a_schema_per_url(gh: PackHarness) -> None:
    urls = gh.dynamic_urls("ProjectItems")
    assert [u["display"] for u in urls] == ["Roadmap", "Bugs"]
    roadmap = dynamic_schema(gh.host.calls, gh.pack, "ProjectItems", urls[0]["url"],
                             connection=gh.connection, principal=gh.principal)
    bugs = dynamic_schema(gh.host.calls, gh.pack, "ProjectItems", urls[1]["url"],
                          connection=gh.connection, principal=gh.principal)
    assert [name for name, _ in roadmap.properties] == ["id", "Title", "Estimate", "Due"]
    assert roadmap.property("Due").hint == "date"  # type: ignore[union-attr]
    assert roadmap.display_property == "Title"
    assert [name for name, _ in bugs.properties] == ["id", "Summary", "Severity"]
    rows = gh.sync("ProjectItems", dynamic_url=urls[0]["url"])
    assert rows == [{"id": 1, "Title": "Ship", "Estimate": 3, "Due": "2024-05-01"},
                    {"id": 2, "Title": "Test", "Estimate": None, "Due": None}]


def test_api_returning_a_null_author_is_reported_at_its_path(github_wasm: Path) -> None:
    with FakeGitHub() as fake:
        fake.add_repo("octo/odd", 6)
        fake.data.repos["octo/odd"][3]["user"] = None
        with PackHarness(github_wasm, domains_map={"api.github.test": fake.port},
                         secret={"token": TOKEN}) as harness:
            with pytest.raises(BadOutput, match=re.escape(
                    "github.Issues: rows[3].author.login: expected string, got null (page 2)")):
                harness.sync("Issues", "octo/odd", 2)


def test_a_wrong_token_is_the_packs_error_and_never_shown(github_wasm: Path,
                                                          api: FakeGitHub) -> None:
    with PackHarness(github_wasm, domains_map={"api.github.test": api.port},
                     secret={"token": "wrong-token-123"}) as harness:
        with pytest.raises(GuestError, match="refused the connection's token") as caught:
            harness.call("GetIssue", "octo/hello", 1)
    assert "wrong-token-123" not in str(caught.value)
    assert "Bearer wrong-token-123" in api.seen_auth  # it was injected, just not accepted


def test_readme_documents_every_formula_and_table(github_wasm: Path) -> None:
    readme = (PACK_DIR / "README.md").read_text(encoding="utf-8")
    manifest = read_manifest(github_wasm.read_bytes())
    for name in [f.name for f in manifest.formulas] + [t.name for t in manifest.sync_tables]:
        assert f"`{name}" in readme, f"packs/github/README.md does not mention {name}"


def test_the_readme_snippet_runs(github_wasm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (PACK_DIR / "README.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(.*?)```", readme, re.S)
    assert snippet is not None
    monkeypatch.chdir(PACKS.parent)
    scope: dict[str, object] = {}
    exec(compile(snippet.group(1), "packs/github/README.md", "exec"), scope)
    assert [row["number"] for row in scope["rows"]] == list(range(1, 26))  # type: ignore[attr-defined]
    assert scope["issue"]["number"] == 7  # type: ignore[index]
