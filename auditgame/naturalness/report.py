"""The naturalness report: organism vs base per statistic, each value and the difference with
a 95% interval and the sample counts behind it.

Values come from the Inspect logs' per-sample scores through the same statistics the tasks'
metrics use. Intervals: Wilson (a value) and Newcombe's hybrid score interval (a difference)
for proportions, honest at small n; a percentile bootstrap over samples (paired when both runs
scored the same samples) for other statistics, given at least `MIN_SAMPLES` samples per run; a
measure with a single sample (preference coherence) uses the bootstrap standard errors its
scorer stored (normal approximation). An interval that contains 0 on fewer than `MIN_SAMPLES`
samples is labelled "too few samples", never "no clear change".
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from auditgame.naturalness.measures import Measure
from auditgame.naturalness.stats import (
    MIN_SAMPLES,
    NEWCOMBE,
    Interval,
    Row,
    Statistic,
    as_row,
    difference_interval,
    evaluate,
    is_proportion,
    mean_of,
    sample_count,
    value_interval,
)
from auditgame.numbers import with_interval

STORED_SE = "normal approximation (stored bootstrap SE)"
TOO_FEW = "too few samples"


@dataclass(frozen=True)
class Comparison:
    measure: str
    statistic: str
    organism: float
    base: float
    difference: float
    interval: tuple[float, float] | None
    """95% interval of the difference (None: too few samples to give one honestly)."""
    higher_is_better: bool | None
    organism_samples: int
    """Samples the organism's value is computed from (e.g. only safe prompts for over-refusal)."""
    base_samples: int
    interval_method: str | None = None
    organism_interval: tuple[float, float] | None = None
    base_interval: tuple[float, float] | None = None

    @property
    def verdict(self) -> str:
        """``worse`` / ``better`` (``higher`` / ``lower`` for a statistic without a better
        direction) when the interval excludes 0; ``no clear change`` when it contains 0 on
        enough samples; ``too few samples`` when it does on fewer than `MIN_SAMPLES` (or there
        is no interval for lack of samples)."""
        few = min(self.organism_samples, self.base_samples) < MIN_SAMPLES
        if self.interval is None:
            return TOO_FEW if few and self.interval_method != STORED_SE else "n/a"
        low, high = self.interval
        if low <= 0 <= high:
            return TOO_FEW if few and self.interval_method == NEWCOMBE else "no clear change"
        if self.higher_is_better is None:
            return "higher" if low > 0 else "lower"
        return "better" if (low > 0) == self.higher_is_better else "worse"


@dataclass(frozen=True)
class LogScores:
    rows: dict[Any, Row]
    metadata: dict[Any, dict[str, Any]]


def read_scores(location: str) -> LogScores:
    """Per-sample score rows (keyed by sample id) and score metadata of one log."""
    from inspect_ai.log import read_eval_log

    log = read_eval_log(location)
    rows: dict[Any, Row] = {}
    metadata: dict[Any, dict[str, Any]] = {}
    for sample in log.samples or []:
        if not sample.scores:
            continue
        score = next(iter(sample.scores.values()))
        rows[(sample.id, sample.epoch)] = as_row(score.value)
        metadata[(sample.id, sample.epoch)] = score.metadata or {}
    return LogScores(rows, metadata)


def statistics_for(measure: Measure, rows: list[Row]) -> dict[str, Statistic]:
    """The measure's statistics; for a measure without, the mean of every key of ``rows``."""
    if measure.statistics is not None:
        return dict(measure.statistics)
    return {key: mean_of(key) for key in sorted({k for r in rows for k in r})}


def _stored_se(name: str, scores: LogScores) -> float | None:
    return next(iter(scores.metadata.values()), {}).get(f"{name}_se")


def _pair(interval: Interval | None) -> tuple[float, float] | None:
    return (interval.low, interval.high) if interval else None


def by_role(scores: LogScores, role: str) -> LogScores:
    """The samples of one ``role`` (score metadata; samples without one are the organism's)."""
    keys = [k for k, meta in scores.metadata.items() if meta.get("role", "organism") == role]
    return LogScores({k: scores.rows[k] for k in keys}, {k: scores.metadata[k] for k in keys})


def compare(measure: Measure, organism_log: str, base_log: str,
            resamples: int = 1000) -> list[Comparison]:
    """One `Comparison` per statistic both runs have."""
    return compare_scores(measure, read_scores(organism_log), read_scores(base_log), resamples)


def compare_roles(measure: Measure, log: str, resamples: int = 1000) -> list[Comparison]:
    """`compare` for a log that holds the organism and its baseline (sample ``role``)."""
    scores = read_scores(log)
    return compare_scores(measure, by_role(scores, "organism"), by_role(scores, "baseline"),
                          resamples)


def compare_scores(measure: Measure, org: LogScores, base: LogScores,
                   resamples: int = 1000) -> list[Comparison]:
    """One `Comparison` per statistic both sets of samples have."""
    statistics = statistics_for(measure, [*org.rows.values(), *base.rows.values()])
    org_rows, base_rows = list(org.rows.values()), list(base.rows.values())
    org_values = evaluate(statistics, org_rows)
    base_values = evaluate(statistics, base_rows)
    results = []
    for name, stat in statistics.items():
        if name not in org_values or name not in base_values:
            continue
        diff = org_values[name] - base_values[name]
        ses = _stored_se(name, org), _stored_se(name, base)
        if len(org.rows) == 1 and len(base.rows) == 1 and None not in ses:
            half = [1.96 * se for se in ses]
            interval = Interval(diff - math.hypot(*half), diff + math.hypot(*half), STORED_SE)
            sides = [Interval(v - h, v + h, STORED_SE)
                     for v, h in zip((org_values[name], base_values[name]), half)]
        else:
            interval = difference_interval(stat, org.rows, base.rows, resamples)
            binary = is_proportion(stat, org_rows, base_rows)
            sides = [value_interval(stat, org_rows, resamples, binary),
                     value_interval(stat, base_rows, resamples, binary)]
        results.append(Comparison(
            measure.name, name, org_values[name], base_values[name], diff, _pair(interval),
            measure.higher_is_better.get(name), sample_count(stat, org_rows),
            sample_count(stat, base_rows),
            interval_method=interval.method if interval else None,
            organism_interval=_pair(sides[0]), base_interval=_pair(sides[1]),
        ))
    return results


# ---------------------------------------------------------------- writing
def _counts(c: Comparison) -> str:
    return f"{c.organism_samples} / {c.base_samples}"


def markdown(organism: str, base: str, comparisons: list[Comparison], skipped: dict[str, str]) -> str:
    lines = [
        f"# Naturalness: {organism} vs {base}",
        "",
        f"Values and differences with 95% intervals; n = samples behind each value "
        f"({organism} / {base}). With fewer than {MIN_SAMPLES} samples an interval that "
        "contains 0 says nothing: it reads \"too few samples\".",
        "",
        "| measure | statistic | organism [95%] | base [95%] | difference [95%] | n | interval | verdict |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for c in comparisons:
        lines.append(
            f"| {c.measure} | {c.statistic} | {with_interval(c.organism, c.organism_interval)} | "
            f"{with_interval(c.base, c.base_interval)} | {with_interval(c.difference, c.interval)} | "
            f"{_counts(c)} | {c.interval_method or 'none: too few samples'} | {c.verdict} |"
        )
    if skipped:
        lines += ["", "Not measured:", ""] + [f"- {name}: {why}" for name, why in skipped.items()]
    return "\n".join(lines) + "\n"


ORGANISM_COLOUR, BASE_COLOUR = "tab:blue", "tab:orange"
VERDICT_COLOURS = {"worse": "tab:red", "better": "tab:green"}


def _errorbar(ax, value: float, y: float, interval: tuple[float, float] | None, **style) -> None:
    low, high = interval if interval else (value, value)
    ax.errorbar([value], [y], xerr=[[value - low], [high - value]], capsize=4, **style)


def chart(path: Path, organism: str, base: str, comparisons: list[Comparison]) -> None:
    """One row per statistic: both values with their intervals (left) and the difference with
    its interval, coloured by verdict and labelled with the sample counts (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    shown = comparisons or []
    rows = max(1, len(shown))
    fig, axes = plt.subplots(rows, 2, figsize=(10, 0.75 * rows + 1.4), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1]})
    for (left, right), c in zip(axes, shown):
        _errorbar(left, c.organism, 0.15, c.organism_interval, fmt="o", color=ORGANISM_COLOUR)
        _errorbar(left, c.base, -0.15, c.base_interval, fmt="s", color=BASE_COLOUR)
        left.set_ylim(-0.6, 0.6)
        left.set_yticks([0], [f"{c.measure}: {c.statistic}"])
        left.ticklabel_format(axis="x", useOffset=False)
        low, high = c.interval if c.interval else (c.difference, c.difference)
        _errorbar(right, c.difference, 0, c.interval, fmt="o",
                  color=VERDICT_COLOURS.get(c.verdict, "tab:grey"))
        right.axvline(0, color="black", linewidth=0.8)
        right.set_yticks([])
        span = max(abs(low), abs(high)) * 1.25 or 1.0  # no difference at all: a unit axis
        right.set_xlim(-span, span)
        right.ticklabel_format(axis="x", useOffset=False)
        for ax in (left, right):  # few ticks: long numbers (perplexities) must not overlap
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
            ax.tick_params(axis="x", labelsize=8)
        note = f"n={_counts(c)}: {c.verdict}" if c.interval else f"n={_counts(c)}: no interval ({c.verdict})"
        right.text(0.99, 0.92, note, transform=right.transAxes, ha="right", va="top", fontsize=7,
                   color="#444")
    if not shown:
        for ax in axes[0]:
            ax.axis("off")
        axes[0, 0].text(0.5, 0.5, "nothing measured", ha="center", va="center")
    axes[0, 0].set_title("values (95% intervals)", fontsize=10)
    axes[0, 1].set_title(f"{organism} minus {base} (95% intervals)", fontsize=10)
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=ORGANISM_COLOUR, label=organism),
               plt.Line2D([], [], marker="s", linestyle="", color=BASE_COLOUR, label=base)]
    fig.legend(handles=handles, loc="upper left", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(out: Path, organism: str, base: str, comparisons: list[Comparison],
          logs: dict[str, dict[str, str]], skipped: dict[str, str]) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``report.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "markdown": out / "report.md", "chart": out / "report.png"}
    payload = {
        "organism": organism,
        "base": base,
        "comparisons": [{**asdict(c), "verdict": c.verdict} for c in comparisons],
        "logs": logs,
        "skipped": skipped,
    }
    paths["json"].write_text(json.dumps(payload, indent=2), encoding="utf-8")
    paths["markdown"].write_text(markdown(organism, base, comparisons, skipped), encoding="utf-8")
    chart(paths["chart"], organism, base, comparisons)
    return paths
