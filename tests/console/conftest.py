"""A real Corral server with the example ``hello`` and ``github`` packs, and Debian's
Chromium to look at it.

The browser is ``/usr/bin/chromium`` driven by Playwright, headless, with a new empty
profile and every background service off, so it opens no connection but to the server
under test. If it (or Playwright) is missing, the tests fail and say what to install.
Each test's page is photographed into ``build/console-screenshots/`` when it fails, and
the tests photograph the pages they visit on success too (artifacts, never committed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from corral import Host, Settings, create_app
from corral._server.apikeys import ApiKeyStore
from corral._server.service import Service

from ..conftest import PACKS, REPO, built
from ..server.test_server_e2e import RunningServer

#: Debian's Chromium; the variable exists so a test can show what happens without it.
CHROMIUM = Path(os.environ.get("CORRAL_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = REPO / "build" / "console-screenshots"
INSTALL_HINT = ("install Debian's Chromium (`apt-get install -y --no-install-recommends "
                "chromium`, which `make setup` runs) and Playwright for Python "
                "(`pip install -e '.[dev]'`)")


@dataclass
class Console:
    """The server under test and the keys to sign in with."""

    server: RunningServer
    host: Host
    service: Service
    admin_key: str
    caller_key: str
    caller_key_id: str

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    data = tmp_path_factory.mktemp("console")
    settings = Settings(data_dir=data)
    with Host(settings) as host:
        host.register_file(built(PACKS / "hello"))
        host.register_file(built(PACKS / "github"))  # network, auth, an action, sync tables
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


@dataclass
class Browser:
    context: Any  # playwright.sync_api.BrowserContext
    #: Every URL the browser asked for, to prove it went nowhere but the server.
    requests: list[str] = field(default_factory=list)


# Module scope, not session: Playwright's sync API runs an event loop on the main thread
# while it is open, and tests elsewhere that call asyncio.run() would then fail.
@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
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
            viewport={"width": 1200, "height": 800}, service_workers="block")
        seen = Browser(context)
        context.on("request", lambda request: seen.requests.append(request.url))
        try:
            yield seen
        finally:
            context.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh tab with no cookies; photographed if the test fails."""
    browser.context.clear_cookies()
    tab = browser.context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.script_errors = errors
    try:
        yield tab
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            snap(tab, f"FAILED-{request.node.name}")
        tab.close()


def snap(tab: Any, name: str) -> Path:
    """Save a screenshot of the tab as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (re.sub(r"[^A-Za-z0-9_.-]+", "-", name) + ".png")
    tab.screenshot(path=str(path), full_page=True)
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report
