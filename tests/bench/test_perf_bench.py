"""The performance suite runs end to end (--quick) and reports every benchmark and target.

Nothing here asserts on speed: only that each benchmark produced finite measurements,
that each target carries its measured value and a met flag that agrees with its limit,
and that the table, the JSON and the plot are written.
"""

from __future__ import annotations

import json
import math
import operator
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from benchmarks.perf._measure import percentile
from benchmarks.perf._results import BenchResult, SuiteReport, Target, format_rows
from corral._toolchain.build import repo_root

BENCHMARK_IDS = {"invoke", "cold_start", "result_cache", "http", "scheduler", "fuel", "memory",
                 "tenancy", "workers", "formula_parse", "js", "js_engine", "store", "cluster"}
TARGET_IDS = {"invoke_p50", "invoke_vs_extism", "cached_evaluate_p50", "http_throughput_ratio",
              "scheduler_32_vs_1", "load_precompiled_hello", "load_precompiled_textstats",
              "workers_2_vs_1", "formula_parse_us_per_token", "formula_parse_cached_us_per_token"}
OPS = {"<=": operator.le, ">=": operator.ge}


@pytest.fixture(scope="module")
def quick_run(
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], str, Path]]:
    from corral._toolchain.js_engine import build_js_engine

    build_js_engine()  # compiled once (minutes on a first run), outside the suite's time budget
    out = tmp_path_factory.mktemp("perf")
    json_path, plot_path = out / "perf.json", out / "perf.png"
    # The README's `corral bench perf --quick`, with the outputs sent to a temp dir.
    command = [sys.executable, "-m", "corral", "bench", "perf", "--quick", "--json",
               str(json_path), "--plot", str(plot_path)]
    done = subprocess.run(command, cwd=out,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"the suite failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    yield json.loads(json_path.read_text()), done.stdout, plot_path


def test_every_benchmark_ran_and_measured_something(
        quick_run: tuple[dict[str, Any], str, Path]) -> None:
    report, _, _ = quick_run
    assert report["quick"] is True
    by_id = {b["id"]: b for b in report["benchmarks"]}
    assert set(by_id) == BENCHMARK_IDS
    for bench_id, bench in by_id.items():
        assert bench["status"] == "ok", f"{bench_id}: {bench['error']}"
        assert bench["metrics"], f"{bench_id} measured nothing"
        for name, value in bench["metrics"].items():
            assert isinstance(value, (int, float)) and math.isfinite(value), (bench_id, name)


def test_every_target_has_a_measured_value_and_an_honest_flag(
        quick_run: tuple[dict[str, Any], str, Path]) -> None:
    report, _, _ = quick_run
    targets = [t for b in report["benchmarks"] for t in b["targets"]]
    assert TARGET_IDS <= {t["id"] for t in targets}
    for target in targets:
        assert isinstance(target["met"], bool)
        assert math.isfinite(target["measured"])
        assert target["met"] == OPS[target["op"]](target["measured"], target["limit"]), target
    assert report["targets_total"] == len(targets)
    assert report["targets_met"] == sum(t["met"] for t in targets)
    for bench in report["benchmarks"]:
        expected = all(t["met"] for t in bench["targets"]) if bench["targets"] else None
        assert bench["met"] == expected, bench["id"]


def test_the_table_says_which_targets_were_met_and_the_plot_is_a_png(
        quick_run: tuple[dict[str, Any], str, Path]) -> None:
    report, stdout, plot = quick_run
    assert f"== Targets: {report['targets_met']} of {report['targets_total']} met" in stdout
    for bench in report["benchmarks"]:
        assert bench["title"] in stdout
    assert stdout.count("MET]") >= report["targets_total"] * 2  # per benchmark and in summary
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_percentile_is_nearest_rank() -> None:
    samples = [float(v) for v in range(1, 101)]
    assert percentile(samples, 0.5) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    with pytest.raises(ValueError, match="empty"):
        percentile([], 0.5)


def test_a_target_that_measured_nothing_is_not_met() -> None:
    assert Target("t", "d", 10.0, "<=", 10.0, "us").met
    assert not Target("t", "d", 10.1, "<=", 10.0, "us").met
    assert not Target("t", "d", math.nan, ">=", 0.0, "x").met
    with pytest.raises(ValueError, match="operator"):
        Target("t", "d", 1.0, "<", 2.0, "x")


def test_a_failed_benchmark_fails_its_targets_in_the_report() -> None:
    failed = BenchResult("x", "X", error="RuntimeError: boom",
                         targets=[Target("t", "d", math.nan, "<=", 1.0, "ms")])
    report = SuiteReport(quick=True, started_at="now", results=[failed]).to_dict()
    assert report["benchmarks"][0]["status"] == "error"
    assert report["benchmarks"][0]["met"] is False
    assert report["all_targets_met"] is False


def test_table_rows_line_up() -> None:
    lines = format_rows([{"name": "a", "p50_us": 1.5}, {"name": "longer", "extra": 12345}])
    assert len({len(line) for line in lines}) == 1
    assert lines[0].split() == ["name", "p50_us", "extra"]
    assert "12,345" in lines[3]


def test_the_load_generator_refuses_anything_but_loopback() -> None:
    job = {"host": "10.0.0.1", "port": 80, "path": "/", "connections": 1, "duration_s": 1}
    done = subprocess.run([sys.executable, "-m", "benchmarks.perf.loadgen"], cwd=repo_root(),
                          input=json.dumps(job), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "127.0.0.1" in json.loads(done.stdout)["error"]
