"""The differential suite: Coda's sample packs, each call through Coda's own runner and
through Corral, with the same arguments and the same canned API answers; results compared.

Here Corral's side is the pack's bundle (the exact script the engine snapshots) run by the
dispatcher in Node with a stand-in host; tests/js/test_engine_samples.py runs the built
``.wasm`` through the real engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from corral._toolchain.js_bundle import bundle

from .coda_cases import (CANNOT_RUN, CASES, DIVERGENT, DIVERGENT_SHOWS, EMPTY_FOLDERS,
                         NODE_HOST_DIVERGENT)
from .runners import SAMPLES, job, mismatch, run_node_host, run_oracle

FOLDERS = ("hello_world", "math", "dates", "parameter", "data-type", "column-format", "schema",
           "action", "sync-table", "dynamic-sync-table", "two-way", "autocomplete", "fetcher",
           "authentication")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("bundles")
    built: dict[str, Path] = {}
    for sample in sorted({c.sample for c in CASES}):
        path = out / (sample.replace("/", "__") + ".js")
        bundle(SAMPLES / sample, path)
        built[sample] = path
    return built


def test_every_call_matches_codas_runner(bundles: dict[str, Path], tmp_path: Path) -> None:
    differences: dict[str, str] = {}
    coda_answers = run_oracle([job(c) for c in CASES], tmp_path / "oracle.json")
    corral_answers = run_node_host([job(c, bundles[c.sample]) for c in CASES], tmp_path / "corral.json")
    for case, coda, corral in zip(CASES, coda_answers, corral_answers):
        problem = mismatch(coda, corral)
        if problem is None and "ok" in coda:
            # The same requests went out (method and URL; Coda's runner adds auth params).
            sent = [(r["method"], r["url"].split("?")[0]) for r in corral["requests"]]
            want = [(r["method"], r["url"].split("?")[0]) for r in coda["requests"]]
            if sent != want:
                problem = f"requests differ: Coda {want}, Corral {sent}"
        if problem is not None:
            differences[case.label] = problem
    matched = len(CASES) - len(differences)
    print(f"\nCoda samples: {len(bundles)} bundled, {len(CASES)} calls, {matched} matched Coda's runner")
    expected = {**DIVERGENT, **NODE_HOST_DIVERGENT}
    assert set(differences) == set(expected), differences
    for label, shows in DIVERGENT_SHOWS.items():
        assert shows in differences[label], differences[label]


def _sample_files() -> list[str]:
    return sorted(str(p.relative_to(SAMPLES)) for folder in FOLDERS
                  for p in (SAMPLES / folder).glob("*.ts"))


def test_every_sample_of_the_covered_folders_is_called_or_says_why() -> None:
    called = {c.sample for c in CASES}
    files = _sample_files()
    silent = [s for s in files if s not in called and s not in CANNOT_RUN]
    assert silent == [], f"samples neither called nor listed in CANNOT_RUN: {silent}"
    assert called.isdisjoint(CANNOT_RUN) or called & set(CANNOT_RUN) == {"action/dice.ts"}
    empty = [f for f in FOLDERS if not any(s.startswith(f + "/") for s in files)]
    assert empty == sorted(EMPTY_FOLDERS), empty
    print(f"\n{len(files)} samples in {len(FOLDERS)} folders: {len(called)} called, "
          f"{len(set(files) - called)} cannot run ({', '.join(sorted(set(files) - called))})")
