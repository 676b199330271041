"""Automations in Chromium: sign in, create a webhook automation from the form, see the
URL (shown once), call it, and see its run on the automation's page; a bad formula is
refused with the field and the line and column named."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from .conftest import Console, snap
from .test_console_browser import sign_in


def test_create_a_webhook_automation_and_see_its_run(page: Any, console: Console) -> None:
    sign_in(page, console, console.caller_key)
    expect(page.locator("#who-name")).to_have_text("carol")
    page.click('#nav a[data-view="automations"]')
    expect(page.locator("#automations")).to_contain_text("No automations yet.")
    page.click("#new-automation")

    page.fill("#auto-name", "Greeter")
    page.select_option("#auto-trigger", "webhook")
    page.fill("#auto-condition", "=$$[variable:payload].go +")
    page.click("#save-automation")
    error = page.locator("#automation-error")
    expect(error).to_contain_text("condition:")
    expect(error).to_contain_text("line 1, column 27")
    snap(page, "automations-01-bad-condition")

    page.fill("#auto-condition", "=$$[variable:payload].go")
    page.fill("#auto-actions", '[{"pack": "hello", "name": "Greet", '
                               '"args": ["=$$[variable:payload].who"]}]')
    page.click("#save-automation")
    url = page.locator("#webhook-url")
    expect(url).to_contain_text("/v1/hooks/wh_")
    expect(page.locator("#no-runs")).to_be_visible()
    snap(page, "automations-02-created")

    fired = httpx.post(url.inner_text(), json={"go": True, "who": "Grace"})
    assert fired.status_code == 200 and fired.json()["outcome"] == "ok", fired.text
    assert console.service.runs.flush()
    page.click("#refresh-runs")
    run = page.locator(f'#runs-table tr[data-run="{fired.json()["run"]}"]')
    expect(run).to_contain_text("ok")
    expect(run.locator(".run-details")).to_have_text('["Hello, Grace!"]')
    expect(page.locator("#automation-status")).to_contain_text("ok")
    snap(page, "automations-03-run")

    page.fill("#auto-name", "Greeter, renamed")
    page.click("#save-automation")  # saving again edits the automation just made
    expect(page.locator("#automation-saved")).to_have_attribute("data-saves", "2")
    expect(page.locator("#automation-title")).to_have_text("Greeter, renamed")
    expect(page.locator("#automation-error")).to_be_hidden()
    page.click('#automation a[href="#/automations"]')
    listed = page.locator("#automations tr[data-automation]")
    expect(listed).to_have_count(1)
    expect(listed).to_contain_text("Greeter, renamed")
    expect(listed).to_contain_text("Greeter")
    expect(listed).to_contain_text("webhook")
    assert url.count() == 0  # the secret URL is not shown again
    assert "wh_" not in page.content()
    assert not page.script_errors, page.script_errors


def test_run_a_scheduled_automation_now_and_see_it_failing(page: Any, console: Console) -> None:
    sign_in(page, console, console.caller_key)
    expect(page.locator("#who-name")).to_have_text("carol")
    page.goto(console.url + "/#/automations/new")
    page.fill("#auto-name", "Hourly sum")
    page.select_option("#auto-trigger", "schedule")
    page.fill("#auto-every", "3600")
    page.fill("#auto-actions", '[{"pack": "hello", "name": "Add", "args": [2, "=1 + 2"]}]')
    page.click("#save-automation")
    expect(page.locator("#automation-title")).to_have_text("Hourly sum")
    expect(page.locator("#no-runs")).to_be_visible()
    page.reload()  # the saved automation's own page, with its buttons
    page.click("#run-now")
    run = page.locator('#runs-table tr[data-outcome="ok"]')
    expect(run.locator(".run-details")).to_have_text("[5]")

    page.fill("#auto-actions", '[{"pack": "hello", "name": "Add", "args": ["two", 2]}]')
    page.click("#save-automation")
    expect(page.locator("#automation-saved")).to_have_attribute("data-saves", "1")
    page.reload()
    page.click("#run-now")
    expect(page.locator('#runs-table tr[data-outcome="error"] .run-details')
           ).to_contain_text("bad_args")
    page.reload()
    expect(page.locator("#automation-status [data-status]")).to_have_text("failing (1)")
    expect(page.locator("#last-error")).to_contain_text("bad_args")
    snap(page, "automations-04-failing")
    assert not page.script_errors, page.script_errors
