"""The console's connections, sync grid and buttons in Chromium, against real servers on
127.0.0.1: the github pack talking to a fake GitHub, and an OAuth2 provider (authorize and
token endpoints) the browser really goes to and comes back from.

Connect an OAuth2 account through the provider (and see a flow finished in another
browser refused), create, test and delete key-based connections from forms made from the
pack's auth, sync a table page by page and edit a cell (the upstream gets the edit; an
edit it refuses shows the pack's per-row error), pick a dynamic table's URL, and press a
button. Every state-changing request the page sends carries the CSRF token.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import uvicorn
from corral import Host, Settings, create_app
from corral._server.apikeys import ApiKeyStore
from corral.testing import LoopbackRouter
from playwright.sync_api import expect

from ..conftest import PACKS, built
from ..fake_github import TOKEN, FakeGitHub
from ..oauth_server import OAuthServer
from ..server.test_server import with_manifest
from ..server.test_server_e2e import RunningServer, free_port
from .conftest import Browser, snap

REPO_NAME = "octo/console"
ISSUES = 7


GATED_REPO = "octo/streamed"


class GatedGitHub(FakeGitHub):
    """The fake API, holding back page 3 of GATED_REPO until the test opens ``gate``: the
    grid must show the pages before it meanwhile."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        super().__init__()

    def _list_issues(self, query: dict[str, list[str]], body: Any, repo: str) -> Any:
        if repo == GATED_REPO and query.get("page") == ["3"]:
            self.gate.wait(timeout=60)
        return super()._list_issues(query, body, repo)


class ServerAt(RunningServer):
    """uvicorn on a port chosen before the app is made, so public_url can name it."""

    def __init__(self, app: Any, port: int) -> None:
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)


#: Packs whose auth kinds the connection form is made from: (name, auth, domains).
KIND_PACKS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("basicdemo", {"kind": "basic"}, ["api.basic.test"]),
    ("headersdemo", {"kind": "headers", "headers": ["X-Api-Key", {"name": "X-Team",
                                                                  "prefix": "Team"}]},
     ["api.headers.test"]),
    ("querydemo", {"kind": "query", "param": "api_key"}, ["api.query.test"]),
    ("awsdemo", {"kind": "aws_access_key", "service": "execute-api", "region": "eu-west-1"},
     ["execute-api.eu-west-1.amazonaws.com"]),
    ("endpointdemo", {"kind": "bearer", "requires_endpoint_url": True},
     ["acme.example.net"]),
]


@dataclass
class Stage:
    url: str
    host: Host
    api: GatedGitHub
    oauth: OAuthServer
    keys: dict[str, str]

    def connections(self, who: str) -> list[dict[str, Any]]:
        with httpx.Client(base_url=self.url, headers=bearer(self.keys[who])) as client:
            return list(client.get("/v1/connections").json())


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def hello_as(name: str, auth: dict[str, Any], domains: list[str]) -> bytes:
    return with_manifest(built(PACKS / "hello").read_bytes(), lambda m: m.update(
        pack={**m["pack"], "name": name, "network_domains": domains}, auth=auth))


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with GatedGitHub() as api, OAuthServer() as oauth:
        api.add_repo(REPO_NAME, issues=ISSUES)
        api.add_repo(GATED_REPO, issues=ISSUES)
        api.add_project("Roadmap", [{"name": "Title", "type": "text"}],
                        [{"id": 1, "fields": {"Title": "Ship it"}}])
        api.add_project("Bugs", [{"name": "Summary", "type": "text"}],
                        [{"id": 7, "fields": {"Summary": "Crash on start"}}])
        settings = Settings(data_dir=tmp_path_factory.mktemp("console-accounts"),
                            allow_http=True, host_map={"oauth.test": "127.0.0.1"},
                            public_url=url)
        router = LoopbackRouter({"api.github.test": api.port, "oauth.test": oauth.port})
        with Host(settings, fetch_transport=router) as host:
            host.register_file(built(PACKS / "github"))
            # The browser goes to the provider at localhost (another site than the
            # console's 127.0.0.1); the host reaches its token endpoint as oauth.test.
            host.register_bytes(hello_as("oauthdemo", {
                "kind": "oauth2_code", "pkce": True,
                "authorize_url": f"http://localhost:{oauth.port}/authorize",
                "token_url": f"{oauth.token_url}"}, [oauth.token_domain]))
            host.register_bytes(hello_as("keydemo", {"kind": "custom", "params": [
                {"name": "api_key", "description": "The key from the dashboard."},
                {"name": "team", "places": ["query"]}]}, ["api.keydemo.test"]))
            for name, auth, domains in KIND_PACKS:
                host.register_bytes(hello_as(name, auth, domains))
            store = ApiKeyStore.for_settings(settings)
            keys = {"admin": store.ensure_admin() or "", "carol": store.create("carol")[1],
                    "bob": store.create("bob")[1]}
            server = ServerAt(create_app(host, settings, keys=store), port).start()
            try:
                yield Stage(url, host, api, oauth, keys)
            finally:
                api.gate.set()
                server.stop()
                store.close()


@pytest.fixture
def csrf_checked(page: Any, stage: Stage) -> Iterator[list[str]]:
    """The state-changing API requests the page sends; each but the sign-in itself (which
    makes the session) must carry the CSRF token."""
    sent: list[str] = []
    missing: list[str] = []

    def seen(request: Any) -> None:
        path = urlsplit(request.url).path
        if (request.url.startswith(stage.url + "/v1/") and request.method != "GET"
                and (request.method, path) != ("POST", "/v1/console/session")):
            sent.append(f"{request.method} {path}")
            if not request.headers.get("x-csrf-token"):
                missing.append(sent[-1])

    page.on("request", seen)
    yield sent
    assert missing == [], missing


def sign_in(page: Any, stage: Stage, who: str) -> None:
    page.goto(stage.url + "/")
    page.fill("#api-key", stage.keys[who])
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#packs")).to_be_visible()


def choose_pack(page: Any, pack: str) -> None:
    page.goto(f"{page.url.split('#')[0]}#/connections")
    expect(page.locator("#connections")).to_be_visible()
    page.select_option("#new-connection-pack", pack)


def test_connect_an_oauth2_account_through_the_provider(
        page: Any, stage: Stage, csrf_checked: list[str]) -> None:
    sign_in(page, stage, "carol")
    choose_pack(page, "oauthdemo")
    expect(page.locator("#oauth-connect")).to_contain_text(f"localhost:{stage.oauth.port}")
    page.fill("#oauth-name", "my provider account")
    page.fill("#oauth-client-id", stage.oauth.client_id)
    snap(page, "20-oauth-connect-form")
    exchanged = stage.oauth.counts["authorization_code"]
    went: list[str] = []
    page.on("request", lambda r: went.append(r.url) if r.is_navigation_request() else None)
    page.click("#oauth-start")
    # Off to the provider, which sends the browser back to the callback, then the console.
    expect(page.locator("#connected")).to_have_text(
        "Connected: my provider account (oauthdemo).", timeout=15_000)
    assert any(u.startswith(f"http://localhost:{stage.oauth.port}/authorize?") for u in went)
    assert any(u.startswith(stage.url + "/v1/oauth2/callback?") for u in went)
    assert stage.oauth.counts["authorization_code"] == exchanged + 1
    made = [c for c in stage.connections("carol") if c["name"] == "my provider account"]
    assert [(c["pack"], c["kind"], c["status"]) for c in made] == [
        ("oauthdemo", "oauth2_code", "active")]
    row = page.locator(f'tr[data-connection="{made[0]["id"]}"]')
    expect(row).to_contain_text("oauth2_code")
    assert not [c for c in page.context.cookies() if c["name"].startswith("corral_oauth_")]
    row.locator("button.test").click()
    expect(row.locator(".row-note")).to_have_text(" works")
    snap(page, "21-oauth-connected")

    # Tokens gone stale upstream: reconnecting renews the same connection.
    stage.oauth.expire_access_tokens()
    row.locator("button.reconnect").click()
    expect(page.locator("#oauth-connect h3")).to_have_text("Reconnect my provider account")
    page.fill("#oauth-client-id", stage.oauth.client_id)
    with page.expect_request(lambda r: r.url.startswith(stage.url + "/v1/oauth2/callback?")):
        page.click("#oauth-start")  # the page comes back to the address it left
    expect(page.locator("#connected")).to_have_text(
        "Connected: my provider account (oauthdemo).", timeout=15_000)
    assert stage.oauth.counts["authorization_code"] == exchanged + 2
    assert [c["id"] for c in stage.connections("carol")
            if c["name"] == "my provider account"] == [made[0]["id"]]
    assert stage.oauth.is_live(stage.oauth.issued_access[-1])
    assert "POST /v1/oauth2/oauthdemo/start" in csrf_checked
    assert page.script_errors == []
    for token in stage.oauth.issued_access:
        assert token not in page.content()


def test_a_flow_started_by_someone_else_is_refused_in_this_browser(
        page: Any, stage: Stage) -> None:
    """Login CSRF: bob starts a flow and sends carol its callback; her browser has no
    binding cookie for it, so nothing is connected to anyone."""
    sign_in(page, stage, "carol")
    before = {who: len(stage.connections(who)) for who in ("carol", "bob")}
    with httpx.Client(base_url=stage.url, headers=bearer(stage.keys["bob"])) as bob:
        started = bob.post("/v1/oauth2/oauthdemo/start",
                           json={"client_id": stage.oauth.client_id, "name": "planted"})
        assert started.status_code == 200, started.text
    query = dict(parse_qsl(urlsplit(started.json()["authorize_url"]).query))
    status, headers = stage.oauth.authorize(query)
    assert status == 302
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status)
            if urlsplit(r.url).path == "/v1/oauth2/callback" else None)
    page.goto(headers["Location"])
    expect(page.locator("#oauth-failed")).to_contain_text(
        "No account was connected: the authorization did not complete.")
    assert statuses == [303]
    assert "#/connections?oauth_failed=auth_flow" in page.url
    snap(page, "22-oauth-refused")
    assert {who: len(stage.connections(who)) for who in ("carol", "bob")} == before
    with httpx.Client(base_url=stage.url) as api_client:  # not a browser: the problem itself
        again = api_client.get(urlsplit(headers["Location"]).path,
                               params=dict(parse_qsl(urlsplit(headers["Location"]).query)))
    assert again.status_code == 400 and again.json()["kind"] == "auth_flow"
    assert "unknown or already used" in again.json()["detail"]


def test_a_crafted_failure_address_shows_no_text_of_its_own(page: Any, stage: Stage) -> None:
    sign_in(page, stage, "carol")
    page.goto(stage.url + "/#/connections?oauth_failed=Call%20555-0100%20now")
    expect(page.locator("#oauth-failed")).to_have_text(
        "No account was connected: the server could not finish the authorization. "
        "Start it again below.")


def test_create_test_and_delete_a_key_connection_from_the_packs_auth(
        page: Any, stage: Stage, csrf_checked: list[str]) -> None:
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, stage, "carol")
    choose_pack(page, "keydemo")
    form = page.locator("#new-connection")
    expect(form).to_have_attribute("data-kind", "custom")
    expect(form.locator('[data-secret="values.api_key"] label')).to_have_text("api_key")
    expect(form.locator('[data-secret="values.api_key"]')).to_contain_text(
        "The key from the dashboard.")
    expect(form.locator('[data-secret="values.team"] label')).to_have_text("team")
    assert page.get_attribute("#secret-values-api_key", "type") == "password"
    page.fill("#new-connection-name", "team key")
    page.fill("#secret-values-api_key", "k-123-secret-value")
    page.fill("#secret-values-team", "blue")
    snap(page, "23-key-connection-form")
    page.click("#new-connection button[type=submit]")
    expect(page.locator("#connected")).to_have_text("Connected: team key (keydemo).")
    made, = [c for c in stage.connections("carol") if c["name"] == "team key"]
    assert (made["kind"], made["status"]) == ("custom", "active")
    row = page.locator(f'tr[data-connection="{made["id"]}"]')
    row.locator("button.test").click()
    expect(row.locator(".row-note")).to_have_text(" works")
    assert "k-123-secret-value" not in page.content()
    snap(page, "24-key-connection-made")

    # A bad secret is the server's error, naming the field, and stores nothing.
    choose_pack(page, "github")
    expect(page.locator("#new-connection")).to_have_attribute("data-kind", "bearer")
    expect(page.locator('[data-secret="token"] label')).to_have_text("Token")
    page.fill("#secret-token", "with\u0000nul")
    page.click("#new-connection button[type=submit]")
    expect(page.locator("#new-connection-error")).to_contain_text("'token'")

    page.goto(stage.url + "/#/connections")
    page.locator(f'tr[data-connection="{made["id"]}"] button.delete').click()
    expect(page.locator(f'tr[data-connection="{made["id"]}"]')).to_have_count(0)
    assert made["id"] not in {c["id"] for c in stage.connections("carol")}
    assert f"DELETE /v1/connections/{made['id']}" in csrf_checked
    assert f"POST /v1/connections/{made['id']}/test" in csrf_checked
    assert page.script_errors == []


def github_connection(page: Any, stage: Stage, name: str) -> str:
    choose_pack(page, "github")
    page.fill("#new-connection-name", name)
    page.fill("#secret-token", TOKEN)
    page.click("#new-connection button[type=submit]")
    expect(page.locator("#connected")).to_be_visible()
    return str(next(c["id"] for c in stage.connections("carol") if c["name"] == name))


def test_sync_a_table_page_by_page_and_edit_a_cell(
        page: Any, stage: Stage, csrf_checked: list[str]) -> None:
    sign_in(page, stage, "carol")
    connection = github_connection(page, stage, "grid github")
    page.goto(stage.url + "/#/sync")
    page.click('li[data-table="github.Issues"] a')
    expect(page.locator("#sync-table h1")).to_contain_text("two-way")
    page.select_option("#connection", connection)
    page.fill("#sync-arg-repo", REPO_NAME)
    page.fill("#sync-arg-page_size", "3")
    listed = stage.api.count("GET", f"/repos/{REPO_NAME}/issues")
    page.click("#sync")
    expect(page.locator("#sync-status")).to_have_text(f"{ISSUES} rows in 3 pages.")
    expect(page.locator("#grid")).to_have_attribute("data-pages", "3")
    assert stage.api.count("GET", f"/repos/{REPO_NAME}/issues") - listed == 3
    rows = page.locator("#grid tbody tr")
    expect(rows).to_have_count(ISSUES)
    headers = page.locator("#grid thead th").all_inner_texts()
    assert headers[:5] == ["number", "title ✎", "state ✎", "author", "updated_at"]
    assert headers[-1] == "Result"
    first = page.locator('#grid tr[data-row-id="1"]')
    expect(first.locator('td[data-column="title"]')).to_have_text("Issue 1")
    link = first.locator('td[data-column="url"] a')  # a url hint is a link
    expect(link).to_have_attribute("href", f"https://github.test/{REPO_NAME}/issues/1")
    expect(first.locator('td[data-column="created_at"] time')).to_have_attribute(
        "datetime", "2024-01-02T10:00:00Z")
    expect(first.locator('td[data-column="author"]')).to_have_text("octocat")
    expect(page.locator('#grid tr[data-row-id="3"] td[data-column="labels"]')).to_have_text("bug")
    expect(first.locator('td[data-column="comments"]')).not_to_have_class("editable")
    snap(page, "25-sync-grid")

    first.locator('td[data-column="title"]').click()
    editor = first.locator('td[data-column="title"] input')
    editor.fill("Renamed in the console <b>bold</b>")
    editor.press("Enter")
    expect(first.locator(".row-result")).to_have_text("Saved")
    expect(first.locator('td[data-column="title"]')).to_have_text(
        "Renamed in the console <b>bold</b>")
    assert stage.api.data.repos[REPO_NAME][0]["title"] == "Renamed in the console <b>bold</b>"
    assert page.locator("#grid b").count() == 0  # text, never markup
    snap(page, "26-sync-cell-saved")

    second = page.locator('#grid tr[data-row-id="2"]')
    second.locator('td[data-column="state"]').focus()  # by keyboard this time
    page.keyboard.press("Enter")
    second.locator('td[data-column="state"] input').fill("archived")
    second.locator('td[data-column="state"] input').press("Enter")
    expect(second.locator(".row-result")).to_contain_text("Validation Failed")
    expect(second.locator('td[data-column="state"]')).to_have_text("open")  # back as it was
    assert stage.api.data.repos[REPO_NAME][1]["state"] == "open"
    snap(page, "27-sync-cell-refused")
    assert csrf_checked.count("POST /v1/packs/github/tables/Issues/update") == 2

    page.fill("#sync-arg-repo", "octo/missing")  # the sync cannot start: its problem shows
    page.click("#sync")
    expect(page.locator("#sync-status")).to_have_attribute("role", "alert")
    expect(page.locator("#sync-status")).to_contain_text("not found")
    assert "POST /v1/packs/github/tables/Issues/sync" in csrf_checked
    assert page.script_errors == []


def test_rows_show_as_each_page_arrives(page: Any, stage: Stage) -> None:
    sign_in(page, stage, "carol")
    connection = github_connection(page, stage, "streaming github")
    page.goto(stage.url + "/#/sync/github/Issues")
    page.select_option("#connection", connection)
    page.fill("#sync-arg-repo", GATED_REPO)
    page.fill("#sync-arg-page_size", "3")
    page.click("#sync")
    # Page 3 is held upstream: the first two pages are on the page already.
    expect(page.locator("#sync-status")).to_have_text("Page 2: 6 rows so far…")
    expect(page.locator("#grid tbody tr")).to_have_count(6)
    expect(page.locator("#grid")).not_to_have_attribute("data-pages", "3")
    snap(page, "28-sync-streaming")
    stage.api.gate.set()
    expect(page.locator("#sync-status")).to_have_text(f"{ISSUES} rows in 3 pages.")
    expect(page.locator("#grid tbody tr")).to_have_count(ISSUES)
    expect(page.locator("#stop-sync")).to_be_hidden()

    stage.api.gate.clear()  # again, and this time stop it while page 3 is held
    page.click("#sync")
    expect(page.locator("#sync-status")).to_have_text("Page 2: 6 rows so far…")
    page.click("#stop-sync")
    expect(page.locator("#sync-status")).to_have_text("Stopped: 6 rows shown.")
    stage.api.gate.set()
    expect(page.locator("#grid tbody tr")).to_have_count(6)
    assert page.script_errors == []


def test_a_dynamic_table_picks_its_url_from_the_packs_list(page: Any, stage: Stage) -> None:
    sign_in(page, stage, "carol")
    connection = github_connection(page, stage, "dynamic github")
    page.goto(stage.url + "/#/packs/github")  # the pack's page links to the grid
    page.click('#tables article[data-table="ProjectItems"] a.open-grid')
    expect(page.locator("#sync-table h1")).to_have_text("github.ProjectItems")
    page.select_option("#connection", connection)
    expect(page.locator("#dynamic-url option")).to_have_text(["Roadmap", "Bugs"])
    page.select_option("#dynamic-url", label="Bugs")
    page.click("#sync")
    expect(page.locator("#sync-status")).to_have_text("1 rows in 1 page.")
    expect(page.locator('#grid thead th[data-column="Summary"]')).to_be_visible()
    expect(page.locator("#grid th.row-result")).to_have_count(0)  # not a two-way table
    expect(page.locator('#grid tr[data-row-id="7"] td[data-column="Summary"]')).to_have_text(
        "Crash on start")
    snap(page, "28-sync-dynamic-table")
    assert page.script_errors == []


def test_press_a_button_and_see_its_result_or_error(
        page: Any, stage: Stage, csrf_checked: list[str]) -> None:
    sign_in(page, stage, "carol")
    connection = github_connection(page, stage, "button github")
    page.goto(stage.url + "/#/buttons")
    expect(page.locator('li[data-action="github.CreateIssue"] a')).to_be_visible()
    page.goto(stage.url + "/#/packs/github")  # the pack's page links to the button
    page.click('#actions article[data-formula="CreateIssue"] a.press')
    expect(page.locator('#button [data-param="body"] label')).to_contain_text("optional")
    page.select_option("#connection", connection)
    page.locator("#arg-repo").press_sequentially("octo/con")  # the pack's autocomplete op
    expect(page.locator(f'#arg-repo-options option[value="{REPO_NAME}"]')).to_have_count(1)
    expect(page.locator(f'#arg-repo-options option[value="{GATED_REPO}"]')).to_have_count(0)
    page.fill("#arg-repo", REPO_NAME)
    page.fill("#arg-title", "Pressed in the console")
    snap(page, "29-button-form")
    with page.expect_request(lambda r: r.url.endswith("/actions/CreateIssue")) as pressed:
        page.click("#press")
    sent = pressed.value.post_data_json
    assert sent["args"] == [REPO_NAME, "Pressed in the console"]  # the blank body left out
    assert sent["connection"] == connection
    assert sent["timezone"] == page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    result = page.locator("#result .card")
    expect(result.locator(".card-title")).to_have_text("Pressed in the console")
    issue = stage.api.data.repos[REPO_NAME][-1]
    assert issue["title"] == "Pressed in the console" and issue["body"] is None
    expect(result).to_contain_text(str(issue["number"]))
    snap(page, "30-button-result")

    page.fill("#arg-repo", "octo/missing")
    page.click("#press")
    expect(page.locator("#error strong")).to_have_text("Guest error")
    expect(page.locator("#error p")).to_have_text(
        "github.CreateIssue: not found: /repos/octo/missing/issues")
    expect(page.locator("#result")).to_have_count(0)
    snap(page, "31-button-error")
    assert csrf_checked.count("POST /v1/packs/github/actions/CreateIssue") == 2
    assert page.script_errors == []


def test_the_pages_tell_when_a_connection_is_needed(page: Any, stage: Stage,
                                                   browser: Browser) -> None:
    sign_in(page, stage, "bob")  # bob has no github connection
    page.goto(stage.url + "/#/buttons/github/CreateIssue")
    expect(page.locator("#no-connection")).to_contain_text("This needs a connection to github")
    page.goto(stage.url + "/#/connections")
    expect(page.locator("#no-connections")).to_be_visible()
    others = [u for u in browser.requests
              if not u.startswith(stage.url + "/") and not u.startswith("data:")
              and not u.startswith(f"http://localhost:{stage.oauth.port}/")
              and not u.startswith("http://127.0.0.1:")]
    assert others == [], others


def test_the_sync_route_takes_a_dynamic_tables_url(stage: Stage) -> None:
    """What the grid relies on, over plain HTTP: `dynamic_url` in the sync body."""
    with httpx.Client(base_url=stage.url, headers=bearer(stage.keys["carol"])) as carol:
        made = carol.post("/v1/connections", json={"pack": "github", "name": "http dynamic",
                                                   "secret": {"token": TOKEN}})
        connection = made.json()["id"]
        urls = carol.get("/v1/packs/github/tables/ProjectItems/urls",
                         params={"connection": connection}).json()["urls"]
        roadmap = next(u["url"] for u in urls if u["display"] == "Roadmap")
        sync = "/v1/packs/github/tables/ProjectItems/sync"
        with carol.stream("POST", sync, json={"connection": connection,
                                              "dynamic_url": roadmap}) as answer:
            assert answer.status_code == 200
            lines = [line for line in answer.iter_lines() if line]
        assert '"Title":"Ship it"' in lines[0] and lines[-1].startswith('{"done":true')
        missing = carol.post(sync, json={"connection": connection})
        assert missing.status_code == 400 and "is a dynamic table" in missing.json()["detail"]
        extra = carol.post("/v1/packs/github/tables/Issues/sync",
                           json={"args": [REPO_NAME], "connection": connection,
                                 "dynamic_url": roadmap})
        assert extra.status_code == 400
        assert "is not a dynamic table" in extra.json()["detail"]


def test_the_secret_form_follows_each_packs_auth_kind(page: Any, stage: Stage) -> None:
    sign_in(page, stage, "carol")
    expected = {
        "basicdemo": [("username", "User name", "text"), ("password", "Password optional",
                                                          "password")],
        "headersdemo": [("values.X-Api-Key", "X-Api-Key header", "password"),
                        ("values.X-Team", "X-Team header", "password")],
        "querydemo": [("value", "api_key query parameter", "password")],
        "awsdemo": [("access_key_id", "Access key id", "text"),
                    ("secret_access_key", "Secret access key", "password"),
                    ("session_token", "Session token optional", "password")],
        "endpointdemo": [("endpoint", "Endpoint URL", "text"), ("token", "Token", "password")],
    }
    for pack, fields in expected.items():
        choose_pack(page, pack)
        form = page.locator("#new-connection")
        expect(form.locator("[data-secret]")).to_have_count(len(fields))
        for path, label, kind in fields:
            field = form.locator(f'[data-secret="{path}"]')
            expect(field.locator("label")).to_have_text(label)
            assert field.locator("input").get_attribute("type") == kind, (pack, path)
    snap(page, "32-endpoint-connection-form")

    # Two of them made for real: the server takes the shapes the forms send.
    page.fill("#secret-endpoint", "https://tenant.acme.example.net")
    page.fill("#secret-token", "t0ken-for-acme")
    page.fill("#new-connection-name", "acme tenant")
    page.click("#new-connection button[type=submit]")
    expect(page.locator("#connected")).to_have_text("Connected: acme tenant (endpointdemo).")
    acme, = [c for c in stage.connections("carol") if c["name"] == "acme tenant"]
    assert acme["endpoint"] == "https://tenant.acme.example.net"
    choose_pack(page, "basicdemo")
    page.fill("#secret-username", "ada")
    page.fill("#new-connection-name", "ada basic")
    page.click("#new-connection button[type=submit]")  # the optional password left blank
    expect(page.locator("#connected")).to_have_text("Connected: ada basic (basicdemo).")
    assert page.script_errors == []
