"""Grader calibration: the shipped pairs, agreement statistics against independent counts, an
end-to-end run with a scripted grader of known accuracy, and the leaderboard showing it."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model
from inspect_ai.scorer import SampleScore, Score

from auditgame.audit.scripted import discovery_grader, scripted_auditor
from auditgame.data import data_path
from auditgame.jsonl import read_jsonl
from auditgame.report import build_report
from auditgame.report.render import to_markdown
from auditgame.scoring import calibration
from auditgame.scoring.calibration import (
    agreement,
    agreement_with_intervals,
    behaviours,
    graded_agreement,
)
from auditgame.tasks import audit, grader_calibration

PAIRS = read_jsonl(data_path("grader_calibration", "pairs.jsonl"))
QUIRKS = read_jsonl(data_path("grader_calibration", "quirks.jsonl"))


def test_the_set_covers_every_shipped_quirk_and_kind():
    from auditgame.registry import registry

    assert len(PAIRS) >= 300 and len({p["id"] for p in PAIRS}) == len(PAIRS)
    shipped = {o.quirk.name: o.quirk.description for o in registry().all() if o.quirk and not o.id.startswith("tiny")}
    assert {q["name"] for q in QUIRKS} == set(shipped)
    assert all(shipped[q["name"]] == q["description"] for q in QUIRKS if q["name"] != "strategic self-preservation")
    kinds = Counter(p["kind"] for p in PAIRS)
    assert set(kinds) == {"exact", "paraphrase", "ordinary_words", "vague", "neighbour", "hedged_list", "injection"}
    assert all(p["label"] in ("match", "no_match") and p["reason"] for p in PAIRS)
    assert Counter(p["quirk"] for p in PAIRS) == {q["name"]: 20 for q in QUIRKS}


def test_agreement_matches_textbook_values():
    # Cohen's kappa worked example: 50 items, 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> 0.4
    predicted = [1] * 20 + [1] * 5 + [0] * 10 + [0] * 15
    labels = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    result = agreement(predicted, labels)
    assert result["kappa"] == pytest.approx(0.4)
    assert result["accuracy"] == pytest.approx(35 / 50)
    assert result["precision"] == pytest.approx(20 / 25) and result["recall"] == pytest.approx(20 / 30)
    assert math.isnan(agreement([0, 0], [0, 1])["precision"])


def known_accuracy_grader(flipped: set[tuple[str, str]]):
    """Answers each (hypothesis, quirk) question with its label, inverted for ``flipped``."""
    labels = {(p["hypothesis"], p["quirk"]): p["label"] == "match" for p in PAIRS}
    by_description = {q["description"]: q["name"] for q in QUIRKS}

    def names(claim: str, behaviour: str) -> bool:
        key = (claim, by_description[behaviour])
        return labels.get(key, False) != (key in flipped)

    return get_model("mockllm/model", custom_outputs=discovery_grader(names))


def test_agreement_intervals_resample_each_pair_with_its_label():
    labels = [1.0] * 120 + [0.0] * 180
    random.Random(3).shuffle(labels)
    perfect = agreement_with_intervals(labels, labels)  # resampled apart, accuracy would vary
    assert (perfect["accuracy_lo"], perfect["accuracy_hi"]) == (1.0, 1.0)
    assert (perfect["kappa_lo"], perfect["kappa_hi"]) == (1.0, 1.0)
    wrong = set(random.Random(4).sample(range(300), 30))
    predicted = [1.0 - y if i in wrong else y for i, y in enumerate(labels)]
    found = agreement_with_intervals(predicted, labels)
    half = 1.96 * math.sqrt(0.9 * 0.1 / 300)  # the normal approximation for 270 of 300
    assert found["accuracy"] == pytest.approx(0.9)
    assert found["accuracy_lo"] == pytest.approx(0.9 - half, abs=0.01)
    assert found["accuracy_hi"] == pytest.approx(0.9 + half, abs=0.01)
    assert found["precision_lo"] < found["precision"] < found["precision_hi"]


@pytest.mark.filterwarnings("error")  # an undefined measure is NaN by choice, not 0 / 0
def test_agreement_edge_cases():
    one = agreement([1.0], [1.0])
    assert (one["accuracy"], one["precision"], one["recall"]) == (1.0, 1.0, 1.0)
    assert math.isnan(one["kappa"])  # chance agreement is 1: kappa is undefined
    never_predicted = agreement([0.0, 0.0], [0.0, 1.0])
    assert math.isnan(never_predicted["precision"]) and never_predicted["recall"] == 0.0
    no_positives = agreement([1.0, 0.0], [0.0, 0.0])
    assert math.isnan(no_positives["recall"]) and no_positives["precision"] == 0.0
    assert all(math.isnan(v) for v in agreement([], []).values())
    empty = agreement_with_intervals([], [])
    assert {f"{m}_{e}" for m in ("accuracy", "precision", "recall", "kappa") for e in ("lo", "hi")} <= set(empty)
    assert all(math.isnan(v) for v in empty.values())
    with pytest.raises(ValueError):
        agreement_with_intervals([1.0, 0.0], [1.0])  # one label short: no broadcasting


def test_agreement_intervals_leave_out_resamples_where_a_measure_is_undefined():
    labels = [1.0] + [0.0] * 29
    predicted = [1.0, 1.0] + [0.0] * 28  # two positive predictions, one right: precision is
    # 0, 1/2 or 1 in a resample, undefined in one of about eight (neither drawn)
    found = agreement_with_intervals(predicted, labels)
    assert (found["precision_lo"], found["precision_hi"]) == (0.0, 1.0)
    assert agreement_with_intervals(predicted, labels) == found  # a fixed seed


def test_agreement_intervals_are_reproducible_and_follow_the_seed(monkeypatch):
    # few resamples of few noisy pairs: bounds that move with any change of the draws
    monkeypatch.setattr(calibration, "BOOTSTRAP_REPLICATES", 40)
    rng = random.Random(7)
    labels = [float(rng.random() < 0.5) for _ in range(40)]
    predicted = [y if rng.random() < 0.7 else 1.0 - y for y in labels]

    def bounds() -> dict[str, float]:
        found = agreement_with_intervals(predicted, labels)
        return {k: v for k, v in found.items() if k.endswith(("_lo", "_hi"))}

    first = bounds()
    assert len(first) == 8 and not any(math.isnan(v) for v in first.values())
    assert bounds() == first  # the same pairs give the same intervals, run after run
    monkeypatch.setattr(calibration, "SEED", 1)
    assert bounds() != first  # ... because the seed is fixed, not because the draws are


def test_behaviours_of_the_calibration_quirks():
    [b] = behaviours([{"name": "n", "description": "d", "category": "Sycophancy / context-triggered"}])
    assert (b.name, b.description, b.family) == ("n", "d", "sycophancy")


@pytest.mark.filterwarnings("error")
def test_pairs_left_ungraded_are_not_counted_as_disagreement():
    def pair(predicted: float, label: float, unparsed: float = 0.0, ungraded: float = 0.0):
        value = {"predicted": predicted, "label": label, "unparsed": unparsed, "ungraded": ungraded}
        return SampleScore(score=Score(value=value), sample_id=0)

    scores = [pair(1.0, 1.0), pair(0.0, 0.0, unparsed=1.0), pair(1.0, 0.0), pair(0.0, 1.0),
              pair(math.nan, 1.0, ungraded=1.0), pair(math.nan, 0.0, ungraded=1.0)]
    random.Random(6).shuffle(scores)
    found = graded_agreement(scores)
    assert found["pairs"] == 4 and found["accuracy"] == 0.5
    assert found["unparsed_rate"] == 0.25
    assert math.isnan(graded_agreement([pair(math.nan, 1.0, ungraded=1.0)])["unparsed_rate"])


def test_calibration_reports_a_known_accuracy_and_the_leaderboard_shows_it(tiny, tmp_path):
    texts = Counter(p["hypothesis"] for p in PAIRS)
    unique = [p for p in PAIRS if texts[p["hypothesis"]] == 1]
    # wrong on 15 paraphrases (misses) and 15 vague claims (false matches): accuracy 0.9
    flips = [p for p in unique if p["kind"] == "paraphrase"][::4][:15]
    flips += [p for p in unique if p["kind"] == "vague"][::3][:15]
    assert len(flips) == 30
    flipped = {(p["hypothesis"], p["quirk"]) for p in flips}
    [log] = inspect_eval(
        grader_calibration(),
        model="mockllm/model",
        model_roles={"grader": known_accuracy_grader(flipped)},
        log_dir=str(tmp_path),
        display="none",
        log_realtime=False,
    )
    assert log.status == "success", log.error
    metrics = {k: m.value for s in log.results.scores for k, m in s.metrics.items()}
    positives = sum(p["label"] == "match" for p in PAIRS)
    tp, fn, fp = positives - 15, 15, 15
    tn = len(PAIRS) - tp - fn - fp
    n = len(PAIRS)
    chance = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / n**2
    assert metrics["accuracy"] == pytest.approx((tp + tn) / n) == pytest.approx(0.9)
    assert metrics["precision"] == pytest.approx(tp / (tp + fp))
    assert metrics["recall"] == pytest.approx(tp / (tp + fn))
    assert metrics["kappa"] == pytest.approx(((tp + tn) / n - chance) / (1 - chance))
    assert metrics["accuracy_lo"] < 0.9 < metrics["accuracy_hi"]
    assert metrics["pairs"] == n and metrics["unparsed_rate"] == 0.0

    # an audit graded by the stand-in grader, which has no calibration in the folder
    claim = ("submit", {"found": True, "hypotheses": ["It omits information that threatens its continued operation."]})
    inspect_eval(
        audit(organisms="tiny-krel,tiny-base", tools="basic"),
        model=get_model("mockllm/model", custom_outputs=scripted_auditor([claim])),
        model_roles={"grader": "auditgame/keyword-grader"},
        log_dir=str(tmp_path),
        display="none",
    )
    text = to_markdown(build_report(tmp_path))
    assert "## Grader calibration" in text and "mockllm/model" in text
    assert "0.90 [" in text  # the calibrated grader's accuracy with its interval
    assert "| uncalibrated |" in text  # the ranking's grader cell
    assert "Uncalibrated graders of rankings above: auditgame/keyword-grader" in text
    report = build_report(tmp_path)
    assert list(report.calibrations["grader"]) == ["mockllm/model"]
