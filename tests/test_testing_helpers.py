"""``corral.testing``: a few lines of pytest run a formula or a sync against a fixture server."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import httpx
import pytest

from corral import GuestError
from corral.testing import (Exchange, FixtureRequest, FixtureServer, HostileServer, LocalServer,
                            PackHarness, Reply, UnexpectedRequestError, make_tls_files,
                            run_formula, run_sync)

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


# -- the server base every local test server builds on ------------------------------------


def test_a_local_server_records_every_request_and_answers_its_routes() -> None:
    def shout(exchange: Exchange) -> None:
        exchange.send_json({"word": exchange.params["word"].upper()}, status=202)

    with LocalServer() as server:
        server.route("GET", "/plain", body="hi", headers={"X-Kind": "canned"})
        server.handle("*", "/shout/{word}", shout)
        with httpx.Client(base_url=server.base_url) as client:
            plain = client.get("/plain?x=1")
            shouted = client.put("/shout/hey", content=b"payload")
            missing = client.get("/nowhere")
    assert (plain.text, plain.headers["x-kind"]) == ("hi", "canned")
    assert (shouted.status_code, shouted.json()) == (202, {"word": "HEY"})
    assert (missing.status_code, missing.text) == (404, "no such route")
    assert [str(r) for r in server.requests] == ["GET /plain?x=1", "PUT /shout/hey",
                                                 "GET /nowhere"]
    assert server.requests[1].body == b"payload"
    assert (server.hits(), server.hits("/plain"), server.hits("POST", "/plain")) == (3, 1, 0)


def test_a_route_that_raises_answers_500_naming_the_request() -> None:
    with LocalServer() as server:
        server.route("GET", "/broken", lambda request: Reply(json=1 / 0))
        response = httpx.get(server.url("/broken"))
    assert response.status_code == 500
    assert "GET /broken raised ZeroDivisionError" in response.text


def test_a_local_server_speaks_tls_under_the_name_its_certificate_carries(
        tmp_path: Path) -> None:
    ca, cert, key = make_tls_files(tmp_path, ["api.example.test"])
    context = ssl.create_default_context(cafile=str(ca))
    with HostileServer(tls=(cert, key)) as server:
        assert server.base_url.startswith("https://")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="api.example.test") as tls:
            tls.sendall(b"GET /status/418 HTTP/1.1\r\nHost: api.example.test\r\n"
                        b"Connection: close\r\n\r\n")
            answer = b"".join(iter(lambda: tls.recv(4096), b""))
    assert answer.startswith(b"HTTP/1.1 418")
    assert answer.endswith(b"status 418")


def test_closing_a_local_server_cuts_the_connections_still_open() -> None:
    server = HostileServer().start()
    with httpx.Client() as client, client.stream("GET", server.url("/endless")) as response:
        stream = response.iter_bytes()
        assert next(stream)  # the endless body is flowing
        server.close()
        server.close()  # idempotent
        with pytest.raises(httpx.HTTPError):
            for _ in stream:
                pass
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url("/json"))


def test_the_hostile_server_knows_its_valid_token() -> None:
    with HostileServer(valid_token="s3cret", user="ada") as server:
        alice = httpx.get(server.url("/whoami"), headers={"Authorization": "Bearer s3cret"})
        stranger = httpx.get(server.url("/auth"), headers={"Authorization": "Bearer nope"})
    assert alice.json() == {"user": "ada"}
    assert (stranger.status_code, stranger.json()) == (401, {"authorized": False})
