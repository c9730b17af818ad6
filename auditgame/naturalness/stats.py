"""Statistics over per-sample score rows, shared by the Inspect metrics and the report.

A row is one sample's score value as a dict of numbers (a scalar score becomes
``{"value": x}``). A statistic maps the rows of one run to a number, so the same function
gives a task's metric, the report's value and, over resampled rows, its bootstrap interval.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Row = Mapping[str, float]
Statistic = Callable[[Sequence[Row]], float | None]

MIN_SAMPLES = 20
"""Fewer samples than this per run: no bootstrap interval (the percentile bootstrap is too
narrow at small n), and an interval that contains 0 reads "too few samples", not "no change"."""


def as_row(value: Any) -> dict[str, float]:
    """A score value as a row of numbers (``C``/``I`` and booleans become 1/0)."""
    if isinstance(value, Mapping):
        return {k: n for k, v in value.items() if (n := _number(v)) is not None}
    number = _number(value)
    return {"value": number} if number is not None else {}


def _number(value: Any) -> float | None:
    """A finite number, else None (NaN marks 'not measured' in some scorers)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if value in ("C", "I"):
        return 1.0 if value == "C" else 0.0
    return None


@dataclass(frozen=True)
class MeanOf:
    """Mean of ``key`` over rows (only rows whose ``where`` is 1, when given)."""

    key: str
    where: str | None = None

    def chosen(self, rows: Sequence[Row]) -> list[float]:
        return [
            r[self.key]
            for r in rows
            if self.key in r and (self.where is None or r.get(self.where) == 1.0)
        ]

    def __call__(self, rows: Sequence[Row]) -> float | None:
        chosen = self.chosen(rows)
        return sum(chosen) / len(chosen) if chosen else None


def mean_of(key: str, where: str | None = None) -> Statistic:
    """Mean of ``key`` over rows (only rows whose ``where`` is 1, when given)."""
    return MeanOf(key, where)


def proportion(statistic: Statistic, rows: Sequence[Row]) -> tuple[int, int] | None:
    """(successes, trials) when ``statistic`` is a mean of 0/1 values over ``rows``, else None."""
    if not isinstance(statistic, MeanOf):
        return None
    chosen = statistic.chosen(rows)
    if not chosen or any(v not in (0.0, 1.0) for v in chosen):
        return None
    return int(sum(chosen)), len(chosen)


def is_proportion(statistic: Statistic, *runs: Sequence[Row]) -> bool:
    """True when ``statistic`` is a mean of 0/1 outcomes in every one of ``runs`` (judged on
    all of them together: a share that happens to be 0 in one run is not a 0/1 outcome)."""
    return all(proportion(statistic, rows) is not None for rows in runs if rows)


def sample_count(statistic: Statistic, rows: Sequence[Row]) -> int:
    """How many of ``rows`` the statistic uses (all of them unless it is a `MeanOf`)."""
    return len(statistic.chosen(rows)) if isinstance(statistic, MeanOf) else len(rows)


def ratio_of(numerator: str, denominator: str, exponentiate: bool = False) -> Statistic:
    """``sum(numerator) / sum(denominator)`` over rows, optionally ``exp`` of it."""

    def statistic(rows: Sequence[Row]) -> float | None:
        den = sum(r.get(denominator, 0.0) for r in rows)
        if not den:
            return None
        value = sum(r.get(numerator, 0.0) for r in rows) / den
        return math.exp(value) if exponentiate else value

    return statistic


def evaluate(statistics: Mapping[str, Statistic], rows: Sequence[Row]) -> dict[str, float]:
    values = {name: stat(rows) for name, stat in statistics.items()}
    return {name: v for name, v in values.items() if v is not None}


@dataclass(frozen=True)
class Interval:
    """A 95% interval and how it was computed."""

    low: float
    high: float
    method: str

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


WILSON = "Wilson score"
NEWCOMBE = "Newcombe hybrid score"
BOOTSTRAP = "percentile bootstrap"
PAIRED_BOOTSTRAP = "paired percentile bootstrap"


def wilson_interval(successes: float, trials: int) -> Interval:
    """95% Wilson score interval of a proportion (statsmodels ``proportion_confint``)."""
    from statsmodels.stats.proportion import proportion_confint

    low, high = proportion_confint(successes, trials, alpha=0.05, method="wilson")
    return Interval(float(low), float(high), WILSON)


def newcombe_interval(
    successes: float, trials: int, base_successes: float, base_trials: int
) -> Interval:
    """95% interval of ``successes/trials - base_successes/base_trials`` for independent
    samples: Newcombe's hybrid score interval (method 10 of Newcombe 1998, built from Wilson
    intervals; honest at small n and at 0 or 1; statsmodels ``confint_proportions_2indep``)."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    low, high = confint_proportions_2indep(
        successes, trials, base_successes, base_trials, method="newcomb", compare="diff",
        alpha=0.05,
    )
    return Interval(float(low), float(high), NEWCOMBE)


def bootstrap_value(
    statistic: Statistic, rows: Sequence[Row], resamples: int = 1000, seed: int = 0
) -> tuple[float, float] | None:
    """95% percentile-bootstrap interval of ``statistic(rows)`` (None if mostly undefined)."""
    return bootstrap_values({"value": statistic}, rows, resamples, seed)["value"]


def bootstrap_values(
    statistics: Mapping[str, Statistic], rows: Sequence[Row], resamples: int = 1000, seed: int = 0
) -> dict[str, tuple[float, float] | None]:
    """`bootstrap_value` of several statistics over the same resamples of ``rows``."""
    rng = random.Random(seed)
    values: dict[str, list[float]] = {name: [] for name in statistics}
    for _ in range(resamples):
        resampled = [rows[rng.randrange(len(rows))] for _ in rows]
        for name, statistic in statistics.items():
            value = statistic(resampled)
            if value is not None:
                values[name].append(value)
    return {name: _percentiles(found, resamples) for name, found in values.items()}


def _percentiles(values: list[float], resamples: int) -> tuple[float, float] | None:
    if len(values) < resamples // 2:
        return None
    values.sort()
    return values[int(0.025 * (len(values) - 1))], values[math.ceil(0.975 * (len(values) - 1))]


def value_interval(
    statistic: Statistic, rows: Sequence[Row], resamples: int = 1000, binary: bool | None = None
) -> Interval | None:
    """The 95% interval of one run's statistic: Wilson for a proportion (``binary``: whether
    it is one, judged on ``rows`` when None), else a percentile bootstrap with at least
    `MIN_SAMPLES` samples, else None (too few to say)."""
    counts = proportion(statistic, rows)
    if counts is not None and binary is not False:
        return wilson_interval(*counts)
    if sample_count(statistic, rows) < MIN_SAMPLES:
        return None
    found = bootstrap_value(statistic, list(rows), resamples)
    return Interval(*found, BOOTSTRAP) if found else None


def difference_interval(
    statistic: Statistic,
    organism: Mapping[Any, Row],
    base: Mapping[Any, Row],
    resamples: int = 1000,
) -> Interval | None:
    """The 95% interval of ``statistic(organism) - statistic(base)``: Newcombe's interval for
    two proportions, else a (paired when the runs scored the same samples) percentile
    bootstrap when both runs have at least `MIN_SAMPLES` samples, else None."""
    org_rows, base_rows = list(organism.values()), list(base.values())
    counts = proportion(statistic, org_rows), proportion(statistic, base_rows)
    if counts[0] is not None and counts[1] is not None:
        return newcombe_interval(*counts[0], *counts[1])
    if min(sample_count(statistic, org_rows), sample_count(statistic, base_rows)) < MIN_SAMPLES:
        return None
    found = bootstrap_difference(statistic, organism, base, resamples)
    if found is None:
        return None
    paired = set(organism) == set(base)
    return Interval(*found, PAIRED_BOOTSTRAP if paired else BOOTSTRAP)


def bootstrap_difference(
    statistic: Statistic,
    organism: Mapping[Any, Row],
    base: Mapping[Any, Row],
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """95% percentile interval of ``statistic(organism) - statistic(base)``.

    Rows are keyed by sample id; when both runs scored the same samples they are resampled
    together (paired), otherwise each run is resampled on its own.
    """
    rng = random.Random(seed)
    shared = sorted(set(organism) & set(base), key=str)
    paired = len(shared) == len(organism) == len(base)
    org_rows, base_rows = list(organism.values()), list(base.values())
    diffs = []
    for _ in range(resamples):
        if paired:
            keys = [shared[rng.randrange(len(shared))] for _ in shared]
            a = statistic([organism[k] for k in keys])
            b = statistic([base[k] for k in keys])
        else:
            a = statistic([org_rows[rng.randrange(len(org_rows))] for _ in org_rows])
            b = statistic([base_rows[rng.randrange(len(base_rows))] for _ in base_rows])
        if a is not None and b is not None:
            diffs.append(a - b)
    return _percentiles(diffs, resamples)
