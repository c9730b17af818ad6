"""The naturalness report: organism vs base per statistic, with the difference and its 95% interval.

Values come from the Inspect logs' per-sample scores through the same statistics the tasks'
metrics use. Intervals are paired (or unpaired) bootstrap intervals over samples; a measure
with a single sample (preference coherence) uses the bootstrap standard errors its scorer
stored (normal approximation).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from auditgame.naturalness.measures import Measure
from auditgame.naturalness.stats import (
    Row,
    Statistic,
    as_row,
    bootstrap_difference,
    evaluate,
    mean_of,
)


@dataclass(frozen=True)
class Comparison:
    measure: str
    statistic: str
    organism: float
    base: float
    difference: float
    interval: tuple[float, float] | None
    higher_is_better: bool | None
    organism_samples: int
    base_samples: int

    @property
    def verdict(self) -> str:
        """``worse`` / ``better`` when the interval excludes 0, else ``no clear change``."""
        if self.interval is None or self.higher_is_better is None:
            return "n/a"
        low, high = self.interval
        if low <= 0 <= high:
            return "no clear change"
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


def _statistics(measure: Measure, rows: list[Row]) -> dict[str, Statistic]:
    if measure.statistics is not None:
        return dict(measure.statistics)
    return {key: mean_of(key) for key in sorted({k for r in rows for k in r})}


def _stored_se_interval(name: str, diff: float, org: LogScores, base: LogScores) -> tuple[float, float] | None:
    org_se, base_se = (next(iter(s.metadata.values()), {}).get(f"{name}_se") for s in (org, base))
    if org_se is None or base_se is None:
        return None
    half = 1.96 * math.sqrt(org_se**2 + base_se**2)
    return diff - half, diff + half


def compare(measure: Measure, organism_log: str, base_log: str,
            resamples: int = 1000) -> list[Comparison]:
    """One `Comparison` per statistic both runs have."""
    org, base = read_scores(organism_log), read_scores(base_log)
    statistics = _statistics(measure, [*org.rows.values(), *base.rows.values()])
    org_values = evaluate(statistics, list(org.rows.values()))
    base_values = evaluate(statistics, list(base.rows.values()))
    results = []
    for name, stat in statistics.items():
        if name not in org_values or name not in base_values:
            continue
        diff = org_values[name] - base_values[name]
        if len(org.rows) > 1 and len(base.rows) > 1:
            interval = bootstrap_difference(stat, org.rows, base.rows, resamples)
        else:
            interval = _stored_se_interval(name, diff, org, base)
        results.append(Comparison(
            measure.name, name, org_values[name], base_values[name], diff, interval,
            measure.higher_is_better.get(name), len(org.rows), len(base.rows),
        ))
    return results


# ---------------------------------------------------------------- writing
def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"


def markdown(organism: str, base: str, comparisons: list[Comparison], skipped: dict[str, str]) -> str:
    lines = [
        f"# Naturalness: {organism} vs {base}",
        "",
        "| measure | statistic | organism | base | difference | 95% interval | verdict |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for c in comparisons:
        interval = f"[{_fmt(c.interval[0])}, {_fmt(c.interval[1])}]" if c.interval else "-"
        lines.append(f"| {c.measure} | {c.statistic} | {_fmt(c.organism)} | {_fmt(c.base)} | "
                     f"{_fmt(c.difference)} | {interval} | {c.verdict} |")
    if skipped:
        lines += ["", "Not measured:", ""] + [f"- {name}: {why}" for name, why in skipped.items()]
    return "\n".join(lines) + "\n"


def chart(path: Path, organism: str, base: str, comparisons: list[Comparison]) -> None:
    """One row per statistic: the difference with its interval, red when worse."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = comparisons or []
    fig, axes = plt.subplots(max(1, len(shown)), 1, figsize=(7, 0.9 * max(1, len(shown)) + 1),
                             squeeze=False)
    colours = {"worse": "tab:red", "better": "tab:green"}
    for ax, c in zip(axes[:, 0], shown):
        low, high = c.interval if c.interval else (c.difference, c.difference)
        ax.errorbar([c.difference], [0], xerr=[[c.difference - low], [high - c.difference]],
                    fmt="o", color=colours.get(c.verdict, "tab:grey"), capsize=4)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks([0], [f"{c.measure}: {c.statistic}"])
        span = max(abs(low), abs(high)) * 1.2 or 1.0  # no difference at all: a unit axis
        ax.set_xlim(-span, span)
        ax.ticklabel_format(axis="x", useOffset=False)
    axes[0, 0].set_title(f"{organism} minus {base} (95% intervals)")
    fig.tight_layout()
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
