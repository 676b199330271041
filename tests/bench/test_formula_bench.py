"""The formula-parsing group of the perf suite: every configuration builds the same tree
and is measured per token; nothing here asserts on speed."""

from __future__ import annotations

import math
from pathlib import Path

from corral._cli.bench_perf import perf_command
from corral._formula.lexer import tokens

from benchmarks.perf import bench_formula
from benchmarks.perf._context import Context
from benchmarks.perf._plot import write_plot
from benchmarks.perf._results import SuiteReport, format_result
from benchmarks.perf._runner import BENCHMARKS


def test_the_group_measures_every_configuration_on_every_formula(tmp_path: Path) -> None:
    result = bench_formula.run(Context(quick=True, workdir=tmp_path))
    assert result.error is None
    assert len(result.rows) == 15  # 3 formulas x 5 configurations
    assert all(math.isfinite(row["us_per_token"]) and row["us_per_token"] > 0
               for row in result.rows)
    assert {"today's parser (v1 grammar, lark LALR, Transformer inline)",
            "new: one-regex lexer + table driver"} <= set(result.series)
    assert result.metrics["speedup_vs_today"] == (result.metrics["today_us_per_token"]
                                                  / result.metrics["new_us_per_token"])
    for target in result.targets:
        assert target.met == (target.measured <= target.limit)
    text = format_result(result)
    assert "us_per_token" in text and "2,300 chars" in text
    plot = tmp_path / "perf.png"
    write_plot(SuiteReport(quick=True, started_at="now", results=[result]), plot)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_long_formula_is_the_size_the_issue_measured() -> None:
    text = bench_formula.long_formula()
    assert 2300 <= len(text) < 2500 and len(tokens(text)) > 800


def test_the_group_is_selectable_with_only() -> None:
    assert "formula_parse" in BENCHMARKS
    command = perf_command(True, None, None, only="formula_parse")
    assert command[-2:] == ["--only", "formula_parse"]
