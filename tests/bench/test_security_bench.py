"""The security benchmark: its corpus covers every class, its judge finds a secret in
every form and place, and its fast subset (run here, in CI) is contained.

Attacks that expose a known weakness of the host (``Attack.known_weakness``) must still
show up as not contained; when the host is fixed, the attack starts passing and this
test says to drop the note, so the report stays honest both ways. The quick attacks
whose defence is being built on another branch (``AWAITING``) are held to containment
as soon as this host has that defence (detected, not assumed); until then their verdict
is reported but not asserted.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
import inspect
import json
import re
from pathlib import Path
from typing import Callable

import pytest

from benchmarks.security.corpus import all_attacks
from benchmarks.security.harness import CATEGORIES
from benchmarks.security.leaks import SecretDetector
from benchmarks.security.reflect import FORMS
from benchmarks.security.report import Report
from benchmarks.security.run import run_suite, select
from benchmarks.security.settings import supports
from corral import Host

ATTACKS = {attack.name: attack for attack in all_attacks()}

#: Whether this host has each defence the quick subset awaits.
DEFENCES: dict[str, Callable[[], bool]] = {
    "confine": lambda: importlib.util.find_spec("corral._fetch.response") is not None,
    "channels": lambda: "approved_domains" in inspect.signature(Host.register_bytes).parameters,
    "tenancy": lambda: supports(principal_concurrency=1, public_rate_limit_burst=1),
}
AWAITING: dict[str, str] = {
    "Content-Encoding br reflecting the token: decoded, redacted, relayed": "confine",
    "Content-Encoding 'gzip-gzip' reflecting the token: a bad response, never relayed raw":
        "confine",
    "guest Accept-Encoding: br (the server answers in kind)": "confine",
    "GET cache entry of a response reflecting the token (/echo)": "confine",
    "an extra response after alice's, read by mallory's next call": "confine",
    "junk after a tiny gzip member, endless (bytes read are bounded)": "confine",
    "version 0.2.0 answered from 0.1.0's fetch-cache entry": "confine",
    "error path: redirect to the declared cdn, the token in its path": "channels",
    "plain token reflected in the location, base64": "channels",
    "bearer-holding call to an unapproved declared domain": "channels",
    "redirect Location repeats the query key to a declared domain": "channels",
    "redirect Location carries the query key (base64)": "channels",
    "name resolving to IPv6 site-local fec0::1 (is_global says yes)": "channels",
    "C1 control NEL (U+0085) in a header value": "channels",
    "plain http fetch to the auth domain (allow_http on)": "channels",
    "302 redirect from https to http on the auth domain": "channels",
    "redirect Location repeating the query key, to a declared non-auth host": "channels",
    "a call holding a connection posts to an unapproved declared domain": "channels",
    "name resolving into 192.88.99.0/24 deprecated 6to4 relay anycast (192.88.99.1)":
        "channels",
    "name resolving into fec0::/10 deprecated site-local (fec0::1)": "channels",
    "U+0085 NEL in a guest header value": "channels",
    "unauthenticated 96 MiB body to /v1/evaluate: 401 before the body": "tenancy",
    "authenticated body declaring 96 MiB: 413 before the body": "tenancy",
    "login CSRF: bob starts, a victim's browser (no cookie) completes": "tenancy",
    "redirect_uri built from the Host header (no public_url)": "tenancy",
    "token endpoint over plain http": "tenancy",
    "another caller's flood of held calls while bob calls hello": "tenancy",
    "one caller stores 60 small connections (quota 50)": "tenancy",
    "unauthenticated /healthz, 60 times (public burst 20)": "tenancy",
}


def awaited(name: str) -> bool:
    """The attack waits for a defence this host does not have yet."""
    branch = AWAITING.get(name)
    return branch is not None and not DEFENCES[branch]()


@pytest.fixture(scope="module")
def report() -> Report:
    return run_suite(quick=True)


# -- the corpus ----------------------------------------------------------------------------


def test_the_corpus_has_at_least_250_attacks_in_at_least_12_categories() -> None:
    assert len(ATTACKS) >= 250
    categories = {a.category for a in ATTACKS.values()}
    assert categories == set(CATEGORIES) and len(categories) >= 12
    assert {"oauth", "http", "tenancy", "encoding", "reflection", "at_rest", "channel",
            "crossing", "caps", "addresses", "cache_key"} <= categories
    assert {a.category for a in select(list(ATTACKS.values()), quick=True)} == set(CATEGORIES)
    assert {"zig", "c", "wat", "formula"} <= {a.language for a in ATTACKS.values()}


def test_the_quick_subset_stays_small() -> None:
    assert len(select(list(ATTACKS.values()), quick=True)) <= len(ATTACKS) // 5


def test_awaited_and_weak_attacks_are_real_quick_attacks() -> None:
    for name in AWAITING:
        assert name in ATTACKS and ATTACKS[name].quick, name
        assert not ATTACKS[name].known_weakness, name


# -- the judge -----------------------------------------------------------------------------


SECRETS = ("alice-0123456789abcdef0123456789abcdef", "sym/0a1b+Z=&<q>'x\"42", "kQ7zP1#")


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("secret", SECRETS)
def test_the_judge_finds_a_secret_in_every_reflected_form(form: str, secret: str) -> None:
    detector = SecretDetector()
    detector.add(secret)
    text = "prefix " + FORMS[form]("Bearer " + secret) + " suffix"
    assert detector.found_in_text(text) == secret


@pytest.mark.parametrize("secret", SECRETS)
def test_the_judge_looks_inside_compression_and_relayed_base64(secret: str) -> None:
    detector = SecretDetector()
    detector.add(secret)
    twice = gzip.compress(gzip.compress(("{\"seen\": \"" + secret + "\"}").encode()))
    assert detector.found_in_blob(twice) == secret
    relayed = base64.b64encode(b"status=200\nbody=" + twice + b"\n")
    assert detector.found_in_blob(relayed) == secret


def test_the_judge_raises_no_alarm_without_a_secret() -> None:
    detector = SecretDetector()
    detector.add(*SECRETS)
    clean = "Bearer [redacted by corral] " + base64.b64encode(b"x" * 300).decode()
    assert detector.found_in_text(clean) is None
    assert detector.found_in_blob(gzip.compress(clean.encode())) is None


def test_the_judge_reads_changed_store_files_only(tmp_path: Path) -> None:
    detector = SecretDetector()
    detector.add(SECRETS[0])
    store = tmp_path / "fetch-cache" / "data.mdb"
    store.parent.mkdir()
    store.write_bytes(b"\0" * 100 + SECRETS[0].encode() + b"\0")
    assert detector.found_in_files(tmp_path) == ["fetch-cache/data.mdb"]
    assert detector.found_in_files(tmp_path) == [], "unchanged files are not read again"


# -- the quick run ---------------------------------------------------------------------------


@pytest.mark.timeout(600)
def test_every_attack_in_the_quick_subset_is_contained(report: Report) -> None:
    assert {o.category for o in report.outcomes} == set(CATEGORIES)
    escaped = [f"{o.name}: {o.note}" for o in report.outcomes
               if not o.contained and not ATTACKS[o.name].known_weakness
               and not awaited(o.name)]
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


def test_no_secret_is_written_into_the_report(report: Report, tmp_path: Path) -> None:
    report.write(tmp_path / "r.json", tmp_path / "r.md")
    text = (tmp_path / "r.json").read_text() + (tmp_path / "r.md").read_text()
    # every long secret the benchmark plants holds 32 (or 16) hex digits in a row
    assert re.search(r"[0-9a-f]{16}", text) is None


def test_the_report_lists_each_attack_with_its_verdict(report: Report, tmp_path: Path) -> None:
    report.write(tmp_path / "r.json", tmp_path / "r.md")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["summary"]["attacks"] == len(report.outcomes)
    rows = {row["attack"]: row for row in data["attacks"]}
    assert set(rows) == {o.name for o in report.outcomes}
    for row in rows.values():
        assert {"category", "expected", "observed", "contained"} <= set(row)
    markdown = (tmp_path / "r.md").read_text()
    assert "| attack | category | expected | observed | contained |" in markdown
    assert all(o.name.replace("|", "\\|") in markdown for o in report.outcomes)
