"""One PNG: what each scenario did (kills, acknowledged writes) beside what it broke
(matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

from ._report import Report
from ._tally import BREAKS

COLOURS = {"lost": "#cc3311", "unreadable": "#ee7733", "failed_restarts": "#aa3377",
           "crashes": "#000000", "errors": "#bbbbbb"}


def write_plot(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = list(reversed(report.results))
    names = [r.id + ("" if r.status == "ok" else f" ({r.status})") for r in results]
    positions = list(range(len(results)))
    figure, (done, broken) = plt.subplots(1, 2, figsize=(15, 0.5 * len(results) + 2.5))

    for offset, column, colour in ((0.2, "acknowledged", "#4477aa"), (-0.2, "kills", "#228833")):
        values = [float(r.tally.counts()[column] or "nan") for r in results]  # no bar for 0
        done.barh([p + offset for p in positions], values, height=0.4, color=colour,
                  label=column)
    done.set_xscale("log")
    done.set_yticks(positions, names, fontsize=8)
    done.set_xlabel("count (log)")
    done.set_title(f"What was done ({report.totals()['kills']} kills)")
    done.legend(fontsize=8)

    left = [0] * len(results)
    for kind in BREAKS:
        counts = [r.tally.counts()[kind] for r in results]
        broken.barh(positions, counts, left=left, color=COLOURS[kind],
                    label=kind.replace("_", " "))
        left = [a + b for a, b in zip(left, counts)]
    broken.set_yticks(positions, names, fontsize=8)
    broken.set_xlabel("invariant breaks (0 everywhere = pass)")
    broken.set_title("What broke: " + ("nothing" if report.passed else "see the table"))
    broken.legend(fontsize=8)

    figure.suptitle(f"Corral reliability ({'quick' if report.quick else 'full'} run, "
                    f"seed {report.seed}, {report.started_at[:19]} UTC)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
