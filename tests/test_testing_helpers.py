"""``corral.testing``: a few lines of pytest run a formula or a sync against a fixture server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from corral import GuestError
from corral.testing import (FixtureRequest, FixtureServer, PackHarness, Reply,
                            UnexpectedRequestError, run_formula, run_sync)

from .conftest import PACKS, built
from .fake_github import make_issue

REPO = "octo/hello"
ISSUES = "/repos/octo/hello/issues"


@pytest.fixture(scope="module")
def github_wasm() -> Path:
    return built(PACKS / "github")


def test_run_formula_against_a_fixture_server(github_wasm: Path) -> None:
    with FixtureServer() as api:
        api.route("GET", f"{ISSUES}/1", json=make_issue(REPO, 1, title="Hello"))
        issue = run_formula(github_wasm, "GetIssue", REPO, 1, server=api,
                            secret={"token": "t0ken"})
    assert issue["title"] == "Hello" and issue["number"] == 1
    assert api.requests[0].headers["authorization"] == "Bearer t0ken"
    assert api.requests[0].headers["host"] == "api.github.test"


def test_run_sync_follows_link_headers_across_pages(github_wasm: Path) -> None:
    def page(request: FixtureRequest) -> Reply:
        number = int(request.query.get("page", ["1"])[0])
        link = {} if number == 2 else {
            "Link": f'<https://api.github.test{ISSUES}?state=all&page=2>; rel="next"'}
        return Reply(json=[make_issue(REPO, n) for n in ((1, 2) if number == 1 else (3,))],
                     headers=link)

    with FixtureServer() as api:
        api.route("GET", ISSUES, page)
        rows = run_sync(github_wasm, "Issues", REPO, server=api, secret={"token": "t"})
    assert [row["number"] for row in rows] == [1, 2, 3]
    assert api.hits("GET", ISSUES) == 2


def test_an_unexpected_request_fails_loudly_listing_it(github_wasm: Path) -> None:
    with FixtureServer() as api:
        api.route("GET", f"{ISSUES}/1", json=make_issue(REPO, 1))
        with pytest.raises(UnexpectedRequestError) as caught:
            run_formula(github_wasm, "GetIssue", REPO, 2, server=api, secret={"token": "t"})
        api.unexpected.clear()  # handled here; leaving the block would raise again
    message = str(caught.value)
    assert "1 request(s) no route matches" in message
    assert f"GET {ISSUES}/2" in message
    assert isinstance(caught.value.__cause__, GuestError)  # what the pack made of the 501


def test_leaving_the_server_block_raises_for_requests_nobody_declared() -> None:
    with pytest.raises(UnexpectedRequestError, match=r"DELETE /things/7\?force=1"):
        with FixtureServer() as api:
            api.route("GET", "/things/{id}", json={"ok": True})
            assert httpx.get(f"http://127.0.0.1:{api.port}/things/3").json() == {"ok": True}
            response = httpx.delete(f"http://127.0.0.1:{api.port}/things/7?force=1")
            assert response.status_code == 501
            assert "no route for DELETE /things/7" in response.text


def test_later_routes_win_and_responders_see_the_request() -> None:
    with FixtureServer() as api:
        api.route("POST", "/echo", json={"first": True})
        api.route("POST", "/echo", lambda req: Reply(status=201, json={"got": req.json}))
        response = httpx.post(f"http://127.0.0.1:{api.port}/echo", json={"a": 1})
    assert (response.status_code, response.json()) == (201, {"got": {"a": 1}})


def test_a_pack_without_network_needs_no_server() -> None:
    assert run_formula(PACKS / "hello", "Greet", "Ada") == "Hello, Ada!"


def test_a_harness_runs_several_calls_on_one_host(github_wasm: Path) -> None:
    with FixtureServer() as api:
        api.route("GET", "/user/repos", json=[{"full_name": "octo/hello"},
                                              {"full_name": "octo/world"}])
        api.route("GET", f"{ISSUES}/{{number}}", lambda req: Reply(
            json=make_issue(REPO, int(req.path.rsplit("/", 1)[1]))))
        with PackHarness(github_wasm, domains_map={"api.github.test": api},
                         secret={"token": "t"}) as gh:
            assert [c["value"] for c in gh.autocomplete("GetIssue", "repo", "wor")] == [
                "octo/world"]
            assert gh.call("GetIssue", REPO, 4)["number"] == 4
            assert gh.call("GetIssue", REPO, 5)["number"] == 5
