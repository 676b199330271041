"""The security benchmark's fast subset, run in CI: every category, every attack contained.

Attacks that expose a known weakness of the host (``Attack.known_weakness``) must still
show up as not contained; when the host is fixed, the attack starts passing and this
test says to drop the note, so the report stays honest both ways.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.security.corpus import all_attacks
from benchmarks.security.harness import CATEGORIES
from benchmarks.security.report import Report
from benchmarks.security.run import run_suite, select

ATTACKS = {attack.name: attack for attack in all_attacks()}


@pytest.fixture(scope="module")
def report() -> Report:
    return run_suite(quick=True)


def test_the_corpus_covers_every_category_with_at_least_60_attacks() -> None:
    assert len(ATTACKS) >= 60
    assert {a.category for a in ATTACKS.values()} == set(CATEGORIES)
    assert {a.category for a in select(list(ATTACKS.values()), quick=True)} == set(CATEGORIES)
    languages = {a.language for a in ATTACKS.values()}
    assert {"zig", "c", "wat"} <= languages


@pytest.mark.timeout(300)
def test_every_attack_in_the_quick_subset_is_contained(report: Report) -> None:
    assert {o.category for o in report.outcomes} == set(CATEGORIES)
    escaped = [f"{o.name}: {o.note}" for o in report.outcomes
               if not o.contained and not ATTACKS[o.name].known_weakness]
    assert escaped == []


def test_the_host_stays_healthy_after_every_attack(report: Report) -> None:
    assert [o.name for o in report.outcomes if not o.healthy] == []
    assert report.final_call_ok


def test_known_weaknesses_are_still_reported_as_not_contained(report: Report) -> None:
    for outcome in report.outcomes:
        if ATTACKS[outcome.name].known_weakness:
            assert not outcome.contained, (
                f"{outcome.name!r} is contained now: remove its known_weakness note")
            assert "known weakness" in outcome.note


def test_memory_returns_to_the_warm_baseline(report: Report) -> None:
    assert report.rss_baseline_kib > 0
    assert report.rss_after_kib - report.rss_baseline_kib <= report.rss_margin_kib


def test_the_report_is_written_as_json_and_markdown(report: Report, tmp_path: Path) -> None:
    report.write(tmp_path / "r.json", tmp_path / "r.md")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["summary"]["attacks"] == len(report.outcomes)
    assert {row["attack"] for row in data["attacks"]} == {o.name for o in report.outcomes}
    markdown = (tmp_path / "r.md").read_text()
    assert "| attack | category | expected | observed | contained |" in markdown
    assert all(o.name.replace("|", "\\|") in markdown for o in report.outcomes)
