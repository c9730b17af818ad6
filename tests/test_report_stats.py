"""The leaderboard's estimates against intervals computed here from their textbook formulas."""

from __future__ import annotations

import math

import pytest

from auditgame.report.stats import (
    NONE,
    Estimate,
    is_known,
    mean_estimate,
    ranking_score,
    rate_estimate,
)

Z = 1.959963984540054  # the 97.5 % normal quantile


def wilson(successes: float, trials: int) -> tuple[float, float]:
    p = successes / trials
    centre = (p + Z**2 / (2 * trials)) / (1 + Z**2 / trials)
    half = Z / (1 + Z**2 / trials) * math.sqrt(p * (1 - p) / trials + Z**2 / (4 * trials**2))
    return centre - half, centre + half


def newcombe(a: float, n: int, b: float, m: int) -> tuple[float, float]:
    """Newcombe's method 10: the difference's bounds from each rate's Wilson interval."""
    p, q = a / n, b / m
    (l1, u1), (l2, u2) = wilson(a, n), wilson(b, m)
    return p - q - math.hypot(p - l1, u2 - q), p - q + math.hypot(u1 - p, q - l2)


def test_an_estimate_reads_as_value_and_interval_or_a_dash():
    assert Estimate(0.5, 0.15, 0.85, 10).text() == "0.50 [0.15, 0.85]"
    assert Estimate(0.5, math.nan, math.nan, 1).text() == "0.50"
    assert NONE.text() == "–" and Estimate(math.nan, 0.0, 1.0, 3).text() == "–"
    assert is_known(Estimate(0.0, 0.0, 0.0, 1))
    assert not is_known(NONE) and not is_known(0.5) and not is_known("–")


def test_the_score_is_the_difference_of_rates_with_newcombes_interval():
    found = [1.0] * 5 + [0.0] * 5
    alarms = [0.0] * 8 + [1.0] * 2
    score = ranking_score(found, alarms)
    assert score.value == pytest.approx(0.5 - 0.2) and score.n == 20
    assert (score.lo, score.hi) == pytest.approx(newcombe(5, 10, 2, 10), abs=1e-6)
    single = ranking_score([1.0], [0.0, 0.0])  # one quirky run is enough to score
    assert single.value == 1.0 and (single.lo, single.hi) == pytest.approx(newcombe(1, 1, 0, 2), abs=1e-6)


@pytest.mark.parametrize("found, alarms", [([], [1.0, 0.0]), ([1.0, 1.0, 0.0], [])])
def test_without_runs_of_both_kinds_there_is_no_score(found, alarms):
    score = ranking_score(found, alarms)
    assert all(math.isnan(x) for x in (score.value, score.lo, score.hi))
    assert score.n == len(found) + len(alarms)


@pytest.mark.parametrize("found, alarms", [([1.0], [1.5]), ([-0.5], [0.0])])
def test_the_score_refuses_outcomes_outside_0_and_1(found, alarms):
    with pytest.raises(ValueError, match=r"^the ranking score needs outcomes between 0 and 1 per run$"):
        ranking_score(found, alarms)


def test_rates_refuse_outcomes_outside_0_and_1_and_match_wilson():
    with pytest.raises(ValueError, match=r"^a rate needs outcomes between 0 and 1$"):
        rate_estimate([0.0, -0.1])
    rate = rate_estimate([1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    assert rate.value == pytest.approx(2 / 7) and rate.n == 7
    assert (rate.lo, rate.hi) == pytest.approx(wilson(2, 7), abs=1e-6)


def test_means_of_two_or_more_values_get_a_student_t_interval():
    pair = mean_estimate([1.0, 3.0])  # t(1) = 12.706205: 2 ± 12.706205 * 1
    assert (pair.value, pair.n) == (2.0, 2)
    assert (pair.lo, pair.hi) == pytest.approx((2 - 12.706205, 2 + 12.706205), abs=1e-5)
    single = mean_estimate([7.0])
    assert single.n == 1 and math.isnan(single.lo) and math.isnan(single.hi)
    same = mean_estimate([2.0, 2.0, 2.0])  # no spread observed
    assert (same.value, same.lo, same.hi, same.n) == (2.0, 2.0, 2.0, 3)
    calls = mean_estimate([4.0, 1.0, 3.0, 2.0])
    assert calls.n == 4 and calls.value == 2.5
