"""The formula playground and the runs page in Chromium, in New York's time zone.

A server with the ``hello`` pack and the conformance pack (its ``Hints`` formula returns a
value for every hint, made cacheable here; ``Pick`` autocompletes its parameter). The
browser signs in, runs formulas, and sees links, images, dates in its own zone, currency,
percentages and durations, an object as a card, the server's time and the cache hit on
a second run, the pack's own suggestions for an argument, a syntax error at its caret,
and the calls it made on the runs page (``GET /v1/runs``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from corral import Host, Settings, create_app
from corral._server.apikeys import ApiKeyStore
from playwright.sync_api import expect

from ..conftest import PACKS, REPO, built
from ..server.test_server import with_manifest
from ..server.test_server_e2e import RunningServer
from .conftest import CHROMIUM, CHROMIUM_ARGS, INSTALL_HINT, Browser, Console, snap

CONFORMANCE = REPO / "tests" / "conformance" / "zig"
#: The browser's zone: the instants below are 17:24 UTC, 12:24 in New York (EST).
ZONE = "America/New_York"


def _cacheable_hints(manifest: dict[str, Any]) -> None:
    for formula in manifest["formulas"]:
        if formula["name"] in ("Hints", "CtxTimezone"):
            formula["cache_ttl_s"] = 60


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    data = tmp_path_factory.mktemp("playground")
    conformance = data / "conformance.wasm"
    conformance.write_bytes(with_manifest(built(CONFORMANCE).read_bytes(), _cacheable_hints))
    settings = Settings(data_dir=data / "data")
    with Host(settings) as host:
        host.register_file(built(PACKS / "hello"))
        host.register_file(conformance)
        keys = ApiKeyStore.for_settings(settings)
        admin = keys.ensure_admin()
        assert admin is not None
        caller_info, caller = keys.create("carol", "caller")
        app = create_app(host, settings, keys=keys)
        server = RunningServer(app).start()
        try:
            yield Console(server, host, app.state.corral, admin, caller, caller_info.id)
        finally:
            server.stop()
            keys.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """conftest's browser, in New York and in US English (so dates read one way)."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: {INSTALL_HINT}", pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"the Python package 'playwright' is missing: {INSTALL_HINT}", pytrace=False)
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 900}, service_workers="block",
            timezone_id=ZONE, locale="en-US")
        seen = Browser(context)
        context.on("request", lambda request: seen.requests.append(request.url))
        try:
            yield seen
        finally:
            context.close()


def sign_in_to_playground(page: Any, console: Console, key: str) -> None:
    page.goto(console.url + "/")
    page.fill("#api-key", key)
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#packs")).to_be_visible()
    page.goto(console.url + "/#/playground")
    expect(page.locator("#playground")).to_be_visible()


def run(page: Any, formula: str) -> Any:
    page.fill("#formula", formula)
    page.click("#run")
    expect(page.locator("#duration")).to_be_visible()
    return page.locator("#result")


def prop(result: Any, name: str) -> Any:
    return result.locator(f'dd[data-property="{name}"]')


def test_evaluate_reports_its_time_cache_and_the_formula_it_is(console: Console) -> None:
    def evaluate(formula: str) -> httpx.Response:
        return httpx.post(f"{console.url}/v1/evaluate", json={"formula": formula},
                          headers={"Authorization": f"Bearer {console.caller_key}"})

    first, second = evaluate('=hello.Greet("Timing")'), evaluate('=hello.Greet("Timing")')
    assert first.json() == second.json() == {"result": "Hello, Timing!"}
    assert (first.headers["corral-cache"], second.headers["corral-cache"]) == ("miss", "hit")
    assert re.fullmatch(r"evaluate;dur=[0-9]+\.[0-9]{3}", second.headers["server-timing"])
    assert first.headers["corral-result-of"] == "hello.Greet"
    composed = evaluate('=hello.Greet("Ada") & "!"')  # not one pack call: no schema to name
    assert composed.json() == {"result": "Hello, Ada!!"}
    assert "corral-result-of" not in composed.headers


def test_a_result_is_rendered_by_its_schema_and_hints(
        page: Any, browser: Browser, console: Console) -> None:
    first_request = len(browser.requests)
    failed: dict[str, str | None] = {}
    page.on("requestfailed", lambda request: failed.update({request.url: request.failure}))
    sign_in_to_playground(page, console, console.caller_key)
    expect(page.locator("#timezone")).to_have_text(ZONE)
    result = run(page, "=conformance.Hints()")
    expect(page.locator("#cache")).to_have_text("cache miss")

    link = prop(result, "url").locator("a")
    expect(link).to_have_text("https://conformance.test/a?b=c")
    expect(link).to_have_attribute("href", "https://conformance.test/a?b=c")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(prop(result, "email").locator("a")).to_have_attribute("href", "mailto:Ann@example.com")
    image = prop(result, "image").locator("a > img")
    expect(image).to_have_attribute("src", "https://conformance.test/cat.png")
    expect(image).to_have_attribute("alt", "https://conformance.test/cat.png")
    expect(prop(result, "image_attachment").locator("img")).to_have_attribute(
        "src", "data:image/png;base64,iVBORw0KGgo=")

    # Instants in the browser's zone (17:24 UTC is 12:24 EST); a calendar date as written.
    expect(prop(result, "datetime").locator("time")).to_have_text(
        re.compile(r"^Mar 3, 2024, 12:24:00\sPM EST$"))
    expect(prop(result, "datetime").locator("time")).to_have_attribute(
        "datetime", "2024-03-03T17:24:00Z")
    expect(prop(result, "epoch").locator("time")).to_have_text(
        re.compile(r"^Mar 3, 2024, 12:24:00\sPM EST$"))
    expect(prop(result, "date").locator("time")).to_have_text("Mar 3, 2024")
    expect(prop(result, "time").locator("time")).to_have_text(re.compile(r"^12:24\sPM$"))

    expect(prop(result, "currency")).to_have_text("€9.50")
    expect(prop(result, "percent")).to_have_text("25.0%")
    expect(prop(result, "duration")).to_have_text("1 hr 30 min")
    expect(prop(result, "days")).to_have_text("1 d 12 hr")  # a number of days
    expect(prop(result, "scale")).to_have_text("★★★★☆")
    expect(prop(result, "toggle")).to_have_text("✓ true")

    person = prop(result, "person").locator(".card")
    expect(person.locator(".card-title")).to_have_text("Bo")  # the display property
    expect(person.locator('dd[data-property="email"]')).to_have_text("Bo@example.com")
    # html is shown as its text, never made markup.
    expect(prop(result, "html")).to_have_text("<b>bold</b>")
    assert prop(result, "html").locator("b").count() == 0
    snap(page, "20-playground-hints")

    run(page, "=conformance.Hints()")
    expect(page.locator("#cache")).to_have_text("cache hit")
    expect(page.locator("#cache")).to_have_attribute("data-cache", "hit")
    expect(page.locator("#duration")).to_have_text(re.compile(r"^Took [0-9.]+ ms$"))

    # The browser's zone is the call's zone.
    expect(run(page, "=conformance.CtxTimezone()")).to_have_text(ZONE)
    # An object card: the display property as title; a list as a list.
    card = run(page, '=hello.Describe("Otto")').locator(".card")
    expect(card.locator(".card-title")).to_have_text("Otto")
    expect(card.locator('dd[data-property="vowels"]')).to_have_text("2")
    items = run(page, '=conformance.Echo(["a", 2])').locator("ol.list > li")
    expect(items).to_have_text(["a", "2"])
    snap(page, "21-playground-card")

    assert page.script_errors == []
    others = [url for url in browser.requests[first_request:]
              if not url.startswith(console.url + "/") and not url.startswith("data:")]
    # The image of another origin is refused by the page's CSP before any connection.
    assert set(others) == {"https://conformance.test/cat.png"}, others
    assert failed == {"https://conformance.test/cat.png": "csp"}, failed  # Chromium says "csp"


def test_parameter_autocomplete_asks_the_packs_op(page: Any, console: Console) -> None:
    sign_in_to_playground(page, console, console.caller_key)
    editor = page.locator("#formula")
    editor.fill("")
    editor.press_sequentially("=conformance.Pi")
    expect(page.locator("#suggestions button")).to_have_text(["conformance.Pick("])
    editor.press("Tab")
    expect(editor).to_have_value("=conformance.Pick(")
    expect(page.locator("#suggestions button")).to_have_text(
        ["Apple", "Banana", "Blueberry", "Cherry"])
    editor.press_sequentially('"b')
    expect(page.locator("#suggestions button")).to_have_text(["Banana", "Blueberry"])
    snap(page, "22-playground-autocomplete")
    page.locator("#suggestions button", has_text="Blueberry").click()
    expect(editor).to_have_value('=conformance.Pick("blueberry"')
    expect(page.locator("#suggestions")).to_be_hidden()
    editor.press_sequentially(")")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#result")).to_have_text("blueberry")
    # A parameter without autocomplete gets no suggestions.
    editor.fill("")
    editor.press_sequentially('=hello.Greet("b')
    page.wait_for_timeout(400)  # longer than the completion's pause before it asks
    expect(page.locator("#suggestions")).to_be_hidden()


def test_a_syntax_error_is_shown_at_its_caret(page: Any, console: Console) -> None:
    sign_in_to_playground(page, console, console.caller_key)
    formula = "=hello.Add(1,\n  2 3)"
    page.fill("#formula", formula)
    page.click("#run")
    error = page.locator("#error")
    expect(error.locator("strong")).to_have_text("Syntax error at line 2, column 5")
    expect(error.locator("pre.caret")).to_have_text("  2 3)\n    ^")
    caret = formula.index("3")
    assert page.evaluate("document.getElementById('formula').selectionStart") == caret
    expect(page.locator("#formula")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#result")).to_have_count(0)
    snap(page, "23-playground-syntax-error")
    page.locator("#formula").press_sequentially(",")  # editing clears the mark
    expect(page.locator("#formula")).not_to_have_attribute("aria-invalid", "true")


def test_the_runs_page_lists_the_calls(page: Any, console: Console) -> None:
    sign_in_to_playground(page, console, console.caller_key)
    expect(run(page, '=hello.Greet("Runs")')).to_have_text("Hello, Runs!")
    run(page, '=conformance.Fail("the sky is falling")')
    expect(page.locator("#error")).to_contain_text("the sky is falling")
    page.click('#nav a[data-view="runs"]')
    rows = page.locator("#runs tr.run")
    greet = rows.filter(has_text="Greet").first
    expect(greet).to_contain_text("hello")
    expect(greet.locator("td").nth(4)).to_have_text("ok")
    failed = rows.filter(has_text="Fail").first
    expect(failed.locator("td").nth(4)).to_have_text("error")
    failed.click()
    details = page.locator(f'#runs tr.run-details[data-run="{failed.get_attribute("data-run")}"]')
    expect(details).to_be_visible()
    expect(details.locator(".run-args")).to_have_text('=conformance.Fail("the sky is falling")')
    expect(details.locator(".run-error")).to_contain_text("the sky is falling")
    snap(page, "24-runs")

    page.select_option("#runs-outcome", "error")
    page.click("#runs-filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"#/runs\?outcome=error$"))
    expect(page.locator("#runs tr.run").first).to_be_visible()
    outcomes = page.locator("#runs tr.run td:nth-child(5)").all_inner_texts()
    assert outcomes and set(outcomes) == {"error"}, outcomes
    assert page.script_errors == []


def test_the_runs_page_pages_through_older_runs(page: Any, console: Console) -> None:
    auth = {"Authorization": f"Bearer {console.caller_key}"}
    for n in range(30):
        added = httpx.post(f"{console.url}/v1/packs/hello/formulas/Add", headers=auth,
                           json={"args": [n, 1000]})
        assert added.json() == {"result": n + 1000}
    _wait_for_runs(console, auth, "Add", 30)  # the log writes its runs off the call path
    sign_in_to_playground(page, console, console.caller_key)
    page.goto(console.url + "/#/runs?formula=Add")
    rows = page.locator("#runs tr.run")
    expect(rows).to_have_count(25)  # one page
    expect(rows.first.locator("td").nth(2)).to_have_text("Add")
    rows.first.click()
    expect(page.locator("#runs tr.run-details .run-args").first).to_have_text("29, 1000")
    page.click("#runs-more")
    expect(rows).to_have_count(30)
    expect(page.locator("#runs-more")).to_be_hidden()  # no older page
    expect(page.locator("#runs-formula")).to_have_value("Add")
    snap(page, "25-runs-paged")
    assert page.script_errors == []


def _wait_for_runs(console: Console, auth: dict[str, str], formula: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = httpx.get(f"{console.url}/v1/runs", headers=auth,
                          params={"formula": formula, "limit": 50})
        assert found.status_code == 200, found.text
        if len(found.json()["runs"]) >= count:
            return
        time.sleep(0.1)
    pytest.fail(f"the execution log did not show {count} runs of {formula} in 30 s")

