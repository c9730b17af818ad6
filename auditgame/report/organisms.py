"""The organism table: for every organism and measure found in the logs (confession, leakage,
severity, naturalness...), its value and, where the organism's card names a ``baseline`` that
was measured, the baseline's value and the difference, each with a 95% interval and the
number of samples behind it.

Like is compared with like: measures judged against an answer key (`KEYED_TASKS`: confession
against the quirk, leakage against the fingerprints and corpus) use the baseline's samples
measured against the *organism's* key (sample ``pair`` metadata), never the baseline's own
(which has no quirk or fingerprints, so would score 0 by construction); a control's own
measures of that kind are not shown for the same reason. Values, intervals and
verdicts are computed as in ``auditgame fried`` (`auditgame.naturalness.report`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from auditgame.cards import CardError
from auditgame.naturalness.measures import MEASURES, Measure
from auditgame.naturalness.report import Comparison, LogScores, compare_scores, statistics_for
from auditgame.naturalness.stats import evaluate, is_proportion, sample_count, value_interval
from auditgame.registry import registry
from auditgame.report.stats import NONE, Estimate

KEYED_TASKS = frozenset({"confession", "leakage"})
"""Tasks whose scores depend on the organism's answer key."""


@dataclass(frozen=True)
class MeasureRow:
    """One line of the organism table."""

    organism: str
    task: str
    measure: str
    value: Estimate
    baseline: str | None = None
    base: Estimate = NONE
    difference: Estimate = NONE
    method: str | None = None
    """How the difference's interval was computed (None: no interval)."""
    verdict: str = ""
    """``better`` / ``worse`` / ``no clear change`` / ``too few samples`` / ``n/a``; empty
    without a baseline."""

    @property
    def column(self) -> str:
        return f"{self.task}: {self.measure}"


@dataclass
class OrganismTable:
    rows: list[MeasureRow]
    """Sorted by organism, task and measure."""
    baselines: dict[str, str]
    """organism -> baseline id, for organisms compared with their baseline."""
    logs: pd.DataFrame
    """organism, pair, task, log: the log each value came from."""
    notes: list[str] = field(default_factory=list)
    """Comparisons left out, and why."""

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def values(self) -> pd.DataFrame:
        """organisms x ``task: measure`` values."""
        return self._frame(lambda r: r.value)

    @property
    def vs_base(self) -> pd.DataFrame:
        """organisms x ``task: measure`` differences from the baseline."""
        return self._frame(lambda r: r.difference)

    def _frame(self, pick) -> pd.DataFrame:
        cells = [(r.organism, r.column, pick(r).value) for r in self.rows if pick(r).known]
        if not cells:
            return pd.DataFrame()
        frame = pd.DataFrame(cells, columns=["organism", "column", "value"])
        table = frame.pivot_table(index="organism", columns="column", values="value")
        table.columns.name = None
        return table.sort_index().sort_index(axis=1)


def card_baseline(organism: str) -> str | None:
    """The ``baseline`` named on the organism's card, or None (also when it has no card here)."""
    try:
        return registry().get(organism, check_files=False).baseline
    except CardError:
        return None


def is_control(organism: str) -> bool:
    """True for a control (no answer key of its own), False also when it has no card here."""
    try:
        return registry().get(organism, check_files=False).control
    except CardError:
        return False


def measure_for(task: str) -> Measure:
    """The naturalness measure of ``task`` (its statistics and directions), else a generic
    one: the mean of every numeric score key."""
    return MEASURES.get(task) or Measure(task, f"auditgame/{task}", None)


def _estimate(value: float, interval: tuple[float, float] | None, n: int) -> Estimate:
    low, high = interval if interval else (math.nan, math.nan)
    return Estimate(value, low, high, n)


def _alone(organism: str, task: str, scores: LogScores) -> list[MeasureRow]:
    """Rows of an organism without a measured baseline: each value with its interval."""
    rows = list(scores.rows.values())
    statistics = statistics_for(measure_for(task), rows)
    values = evaluate(statistics, rows)
    found = []
    for name, statistic in statistics.items():
        if name not in values:
            continue
        interval = value_interval(statistic, rows, binary=is_proportion(statistic, rows))
        pair = (interval.low, interval.high) if interval else None
        found.append(
            MeasureRow(organism, task, name, _estimate(values[name], pair, sample_count(statistic, rows)))
        )
    return found


def _compared(organism: str, task: str, baseline: str, comparison: Comparison) -> MeasureRow:
    c = comparison
    return MeasureRow(
        organism,
        task,
        c.statistic,
        _estimate(c.organism, c.organism_interval, c.organism_samples),
        baseline,
        _estimate(c.base, c.base_interval, c.base_samples),
        _estimate(c.difference, c.interval, min(c.organism_samples, c.base_samples)),
        c.interval_method,
        c.verdict,
    )


def _scores(frame: pd.DataFrame) -> LogScores:
    rows = dict(zip(frame["sample"], frame["row"]))
    errors = {key: {f"{k}_se": v for k, v in e.items()} for key, e in zip(frame["sample"], frame["errors"])}
    return LogScores(rows, errors)


def build_organism_table(measures: pd.DataFrame) -> OrganismTable:
    """Newest log per organism, answer key and task wins; see the module docstring."""
    if measures.empty:
        return OrganismTable([], {}, pd.DataFrame(columns=["organism", "pair", "task", "log"]))
    keys = ["organism", "pair", "task"]
    newest = measures.sort_values("created").groupby(keys)["log"].last().rename("newest")
    kept = measures.merge(newest.reset_index(), on=keys)
    kept = kept[kept["log"] == kept["newest"]]
    groups = {key: _scores(frame) for key, frame in kept.groupby(keys, sort=True)}
    rows: list[MeasureRow] = []
    baselines: dict[str, str] = {}
    notes: list[str] = []
    for (organism, pair, task), scores in groups.items():
        if pair != organism:
            continue  # a baseline measured against another organism's key: used below
        if task in KEYED_TASKS and is_control(organism):
            continue  # a control has no key of its own: 0 by construction, not a measurement
        base = card_baseline(organism)
        base_scores = groups.get((base, organism, task))
        if base_scores is None and task not in KEYED_TASKS:
            base_scores = groups.get((base, base, task))
        if base is None or base == organism or base_scores is None:
            if base not in (None, organism) and task in KEYED_TASKS:
                notes.append(
                    f"{organism} vs {base}: {task} of {base} was not measured against "
                    f"{organism}'s answer key, so no difference is shown (run auditgame/{task} "
                    f"on {organism} with its baseline, the default)"
                )
            rows += _alone(organism, task, scores)
            continue
        baselines[organism] = base
        rows += [
            _compared(organism, task, base, c)
            for c in compare_scores(measure_for(task), scores, base_scores)
        ]
    rows.sort(key=lambda r: (r.organism, r.task, r.measure))
    logs = newest.reset_index().rename(columns={"newest": "log"})[[*keys, "log"]]
    return OrganismTable(rows, baselines, logs, notes)
