"""The naturalness statistics, checked against independent computations: numpy's percentiles,
statsmodels' intervals, a percentile bootstrap written out here, and hand-computed cases."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import numpy as np
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from auditgame.naturalness.stats import (
    BOOTSTRAP,
    MIN_SAMPLES,
    NEWCOMBE,
    PAIRED_BOOTSTRAP,
    WILSON,
    Interval,
    _percentiles,
    as_row,
    bootstrap_difference,
    bootstrap_value,
    bootstrap_values,
    difference_interval,
    evaluate,
    is_proportion,
    mean_of,
    proportion,
    ratio_of,
    sample_count,
    value_interval,
)


def reference_percentiles(values: Sequence[float]) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles, taken at the data point below and above (numpy)."""
    return (
        float(np.percentile(values, 2.5, method="lower")),
        float(np.percentile(values, 97.5, method="higher")),
    )


def reference_bootstrap(
    statistic: Callable, rows: Sequence, resamples: int, seed: int = 0
) -> tuple[float, float]:
    """A percentile bootstrap written out: ``resamples`` draws of len(rows) rows with
    replacement from one `random.Random(seed)` stream."""
    rng = random.Random(seed)
    found = []
    for _ in range(resamples):
        value = statistic([rows[rng.randrange(len(rows))] for _ in range(len(rows))])
        if value is not None:
            found.append(value)
    return reference_percentiles(found)


def mean(rows: Sequence[dict]) -> float:
    return sum(r["value"] for r in rows) / len(rows)


def test_score_values_become_rows_of_finite_numbers():
    assert as_row("C") == {"value": 1.0} and as_row("I") == {"value": 0.0}
    assert as_row(True) == {"value": 1.0} and as_row(False) == {"value": 0.0}
    assert as_row(3) == {"value": 3.0} and as_row(-0.5) == {"value": -0.5}
    for not_measured in (math.nan, math.inf, -math.inf, "P", "c", None, [1.0]):
        assert as_row(not_measured) == {}, not_measured
    row = as_row({"a": 2, "b": math.nan, "c": "C", "d": "I", "e": "text", "f": True, "g": math.inf})
    assert row == {"a": 2.0, "c": 1.0, "d": 0.0, "f": 1.0}
    assert all(type(v) is float for v in row.values())


def test_means_proportions_and_counts_use_only_the_chosen_rows():
    rows = [{"refused": 1.0, "safe": 1.0}, {"refused": 0.0, "safe": 1.0},
            {"refused": 1.0, "safe": 0.0}, {"safe": 1.0}, {"refused": 1.0, "safe": 2.0}]
    assert mean_of("refused")(rows) == pytest.approx(3 / 4)
    on_safe = mean_of("refused", where="safe")
    assert on_safe(rows) == pytest.approx(1 / 2)  # rows 0 and 1 only: "safe" must be exactly 1
    assert proportion(on_safe, rows) == (1, 2) and sample_count(on_safe, rows) == 2
    assert proportion(mean_of("refused"), rows) == (3, 4)
    assert sample_count(mean_of("refused"), rows) == 4
    assert mean_of("missing")(rows) is None and proportion(mean_of("missing"), rows) is None
    assert proportion(mean_of("x"), [{"x": 1.0}, {"x": 0.5}]) is None  # not a 0/1 outcome
    assert proportion(mean_of("x"), [{"x": 1.0}, {"x": -1.0}]) is None
    ratio = ratio_of("x", "y")
    assert proportion(ratio, [{"x": 1.0, "y": 1.0}]) is None
    assert sample_count(ratio, [{"x": 1.0}, {"y": 2.0}, {}]) == 3  # a ratio uses every row


def test_a_proportion_must_be_zero_one_in_every_run_that_has_rows():
    share = mean_of("s")
    assert is_proportion(share, [{"s": 0.0}], [{"s": 1.0}, {"s": 0.0}], [])
    assert not is_proportion(share, [{"s": 0.0}], [{"s": 0.5}])
    assert not is_proportion(share, [{"s": 0.5}], [{"s": 1.0}])
    assert not is_proportion(ratio_of("s", "t"), [{"s": 1.0, "t": 1.0}])


def test_a_ratio_sums_each_key_over_the_rows_then_divides():
    rows = [{"nll": 6.0, "tokens": 3.0}, {"nll": 2.0, "tokens": 1.0, "words": 2.0}, {"nll": 4.0}]
    # (6 + 2 + 4) / (3 + 1): a ratio of sums, not a mean of ratios (which would be 2)
    assert ratio_of("nll", "tokens")(rows) == pytest.approx(3.0)
    assert ratio_of("nll", "words")(rows) == pytest.approx(6.0)
    assert ratio_of("nll", "tokens", exponentiate=True)(rows) == pytest.approx(math.exp(3.0))
    assert ratio_of("nll", "missing")(rows) is None
    assert ratio_of("nll", "tokens")([{"nll": 1.0, "tokens": 2.0}, {"tokens": -2.0}]) is None
    assert ratio_of("absent", "tokens")(rows) == 0.0


def test_evaluate_leaves_out_undefined_statistics():
    rows = [{"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 0.0}]
    statistics = {"a": mean_of("a"), "ratio": ratio_of("a", "b"), "c": mean_of("c"), "b": mean_of("b")}
    assert evaluate(statistics, rows) == {"a": 0.5, "b": 0.0}  # a zero is a value


def test_an_interval_contains_its_bounds():
    interval = Interval(-1.0, 2.0, BOOTSTRAP)
    assert interval.contains(-1.0) and interval.contains(2.0) and interval.contains(0.0)
    assert not interval.contains(-1.0001) and not interval.contains(2.0001)


@pytest.mark.parametrize("count", [1, 40, 41, 999, 1000, 1001, 2000])
def test_percentiles_are_the_data_points_below_and_above_numpys(count):
    rng = random.Random(count)
    values = [rng.gauss(0, 1) for _ in range(count)]
    assert len(set(values)) == count  # distinct: a bound one place off shows
    shuffled = list(values)
    random.Random(5).shuffle(shuffled)
    assert _percentiles(shuffled, count) == reference_percentiles(values)


def test_percentiles_need_at_least_half_the_resamples_defined():
    values = [float(v) for v in range(50)]
    assert _percentiles(list(values), 100) == reference_percentiles(values)
    assert _percentiles(list(values), 101) == reference_percentiles(values)  # 50 of 101
    assert _percentiles(list(values), 102) is None  # 50 of 102: fewer than half
    assert _percentiles(values[:49], 100) is None


def test_bootstrap_values_match_a_percentile_bootstrap_written_out():
    rng = random.Random(11)
    rows = [{"value": rng.expovariate(1.0), "hit": float(rng.random() < 0.3)} for _ in range(37)]
    hits = mean_of("hit")
    found = bootstrap_values({"mean": mean, "hits": hits}, rows, resamples=300, seed=4)
    assert found["mean"] == reference_bootstrap(mean, rows, 300, seed=4)
    assert found["hits"] == reference_bootstrap(hits, rows, 300, seed=4)
    assert bootstrap_value(mean, rows, 300, 4) == found["mean"]
    assert bootstrap_value(mean, rows) == reference_bootstrap(mean, rows, 1000, seed=0)
    assert bootstrap_values({"mean": mean}, rows) == {"mean": reference_bootstrap(mean, rows, 1000)}
    assert bootstrap_value(mean, rows, 300, 5) != found["mean"]


def test_each_resample_draws_as_many_rows_as_there_are_from_all_of_them():
    rows = [{"value": float(i)} for i in range(10)]
    seen: list[list[float]] = []

    def record(resampled: Sequence[dict]) -> float:
        seen.append([r["value"] for r in resampled])
        return 0.0

    bootstrap_value(record, rows, resamples=200)
    assert len(seen) == 200 and all(len(s) == 10 for s in seen)
    assert {v for s in seen for v in s} == {float(i) for i in range(10)}


def test_the_bootstrap_of_a_mean_has_the_normal_width():
    rng = random.Random(2)
    rows = [{"value": rng.gauss(10.0, 2.0)} for _ in range(400)]
    values = np.array([r["value"] for r in rows])
    half = 1.96 * values.std(ddof=1) / math.sqrt(len(values))
    low, high = bootstrap_value(mean, rows, resamples=2000)
    assert low == pytest.approx(values.mean() - half, abs=0.03)
    assert high == pytest.approx(values.mean() + half, abs=0.03)


def test_a_statistic_undefined_in_most_resamples_has_no_bootstrap_interval():
    rows = [{"x": 1.0}] + [{}] * 29  # x is drawn in about 64 % of resamples
    assert bootstrap_value(mean_of("x"), rows, resamples=200) is not None
    # a ratio whose denominator is drawn in about 70 % of the resamples, or never
    sparse = [{"n": 1.0, "d": 1.0}] + [{"n": 1.0}] * 2
    assert bootstrap_value(ratio_of("n", "d"), sparse, resamples=200) is not None
    never = [{"n": 1.0}] * 5
    assert bootstrap_value(ratio_of("n", "d"), never, resamples=200) is None


def test_a_proportion_gets_wilsons_interval_unless_told_it_is_not_one():
    rows = [{"hit": float(i % 3 == 0)} for i in range(30)]  # 10 of 30
    low, high = proportion_confint(10, 30, alpha=0.05, method="wilson")
    for binary in (None, True):
        interval = value_interval(mean_of("hit"), rows, binary=binary)
        assert interval is not None and interval.method == WILSON
        assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-12)
    as_values = value_interval(mean_of("hit"), rows, resamples=300, binary=False)
    assert as_values == Interval(*reference_bootstrap(mean_of("hit"), rows, 300), BOOTSTRAP)


def test_a_value_needs_min_samples_for_a_bootstrap_interval():
    rng = random.Random(3)
    rows = [{"value": rng.uniform(0, 1)} for _ in range(MIN_SAMPLES)]
    enough = value_interval(mean, rows, resamples=200)
    assert enough == Interval(*reference_bootstrap(mean, rows, 200), BOOTSTRAP)
    assert value_interval(mean, rows[:-1], resamples=200) is None
    assert value_interval(mean, rows) == Interval(*reference_bootstrap(mean, rows, 1000), BOOTSTRAP)
    # counted on the rows the statistic uses: 20 rows of which 19 have the key
    chosen = [{"x": r["value"]} for r in rows[:-1]] + [{}]
    assert value_interval(mean_of("x"), chosen, resamples=200) is None
    assert value_interval(ratio_of("value", "missing"), rows, resamples=200) is None


def test_two_proportions_get_newcombes_interval():
    organism = {i: {"hit": float(i < 12)} for i in range(30)}  # 12 of 30
    base = {i: {"hit": float(i < 5)} for i in range(25)}  # 5 of 25
    low, high = confint_proportions_2indep(12, 30, 5, 25, method="newcomb", compare="diff")
    interval = difference_interval(mean_of("hit"), organism, base)
    assert interval is not None and interval.method == NEWCOMBE
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-12)
    # only one of them a 0/1 outcome: a bootstrap of the difference
    graded = {i: {"hit": 0.5 if i == 0 else r["hit"]} for i, r in organism.items()}
    assert difference_interval(mean_of("hit"), graded, base).method == BOOTSTRAP
    assert difference_interval(mean_of("hit"), organism, {
        i: {"hit": 0.5 if i == 0 else r["hit"]} for i, r in base.items()}).method == BOOTSTRAP


def reference_difference(
    statistic: Callable, organism: dict, base: dict, resamples: int, seed: int = 0
) -> tuple[float, float]:
    """The bootstrap of a difference written out: the same keys drawn for both runs when they
    scored the same samples (in the order of their keys as text), else each run on its own."""
    rng = random.Random(seed)
    paired = set(organism) == set(base)
    keys = sorted(organism, key=str)
    org_rows, base_rows = list(organism.values()), list(base.values())
    diffs = []
    for _ in range(resamples):
        if paired:
            drawn = [keys[rng.randrange(len(keys))] for _ in range(len(keys))]
            a, b = statistic([organism[k] for k in drawn]), statistic([base[k] for k in drawn])
        else:
            a = statistic([org_rows[rng.randrange(len(org_rows))] for _ in range(len(org_rows))])
            b = statistic([base_rows[rng.randrange(len(base_rows))] for _ in range(len(base_rows))])
        if a is not None and b is not None:
            diffs.append(a - b)
    return reference_percentiles(diffs)


def shuffled_runs(count: int, base_count: int | None = None, seed: int = 8) -> tuple[dict, dict]:
    rng = random.Random(seed)
    keys = list(range(count))
    rng.shuffle(keys)  # ids in no particular order; 10 sorts before 2 as text
    base_keys = keys if base_count is None else [k + 1000 for k in range(base_count)]
    organism = {k: {"value": rng.gauss(1.0, 1.0)} for k in keys}
    base = {k: {"value": rng.gauss(0.0, 1.0)} for k in base_keys}
    return organism, base


def test_the_difference_of_runs_on_the_same_samples_is_a_paired_bootstrap():
    organism, base = shuffled_runs(25)
    found = bootstrap_difference(mean, organism, base, resamples=300, seed=2)
    assert found == reference_difference(mean, organism, base, 300, seed=2)
    assert bootstrap_difference(mean, organism, base) == reference_difference(mean, organism, base, 1000)
    interval = difference_interval(mean, organism, base, resamples=300)
    assert interval == Interval(*reference_difference(mean, organism, base, 300), PAIRED_BOOTSTRAP)
    by_default = difference_interval(mean, organism, base)
    assert by_default == Interval(*reference_difference(mean, organism, base, 1000), PAIRED_BOOTSTRAP)


def test_the_difference_of_runs_on_other_samples_resamples_each_run():
    organism, base = shuffled_runs(25, base_count=22)
    found = bootstrap_difference(mean, organism, base, resamples=300, seed=2)
    assert found == reference_difference(mean, organism, base, 300, seed=2)
    interval = difference_interval(mean, organism, base, resamples=300)
    assert interval == Interval(*reference_difference(mean, organism, base, 300), BOOTSTRAP)
    # the same keys but one sample more on either side: not paired
    for fewer in ("organism", "base"):
        organism, base = shuffled_runs(25)
        (organism if fewer == "organism" else base).pop(next(iter(base)))
        expected = reference_difference(mean, organism, base, 300)
        assert bootstrap_difference(mean, organism, base, 300) == expected, fewer
        assert difference_interval(mean, organism, base, resamples=300).method == BOOTSTRAP


def test_a_difference_needs_min_samples_in_both_runs():
    organism, base = shuffled_runs(MIN_SAMPLES, base_count=MIN_SAMPLES)
    assert difference_interval(mean, organism, base, resamples=200) is not None
    fewer = dict(list(base.items())[1:])
    assert difference_interval(mean, organism, fewer, resamples=200) is None
    assert difference_interval(mean, dict(list(organism.items())[1:]), base, resamples=200) is None
    # counted on the rows the statistic uses: 25 rows, of which 19 are chosen on one side
    chosen = mean_of("value", where="chosen")
    rng = random.Random(9)
    many = {i: {"value": rng.uniform(0, 2), "chosen": 1.0} for i in range(25)}
    few = {i: {**r, "chosen": float(i < MIN_SAMPLES - 1)} for i, r in many.items()}
    assert difference_interval(chosen, many, many, resamples=200) is not None
    assert difference_interval(chosen, few, many, resamples=200) is None
    assert difference_interval(chosen, many, few, resamples=200) is None


def test_a_difference_undefined_in_most_resamples_has_no_interval():
    organism, base = shuffled_runs(MIN_SAMPLES)
    sparse = {k: ({"n": 1.0, "d": 1.0} if i == 0 else {"n": 1.0}) for i, k in enumerate(base)}
    never = {k: {"n": 1.0} for k in base}
    ratio = ratio_of("n", "d")
    assert bootstrap_difference(ratio, sparse, sparse, resamples=200) is not None
    assert bootstrap_difference(ratio, never, sparse, resamples=200) is None
    assert difference_interval(ratio, never, sparse, resamples=200) is None
