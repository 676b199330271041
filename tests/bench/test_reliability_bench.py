"""The reliability benchmark's quick subset runs end to end and reports honestly.

Nothing here asks the host to pass (several scenarios fail until issue #15's fixes land):
only that every scenario ran and counted, that each verdict follows from its counts, that
the exit status agrees with the verdict, and that the table, JSON and plot are written.
The checks the verdicts rest on are tested on their own below.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import wasmtime

from benchmarks.reliability._api import Answer
from benchmarks.reliability._ledgers import PackLedger
from benchmarks.reliability._packs import lcg_pack
from benchmarks.reliability._tally import BREAKS, Tally
from benchmarks.reliability.damaged_modules import elf_code_span
from benchmarks.reliability.disk_full import clear_refusal
from benchmarks.reliability.run import IDS

SEED = 20261202
COUNTS = ("attempts", "kills", "acknowledged", *BREAKS)
KILL_SCENARIOS = {"packs_http", "packs_register", "connections_http", "keys_http", "keys_cli",
                  "result_cache", "rotation", "two_servers"}

Run = tuple[dict[str, Any], subprocess.CompletedProcess[str], Path]
pytestmark = pytest.mark.timeout(450)  # the first test to run waits for the quick run


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    out = tmp_path_factory.mktemp("reliability")
    json_path, plot_path = out / "reliability.json", out / "reliability.png"
    command = [sys.executable, "-m", "corral", "bench", "reliability", "--quick", "--seed",
               str(SEED), "--json", str(json_path), "--plot", str(plot_path)]
    done = subprocess.run(command, cwd=out, capture_output=True, text=True, timeout=400)
    assert json_path.is_file(), f"no report:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    yield json.loads(json_path.read_text()), done, plot_path


def test_every_scenario_ran_and_counted(quick_run: Run) -> None:
    report, _, _ = quick_run
    assert report["quick"] is True and report["seed"] == SEED
    by_id = {s["id"]: s for s in report["scenarios"]}
    assert list(by_id) == IDS
    for scenario_id, row in by_id.items():
        assert row["status"] in ("ok", "skipped"), f"{scenario_id}: {row['error']}"
        assert all(isinstance(row[c], int) and row[c] >= 0 for c in COUNTS), row
        assert row["acknowledged"] <= row["attempts"], row
        if row["status"] == "skipped":
            assert scenario_id == "disk_full" and row["skipped"]
        else:
            assert row["acknowledged"] > 0, f"{scenario_id} acknowledged nothing"
    for scenario_id in KILL_SCENARIOS:
        assert by_id[scenario_id]["kills"] > 0, f"{scenario_id} killed nothing"
    assert report["totals"]["kills"] >= 15


def test_each_verdict_follows_from_the_counts_and_the_exit_status_agrees(
        quick_run: Run) -> None:
    report, done, _ = quick_run
    for row in report["scenarios"]:
        broken = any(row[name] for name in report["invariants"])
        assert row["passed"] == (row["status"] != "error" and not broken), row["id"]
        if broken:
            assert row["findings"], f"{row['id']} broke an invariant and shows no example"
    assert report["passed"] == all(row["passed"] for row in report["scenarios"])
    assert report["totals"] == {c: sum(row[c] for row in report["scenarios"]) for c in COUNTS}
    assert done.returncode == (0 if report["passed"] else 1), done.stderr[-2000:]


def test_the_table_names_every_scenario_and_the_plot_is_a_png(quick_run: Run) -> None:
    report, done, plot = quick_run
    assert f"seed {SEED}" in done.stdout
    table = done.stdout[done.stdout.index("scenario  "):]
    for row in report["scenarios"]:
        line = next(line for line in table.splitlines() if line.startswith(row["id"] + " "))
        assert f" {row['kills']} " in line and ("pass" if row["passed"] else "FAIL") in line
    assert ("every invariant held" if report["passed"] else "INVARIANTS BROKEN") in done.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- the checks the verdicts rest on --------------------------------------------------------


def test_a_lost_version_and_an_undone_delete_are_each_counted_once() -> None:
    ledger, tally = PackLedger(), Tally()
    for version in ("1.0.1", "1.0.2"):
        ledger.uploaded("up_a", version)
    ledger.uploaded("up_b", "1.0.3")
    ledger.deleted("up_b")
    seen = {"up_a": ("1.0.2", {"1.0.2"}), "up_b": ("1.0.3", {"1.0.3"})}
    ledger.verify(seen, tally)
    assert (tally.lost, len(tally.findings)) == (2, 2)
    ledger.verify(seen, tally)
    assert tally.lost == 2


def test_a_write_in_flight_at_the_kill_may_land_or_not() -> None:
    ledger, tally = PackLedger(), Tally()
    ledger.uploaded("up_a", "1.0.1")
    ledger.pending = ("upload", "up_a", "1.0.2")
    ledger.verify({"up_a": ("1.0.2", {"1.0.1", "1.0.2"})}, tally)
    ledger.pending = ("upload", "up_a", "1.0.3")
    ledger.verify({"up_a": ("1.0.2", {"1.0.1", "1.0.2"})}, tally)
    assert not tally.broken
    ledger.verify({"up_a": ("1.0.1", {"1.0.1", "1.0.2"})}, tally)
    assert tally.lost == 1  # the active version went back past an acknowledged one


def test_the_code_span_of_a_precompiled_module_lies_in_its_text_section() -> None:
    engine = wasmtime.Engine()
    artifact = bytes(wasmtime.Module(engine, lcg_pack("lcg_a", 7)).serialize())
    span = elf_code_span(artifact)
    assert span is not None
    offset, size = span
    assert 0 < size and offset + size <= len(artifact)
    assert elf_code_span(b"not an elf file" * 10) is None


def test_only_507_or_a_plain_storage_error_is_a_clear_refusal() -> None:
    assert clear_refusal(Answer(507, {"kind": "insufficient_storage", "detail": "full"}))
    assert clear_refusal(Answer(503, {"kind": "unavailable", "detail": "the disk is full"}))
    assert not clear_refusal(Answer(500, {"kind": "internal", "detail": "storage is full"}))
    assert not clear_refusal(Answer(400, {"kind": "credential", "detail": "connection store "
                                          "error: mdb_txn_commit: Input/output error"}))
    assert not clear_refusal(Answer(0, error="ReadError: connection reset"))
