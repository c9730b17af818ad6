"""Statistics over per-sample score rows, shared by the Inspect metrics and the report.

A row is one sample's score value as a dict of numbers (a scalar score becomes
``{"value": x}``). A statistic maps the rows of one run to a number, so the same function
gives a task's metric, the report's value and, over resampled rows, its bootstrap interval.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Row = Mapping[str, float]
Statistic = Callable[[Sequence[Row]], float | None]


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


def mean_of(key: str, where: str | None = None) -> Statistic:
    """Mean of ``key`` over rows (only rows whose ``where`` is 1, when given)."""

    def statistic(rows: Sequence[Row]) -> float | None:
        chosen = [r[key] for r in rows if key in r and (where is None or r.get(where) == 1.0)]
        return sum(chosen) / len(chosen) if chosen else None

    return statistic


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
    if len(diffs) < resamples // 2:
        return None
    diffs.sort()
    return diffs[int(0.025 * (len(diffs) - 1))], diffs[math.ceil(0.975 * (len(diffs) - 1))]
