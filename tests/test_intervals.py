"""Intervals that stay honest at small n, the naturalness report's verdicts and its chart, and
the formatting of numbers in every report."""

from __future__ import annotations

import random

import matplotlib.image
import pytest

from auditgame.naturalness.measures import MEASURES
from auditgame.naturalness.report import (
    TOO_FEW,
    Comparison,
    LogScores,
    chart,
    compare_scores,
    markdown,
)
from auditgame.naturalness.stats import (
    MIN_SAMPLES,
    NEWCOMBE,
    mean_of,
    newcombe_interval,
    ratio_of,
    value_interval,
    wilson_interval,
)
from auditgame.numbers import number, with_interval

# Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (hybrid score)
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]
# Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score)
WILSON_TABLE_I = [((81, 263), (0.2553, 0.3662)), ((15, 148), (0.0624, 0.1605)), ((0, 20), (0.0, 0.1611)),
                  ((1, 29), (0.0061, 0.1718))]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_TABLE_II)
def test_newcombe_interval_matches_the_published_table(counts, expected):
    interval = newcombe_interval(*counts)
    assert (interval.low, interval.high) == pytest.approx(expected, abs=6e-5)


@pytest.mark.parametrize(("counts", "expected"), WILSON_TABLE_I)
def test_wilson_interval_matches_the_published_table(counts, expected):
    interval = wilson_interval(*counts)
    assert (interval.low, interval.high) == pytest.approx(expected, abs=6e-5)


def scores(values: list[float], key: str = "value", prefix: str = "s") -> LogScores:
    rows = {(f"{prefix}{i}", 1): {key: v} for i, v in enumerate(values)}
    return LogScores(rows, {k: {} for k in rows})


def test_five_samples_that_agree_are_too_few_to_tell():
    """0/5 against 0/5: a bootstrap says [0, 0]; the honest interval is wide and says so."""
    [c] = compare_scores(MEASURES["mmlu"], scores([0.0] * 5), scores([0.0] * 5, prefix="b"))
    assert c.interval_method == NEWCOMBE
    assert c.interval == pytest.approx((-0.4345, 0.4345), abs=1e-4)
    assert c.organism_interval == pytest.approx((0.0, 0.4345), abs=1e-4)
    assert c.verdict == TOO_FEW
    assert (c.organism_samples, c.base_samples) == (5, 5)
    # the same agreement on enough samples is a clear "no change"
    n = MIN_SAMPLES
    [enough] = compare_scores(MEASURES["mmlu"], scores([0.0] * n), scores([0.0] * n, prefix="b"))
    assert enough.verdict == "no clear change"
    # and a large gap is found even at small n
    [gap] = compare_scores(MEASURES["mmlu"], scores([1.0] * 10), scores([0.0] * 10, prefix="b"))
    assert gap.verdict == "better" and gap.interval[0] > 0.6


def test_a_statistic_that_is_not_a_proportion_needs_enough_samples_for_an_interval():
    measure = MEASURES["perplexity"]
    rng = random.Random(1)

    def windows(count: int, prefix: str) -> LogScores:
        rows = {(f"{prefix}{i}", 1): {"nll": rng.uniform(2, 3) * 100, "tokens": 100.0,
                                      "nll_bits": 1.0, "words": 80.0, "bytes": 400.0}
                for i in range(count)}
        return LogScores(rows, {k: {} for k in rows})

    few = {c.statistic: c for c in compare_scores(measure, windows(5, "o"), windows(5, "b"))}
    assert few["token_perplexity"].interval is None
    assert few["token_perplexity"].verdict == TOO_FEW
    enough = {c.statistic: c for c in compare_scores(measure, windows(30, "o"), windows(30, "b"))}
    assert enough["token_perplexity"].interval is not None
    assert enough["token_perplexity"].interval_method == "percentile bootstrap"
    assert value_interval(ratio_of("nll", "tokens"), list(windows(5, "x").rows.values())) is None


def test_counts_are_the_samples_a_statistic_uses():
    """Over-refusal is a rate over safe prompts only: n counts those, not every sample."""
    rows = [{"safe": 1.0, "refused": 1.0}, {"safe": 1.0, "refused": 0.0}, {"safe": 0.0, "complied": 1.0}]
    statistic = mean_of("refused", where="safe")
    interval = value_interval(statistic, rows)
    assert interval == wilson_interval(1, 2)


def test_markdown_and_chart_show_both_values_counts_and_method(tmp_path):
    [c] = compare_scores(MEASURES["mmlu"], scores([1.0, 0.0, 1.0, 1.0, 0.0]),
                         scores([0.0] * 5, prefix="b"))
    text = markdown("tiny-krel", "tiny-base", [c], {"perplexity": "local organisms only"})
    row = next(line for line in text.splitlines() if line.startswith("| mmlu"))
    assert "0.60 [0.23, 0.88]" in row and "0.00 [0.00, 0.43]" in row  # Wilson, both values
    assert "| 5 / 5 |" in row and NEWCOMBE in row and TOO_FEW not in row
    assert "- perplexity: local organisms only" in text
    path = tmp_path / "chart.png"
    chart(path, "tiny-krel", "tiny-base", [c, c])
    pixels = matplotlib.image.imread(path)[..., :3]
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    blues = (blue > 0.6) & (red < 0.3) & (green > 0.35) & (green < 0.6)  # tab:blue: organism
    oranges = (red > 0.9) & (green > 0.4) & (green < 0.6) & (blue < 0.2)  # tab:orange: base
    assert blues.sum() > 50 and oranges.sum() > 50


def test_verdict_without_direction_or_interval():
    assert Comparison("m", "s", 1.0, 2.0, -1.0, None, None, 50, 50).verdict == "n/a"
    assert Comparison("m", "s", 1.0, 2.0, -1.0, (-2.0, -0.5), False, 3, 3).verdict == "better"
    assert Comparison("m", "s", 1.0, 2.0, -1.0, (-2.0, -0.5), None, 30, 30).verdict == "lower"
    assert Comparison("m", "s", 2.0, 1.0, 1.0, (0.5, 2.0), None, 30, 30).verdict == "higher"


@pytest.mark.parametrize(
    ("value", "interval", "text"),
    [
        (0.5, (0.15, 0.85), "0.50 [0.15, 0.85]"),
        (-0.02, (-0.43, 0.43), "\u22120.02 [\u22120.43, 0.43]"),
        (4123.4, (3990.0, 4250.2), "4123 [3990, 4250]"),
        (12.345, None, "12.3"),
        (0.0034, (0.001, 0.0061), "0.0034 [0.0010, 0.0061]"),
        (123456.0, None, "123,456"),
        (-0.0001, (-0.3, 0.3), "0.00 [\u22120.30, 0.30]"),
    ],
)
def test_numbers_read_with_sensible_significant_figures(value, interval, text):
    assert with_interval(value, interval) == text
    assert number(float("nan")) == "–"


def test_a_share_that_happens_to_be_zero_is_not_a_zero_one_outcome():
    """One preference fit per run: intransitive_share 0 in one run, 0.1 in the other."""
    organism = scores([0.0], key="intransitive_share")
    base = scores([0.1], key="intransitive_share", prefix="b")
    comparisons = {c.statistic: c for c in compare_scores(MEASURES["preferences"], organism, base)}
    share = comparisons["intransitive_share"]
    assert share.organism_interval is None and share.interval is None
    assert share.verdict == TOO_FEW
