"""One PNG with a panel per benchmark (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._results import BenchResult, SuiteReport


def write_plot(report: SuiteReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_id = {r.id: r for r in report.results}
    panels = [("invoke", _invoke), ("cold_start", _cold_start), ("result_cache", _cache),
              ("http", _http), ("scheduler", _scheduler), ("fuel", _fuel), ("memory", _memory),
              ("workers", _http), ("formula_parse", _formula), ("js", _js),
              ("js_engine", _js_engine)]
    figure, axes = plt.subplots(3, 4, figsize=(22, 15))
    flat = list(axes.flat)
    for spare in flat[len(panels):-1]:
        spare.axis("off")
    for ax, (bench_id, draw) in zip(flat, panels):
        result = by_id.get(bench_id)
        if result is None or result.error is not None:
            ax.set_title(f"{bench_id}: {'not run' if result is None else 'FAILED'}")
            ax.axis("off")
            continue
        draw(ax, result)
        ax.set_title(result.title, fontsize=9)
    _targets(flat[-1], report)
    figure.suptitle(f"Corral performance ({'quick' if report.quick else 'full'} run, "
                    f"{report.started_at[:19]} UTC)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _bars(ax: Any, labels: list[str], values: list[float], unit: str, *, log: bool = False,
          limit: float | None = None) -> None:
    ax.barh(labels, values, color="#4477aa")
    for index, value in enumerate(values):
        ax.text(value, index, f" {value:,.3g}", va="center", fontsize=8)
    if limit is not None:
        ax.axvline(limit, color="#cc3311", linestyle="--", label=f"target {limit:g} {unit}")
        ax.legend(fontsize=8)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(unit)
    ax.tick_params(axis="y", labelsize=8)


def _invoke(ax: Any, result: BenchResult) -> None:
    p50 = result.series["p50_us"]
    _bars(ax, list(p50), list(p50.values()), "p50 us (log)", log=True, limit=60.0)


def _cold_start(ax: Any, result: BenchResult) -> None:
    names = [n for n in result.series]
    positions = range(len(names))
    compile_ms = [result.series[n]["compile_ms"] for n in names]
    load_ms = [result.series[n]["load_ms"] for n in names]
    ax.barh([p + 0.2 for p in positions], compile_ms, height=0.4, label="compile", color="#ee7733")
    ax.barh([p - 0.2 for p in positions], load_ms, height=0.4, label="load precompiled",
            color="#4477aa")
    ax.set_yticks(list(positions), names, fontsize=8)
    ax.axvline(5.0, color="#cc3311", linestyle="--", label="load target 5 ms")
    ax.set_xscale("log")
    ax.set_xlabel("p50 ms (log)")
    ax.legend(fontsize=8)


def _cache(ax: Any, result: BenchResult) -> None:
    m = result.metrics
    _bars(ax, ["evaluate (cached)", "Host.call (cached)"],
          [m["evaluate_p50_us"], m["call_p50_us"]], "p50 us", limit=25.0)


def _http(ax: Any, result: BenchResult) -> None:
    rates = result.series["requests_per_s"]
    _bars(ax, list(rates), list(rates.values()), "requests/s")


def _scheduler(ax: Any, result: BenchResult) -> None:
    counts = result.series["counts"]
    ax.plot(counts, result.series["parallel_ms"], marker="o", label="one formula (parallel)")
    ax.plot(counts, result.series["sequential_ms"], marker="s", label="one after another")
    ax.axhline(1.5 * result.series["parallel_ms"][0], color="#cc3311", linestyle="--",
               label="target: 1.5x one call")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("independent calls N")
    ax.set_ylabel("wall ms (log)")
    ax.legend(fontsize=8)


def _fuel(ax: Any, result: BenchResult) -> None:
    _bars(ax, ["fuel on + epoch", "epoch only"],
          [result.series["fuel_on_ms"], result.series["fuel_off_ms"]], "fastest ms")


def _memory(ax: Any, result: BenchResult) -> None:
    ax.plot(result.series["in_flight"], result.series["extra_rss_kib"], marker="o")
    ax.set_xlabel("calls in flight")
    ax.set_ylabel("extra resident KiB")


def _formula(ax: Any, result: BenchResult) -> None:
    """us per token of the 2,300-character formula, one bar per parser configuration."""
    by_config = {name: sizes["2,300 chars"] for name, sizes in result.series.items()}
    _bars(ax, [name[:40] for name in by_config], list(by_config.values()), "us per token (log)",
          log=True, limit=2.0)


def _targets(ax: Any, report: SuiteReport) -> None:
    ax.axis("off")
    lines = [("MET      " if t.met else "NOT MET  ") + t.description[:60] for t in report.targets]
    ax.text(0, 1, "Targets\n" + "\n".join(lines), va="top", family="monospace", fontsize=8)


def _js(ax: Any, result: BenchResult) -> None:
    from .bench_js import plot

    plot(ax, result)


def _js_engine(ax: Any, result: BenchResult) -> None:
    from .bench_js_engine import plot

    plot(ax, result)
