"""The console in Chromium: sign in with the admin key, find the hello pack, read its
formulas, run one in the playground and see its result, see a syntax error where it is,
and sign out. The browser never asks anything of another origin, and no script on the
page can read the session cookie."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from corral._server.sessions import COOKIE_NAME
from corral.testing import LocalServer
from playwright.sync_api import expect

from ..conftest import PACKS, built
from ..server.test_server import with_manifest
from .conftest import Browser, Console, snap


def sign_in(page: Any, console: Console, key: str) -> None:
    page.goto(console.url + "/")
    expect(page.locator("#sign-in")).to_be_visible()
    page.fill("#api-key", key)
    page.click("#sign-in button[type=submit]")


def session_cookies(browser: Browser) -> list[dict[str, Any]]:
    return [c for c in browser.context.cookies() if c["name"] == COOKIE_NAME]


def test_sign_in_browse_the_packs_run_a_formula_and_sign_out(
        page: Any, browser: Browser, console: Console) -> None:
    first_request = len(browser.requests)
    page.goto(console.url + "/")
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#nav")).to_be_hidden()
    snap(page, "01-sign-in")

    page.fill("#api-key", console.admin_key)
    page.click("#sign-in button[type=submit]")
    hello = page.locator('#packs tr[data-pack="hello"]')
    expect(hello).to_be_visible()
    expect(hello).to_contain_text("0.1.0")
    expect(hello).to_contain_text("greetings, arithmetic")
    expect(hello.locator("td").nth(3)).to_have_text("none")  # network domains
    expect(hello.locator("td").nth(4)).to_have_text("none")  # auth kind
    expect(page.locator("#who-name")).to_have_text("admin")
    expect(page.locator("#who-role")).to_have_text("admin")
    snap(page, "02-packs")

    # The session is a cookie no script can read, and the key is kept nowhere.
    cookie, = session_cookies(browser)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.input_value("#api-key") == "" if page.locator("#api-key").count() else True

    hello.locator("a").click()
    greet = page.locator('#pack article[data-formula="Greet"]')
    expect(greet).to_be_visible()
    expect(greet.locator('tr[data-param="name"] td').nth(1)).to_have_text("string")
    expect(greet).to_contain_text("Who to greet.")
    expect(page.locator('#pack article[data-formula="Shout"] tr[data-param="times"]')
           ).to_contain_text("optional, default 1")
    expect(page.locator('#pack article[data-formula="Describe"] .card-title')).to_have_text("Otto")
    snap(page, "03-pack-hello")

    greet.locator("a.try").click()
    expect(page.locator("#formula")).to_have_value('=hello.Greet("Ada")')
    page.click("#run")
    expect(page.locator("#result")).to_have_text("Hello, Ada!")
    expect(page.locator("#duration")).to_have_text(re.compile(r"^Took [0-9.]+ ms$"))
    snap(page, "04-playground-result")

    page.fill("#formula", "=hello.Greet(")
    page.click("#run")
    error = page.locator("#error")
    expect(error.locator("strong")).to_have_text("Syntax error at line 1, column 14")
    expect(error.locator("pre.caret")).to_have_text("=hello.Greet(\n" + " " * 13 + "^")
    assert page.evaluate("document.getElementById('formula').selectionStart") == 13
    expect(page.locator("#result")).to_have_count(0)
    snap(page, "05-playground-syntax-error")

    page.reload()  # the session outlives a reload: the page asks the server who it is
    expect(page.locator("#playground")).to_be_visible()
    expect(page.locator("#who-name")).to_have_text("admin")

    page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#nav")).to_be_hidden()
    assert session_cookies(browser) == []
    page.goto(console.url + "/#/packs")
    page.reload()
    expect(page.locator("#sign-in")).to_be_visible()
    snap(page, "06-signed-out")

    assert page.script_errors == []
    others = [url for url in browser.requests[first_request:]
              if not url.startswith(console.url + "/") and not url.startswith("data:")]
    assert others == [], others


def test_a_wrong_key_is_told_and_gets_no_cookie(page: Any, browser: Browser,
                                               console: Console) -> None:
    sign_in(page, console, "corral_00000000_this-is-not-a-key-000000000000000")
    expect(page.locator("#sign-in-error")).to_have_text("That API key is not valid.")
    expect(page.locator("#nav")).to_be_hidden()
    assert session_cookies(browser) == []
    snap(page, "07-wrong-key")


def test_a_pack_value_is_shown_as_text_never_run_as_markup(page: Any, console: Console) -> None:
    sign_in(page, console, console.caller_key)
    expect(page.locator("#who-role")).to_have_text("caller")
    page.goto(console.url + "/#/playground")
    markup = '<img src=x id=injected onerror="document.title=1">'
    page.fill("#formula", f'=hello.Greet("{markup.replace(chr(34), chr(92) + chr(34))}")')
    page.click("#run")
    expect(page.locator("#result")).to_have_text(f"Hello, {markup}!")
    assert page.locator("#injected").count() == 0
    assert page.title() == "Corral console"
    page.fill("#formula", '=hello.Describe("Otto")')
    page.click("#run")
    expect(page.locator("#result .card dd").first).to_be_visible()
    expect(page.locator("#result .card")).to_contain_text("palindrome")
    snap(page, "08-playground-object")


def test_a_session_ended_on_the_server_sends_the_page_back_to_sign_in(
        page: Any, browser: Browser, console: Console) -> None:
    sign_in(page, console, console.admin_key)
    expect(page.locator("#packs")).to_be_visible()
    cookie, = session_cookies(browser)
    console.service.sessions.end(cookie["value"])
    page.goto(console.url + "/#/packs/hello")
    expect(page.locator("#sign-in")).to_be_visible()
    sign_in(page, console, console.admin_key)  # signing in again brings the view back
    expect(page.locator('#packs tr[data-pack="hello"]')).to_be_visible()


def test_a_pack_with_network_auth_an_action_and_sync_tables(page: Any, console: Console) -> None:
    sign_in(page, console, console.caller_key)
    github = page.locator('#packs tr[data-pack="github"]')
    expect(github.locator("td").nth(3)).to_have_text("api.github.test")
    expect(github.locator("td").nth(4)).to_have_text("bearer")
    github.locator("a").click()
    action = page.locator('#actions article[data-formula="CreateIssue"]')
    expect(action).to_contain_text("needs a connection")
    expect(action.locator('tr[data-param="repo"]')).to_contain_text("(autocomplete)")
    expect(action.locator("a.try")).to_have_count(0)  # actions are not run from the playground
    issues = page.locator('#tables article[data-table="Issues"]')
    expect(issues.locator("h3")).to_contain_text("two-way")
    expect(issues.locator('tr[data-column="title"]')).to_contain_text("editable")
    expect(issues.locator('tr[data-column="number"]')).to_contain_text("id")
    expect(issues.locator('tr[data-column="labels"] td').nth(1)).to_have_text("list of string")
    expect(issues.locator('tr[data-param="page_size"]')).to_contain_text("optional, default 50")
    expect(page.locator('#tables article[data-table="ProjectItems"] h3')).to_contain_text("dynamic")
    snap(page, "09-pack-github")


ATTACK = """<!DOCTYPE html>
<title>attack</title>
<form id="forged" method="POST" action="{target}" enctype="text/plain">
<input name='{{"name": "mallory-form", "role": "admin", "x": "' value='"}}'>
</form>
<script>
fetch("{target}", {{method: "POST", mode: "no-cors", credentials: "include",
                    headers: {{"Content-Type": "text/plain"}},
                    body: JSON.stringify({{name: "mallory-fetch", role: "admin"}})}})
  .finally(() => document.getElementById("forged").submit());
</script>
"""


def test_another_page_on_this_machine_cannot_use_the_session(
        page: Any, console: Console) -> None:
    """A page of another port on 127.0.0.1 is the same *site*, so SameSite=Strict lets the
    browser send the cookie along: the CSRF token is what refuses it."""
    sign_in(page, console, console.admin_key)
    expect(page.locator("#packs")).to_be_visible()
    target = console.url + "/v1/keys"
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if r.url == target else None)
    with LocalServer() as attacker:
        attacker.route("GET", "/attack", body=ATTACK.format(target=target),
                       headers={"Content-Type": "text/html"})
        with page.expect_navigation(url=target):
            page.goto(attacker.url("/attack"))
    assert statuses == [403, 403], statuses  # 403, not 401: the cookie came, the token did not
    assert "csrf" in page.content().lower()
    owners = {key.owner for key in console.service.keys.list_keys()}
    assert not {"mallory-fetch", "mallory-form"} & owners, owners


def test_the_playground_completes_pack_and_formula_names(page: Any, console: Console) -> None:
    sign_in(page, console, console.caller_key)
    expect(page.locator("#packs")).to_be_visible()
    page.goto(console.url + "/#/playground")
    editor = page.locator("#formula")
    editor.fill("")
    editor.press_sequentially("=hel")
    expect(page.locator("#suggestions button")).to_have_text(["hello."])
    editor.press("Tab")
    expect(editor).to_have_value("=hello.")
    expect(page.locator("#suggestions button")).to_have_count(5)  # hello's five formulas
    editor.press_sequentially("Gr")
    expect(page.locator("#suggestions button")).to_have_text(["hello.Greet("])
    page.click("#suggestions button")
    expect(editor).to_have_value("=hello.Greet(")
    editor.press_sequentially('"gi')  # inside a string: nothing to complete
    expect(page.locator("#suggestions")).to_be_hidden()
    editor.press_sequentially('thub")')
    page.keyboard.press("Control+Enter")
    expect(page.locator("#result")).to_have_text("Hello, github!")
    snap(page, "10-playground-completion")


def test_an_admin_uploads_a_version_and_rolls_back_a_caller_cannot(
        page: Any, console: Console, tmp_path: Path) -> None:
    def bump(manifest: dict[str, Any]) -> None:
        manifest["pack"]["version"] = "0.2.0"

    newer = tmp_path / "hello-0.2.0.wasm"
    newer.write_bytes(with_manifest(built(PACKS / "hello").read_bytes(), bump))
    sign_in(page, console, console.admin_key)
    expect(page.locator("#packs")).to_be_visible()
    page.set_input_files("#upload-wasm", str(newer))
    page.click("#upload button[type=submit]")
    expect(page.locator('#versions li[data-version="0.2.0"]')).to_contain_text("(active)")
    assert console.host.pack("hello").version == "0.2.0"
    snap(page, "11-pack-uploaded")
    page.click('#versions li[data-version="0.1.0"] button.activate')  # roll back
    expect(page.locator('#versions li[data-version="0.1.0"]')).to_contain_text("(active)")
    expect(page.locator('#versions li[data-version="0.2.0"] button.activate')).to_be_visible()
    assert console.host.pack("hello").version == "0.1.0"
    assert page.script_errors == []

    page.click("#sign-out")
    sign_in(page, console, console.caller_key)
    expect(page.locator("#packs")).to_be_visible()
    expect(page.locator("#upload")).to_have_count(0)
    page.goto(console.url + "/#/packs/hello")
    expect(page.locator('#versions li[data-version="0.2.0"]')).to_be_visible()
    expect(page.locator("#versions button.activate")).to_have_count(0)
