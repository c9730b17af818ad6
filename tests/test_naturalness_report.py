"""The naturalness report from Inspect logs: which scores it reads, how it pairs organism and
base, the stored-SE intervals of single-sample measures, and what the table, the JSON and the
chart show. Expected intervals come from statsmodels and the normal formula written out."""

from __future__ import annotations

import json
import math

import matplotlib.image
import matplotlib.pyplot
import pytest
from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalSample, EvalSpec, write_eval_log
from inspect_ai.scorer import Score
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from auditgame.naturalness import report
from auditgame.naturalness.measures import MEASURES, Measure
from auditgame.naturalness.report import STORED_SE, Comparison, LogScores
from auditgame.naturalness.stats import NEWCOMBE, ratio_of


def write_log(path, samples: list[tuple]) -> str:
    """A log of samples ``(id, epoch, scores)`` (``scores``: name -> Score, or None)."""
    spec = EvalSpec(created="2026-01-01T00:00:00", task="t", dataset=EvalDataset(),
                    model="mockllm/model", config=EvalConfig())
    log = EvalLog(eval=spec, samples=[EvalSample(id=i, epoch=e, input="x", target="", scores=s)
                                      for i, e, s in samples])
    write_eval_log(log, str(path))
    return str(path)


def test_read_scores_keys_rows_by_sample_and_epoch_from_the_first_scorer(tmp_path):
    location = write_log(tmp_path / "a.eval", [
        (1, 1, {"first": Score(value={"x": 1.0, "ok": "C", "nan": float("nan")}, metadata={"role": "baseline"}),
                "second": Score(value={"x": 9.0})}),
        (1, 2, {"first": Score(value=0.25)}),
        ("s", 1, None),
        ("t", 1, {}),
    ])
    scores = report.read_scores(location)
    assert scores.rows == {(1, 1): {"x": 1.0, "ok": 1.0}, (1, 2): {"value": 0.25}}
    assert scores.metadata == {(1, 1): {"role": "baseline"}, (1, 2): {}}


def test_compare_roles_splits_one_log_by_role_and_defaults_to_the_organism(tmp_path):
    samples = [(f"o{i}", 1, {"s": Score(value={"leak": float(i < 3)}, metadata={"role": "organism"} if i % 2 else {})})
               for i in range(6)]
    samples += [(f"b{i}", 1, {"s": Score(value={"leak": float(i < 1)}, metadata={"role": "baseline"})})
                for i in range(4)]
    samples += [("x", 1, {"s": Score(value={"leak": 1.0}, metadata={"role": "other"})})]
    location = write_log(tmp_path / "roles.eval", samples)
    [c] = report.compare_roles(MEASURES["leakage"], location, resamples=50)
    assert (c.organism, c.base, c.organism_samples, c.base_samples) == (0.5, 0.25, 6, 4)
    assert c.interval == pytest.approx(confint_proportions_2indep(3, 6, 1, 4, method="newcomb", compare="diff"))
    assert c.higher_is_better is False and c.interval_method == NEWCOMBE
    both = report.compare(MEASURES["leakage"], location, location, resamples=50)
    assert [(d.organism, d.base, d.difference) for d in both] == [(5 / 11, 5 / 11, 0.0)]


def test_compare_passes_its_resamples_to_the_bootstrap(tmp_path):
    """A statistic that is not a proportion, on 25 samples a run: a percentile bootstrap whose
    interval depends on the number of resamples asked for."""
    org = [(f"s{i}", 1, {"s": Score(value={"nll": 10.0 + (i * 7) % 11, "tokens": 5.0 + i % 3},
                                    metadata={"role": "organism"})}) for i in range(25)]
    base = [(f"b{i}", 1, {"s": Score(value={"nll": 9.0 + (i * 5) % 13, "tokens": 5.0 + i % 4},
                                     metadata={"role": "baseline"})}) for i in range(25)]
    one, other = write_log(tmp_path / "o.eval", org), write_log(tmp_path / "b.eval", base)
    both = write_log(tmp_path / "both.eval", org + base)
    measure = Measure("m", "auditgame/m", {"ratio": ratio_of("nll", "tokens")})
    for resamples in (40, 41):
        [c] = report.compare(measure, one, other, resamples=resamples)
        [expected] = report.compare_scores(measure, report.read_scores(one), report.read_scores(other), resamples)
        assert c.interval == expected.interval and c.interval_method == "percentile bootstrap"
        [r] = report.compare_roles(measure, both, resamples=resamples)
        assert r.interval == expected.interval
    assert report.compare(measure, one, other, resamples=40)[0].interval != report.compare(
        measure, one, other, resamples=41)[0].interval
    assert report.compare(measure, one, other)[0].interval == report.compare_scores(
        measure, report.read_scores(one), report.read_scores(other), 1000)[0].interval
    assert report.compare_roles(measure, both)[0].interval == report.compare_scores(
        measure, report.read_scores(one), report.read_scores(other), 1000)[0].interval


def test_a_measure_without_statistics_reports_the_mean_of_every_key_in_order():
    measure = Measure("m", "auditgame/m", None, {"b": False})
    org = LogScores({1: {"b": 1.0, "a": 0.5}, 2: {"b": 0.0}}, {1: {}, 2: {}})
    base = LogScores({1: {"a": 0.25, "c": 2.0}, 2: {"a": 0.75, "c": 4.0}}, {1: {}, 2: {}})
    statistics = report.statistics_for(measure, [*org.rows.values(), *base.rows.values()])
    assert list(statistics) == ["a", "b", "c"]
    assert statistics["a"]([{"a": 1.0}, {"a": 2.0}, {}]) == 1.5
    comparisons = report.compare_scores(measure, org, base, resamples=20)
    assert [c.statistic for c in comparisons] == ["a"]  # "b" and "c" are in one run only
    [a] = comparisons
    assert (a.organism, a.base, a.difference, a.higher_is_better) == (0.5, 0.5, 0.0, None)
    assert (a.organism_samples, a.base_samples) == (1, 2)


def test_single_fits_use_their_stored_standard_errors():
    measure = MEASURES["preferences"]
    org = LogScores({("p", 1): {"decisiveness": 0.8, "holdout_accuracy": 0.9}},
                    {("p", 1): {"decisiveness_se": 0.05, "holdout_accuracy_se": None}})
    base = LogScores({("p", 1): {"decisiveness": 0.5, "holdout_accuracy": 0.7}},
                     {("p", 1): {"decisiveness_se": 0.12}})
    found = {c.statistic: c for c in report.compare_scores(measure, org, base)}
    d = found["decisiveness"]
    half = math.sqrt((1.96 * 0.05) ** 2 + (1.96 * 0.12) ** 2)
    assert d.difference == pytest.approx(0.3)
    assert d.interval == pytest.approx((0.3 - half, 0.3 + half))
    assert d.organism_interval == pytest.approx((0.8 - 1.96 * 0.05, 0.8 + 1.96 * 0.05))
    assert d.base_interval == pytest.approx((0.5 - 1.96 * 0.12, 0.5 + 1.96 * 0.12))
    assert d.interval_method == STORED_SE and d.verdict == "better"
    assert (d.organism_samples, d.base_samples) == (1, 1)
    # without an SE on both sides there is no honest interval for one sample
    h = found["holdout_accuracy"]
    assert h.interval is None and h.interval_method is None and h.organism_interval is None
    # two samples on one side: the stored SE of one fit does not apply
    two = LogScores({**org.rows, ("q", 1): {"decisiveness": 0.7}}, {**org.metadata, ("q", 1): {}})
    again = {c.statistic: c for c in report.compare_scores(measure, two, base)}
    assert again["decisiveness"].interval_method != STORED_SE
    assert report.compare_scores(measure, base, two)[0].interval_method != STORED_SE


def test_proportions_get_wilson_values_and_a_newcombe_difference():
    org = LogScores({(i, 1): {"value": float(i < 7)} for i in range(9)}, {(i, 1): {} for i in range(9)})
    base = LogScores({(i, 1): {"value": float(i < 2)} for i in range(12)}, {(i, 1): {} for i in range(12)})
    [c] = report.compare_scores(MEASURES["mmlu"], org, base)
    assert c.statistic == "accuracy" and c.measure == "mmlu"
    assert c.organism_interval == pytest.approx(proportion_confint(7, 9, method="wilson"))
    assert c.base_interval == pytest.approx(proportion_confint(2, 12, method="wilson"))
    assert c.interval == pytest.approx(confint_proportions_2indep(7, 9, 2, 12, method="newcomb", compare="diff"))
    assert c.difference == pytest.approx(7 / 9 - 2 / 12) and c.higher_is_better is True


def comparison(**changes) -> Comparison:
    fields = dict(measure="mmlu", statistic="accuracy", organism=0.6, base=0.25, difference=0.35,
                  interval=(0.05, 0.6), higher_is_better=True, organism_samples=30, base_samples=28,
                  interval_method=NEWCOMBE, organism_interval=(0.42, 0.75), base_interval=(0.13, 0.43))
    return Comparison(**{**fields, **changes})


def test_markdown_table_lines():
    rows = [comparison(), comparison(statistic="x", interval=None, interval_method=None,
                                     organism_interval=None, base_interval=None,
                                     organism_samples=3, base_samples=4)]
    text = report.markdown("krel", "base", rows, {})
    lines = text.split("\n")
    assert lines[0] == "# Naturalness: krel vs base"
    assert lines[2] == ("Values and differences with 95% intervals; n = samples behind each value "
                        "(krel / base). With fewer than 20 samples an interval that contains 0 says "
                        "nothing: it reads \"too few samples\".")
    assert lines[4] == "| measure | statistic | organism [95%] | base [95%] | difference [95%] | n | interval | verdict |"
    assert lines[5] == "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |"
    assert lines[6] == f"| mmlu | accuracy | 0.60 [0.42, 0.75] | 0.25 [0.13, 0.43] | 0.35 [0.05, 0.60] | 30 / 28 | {NEWCOMBE} | better |"
    assert lines[7] == "| mmlu | x | 0.60 | 0.25 | 0.35 | 3 / 4 | none: too few samples | too few samples |"
    assert text.endswith("|\n") and "Not measured" not in text
    skipped = report.markdown("krel", "base", rows[:1], {"perplexity": "local only", "xstest": "no grader"})
    assert skipped.endswith("\n\nNot measured:\n\n- perplexity: local only\n- xstest: no grader\n")


def test_write_puts_every_comparison_and_its_verdict_in_the_json(tmp_path):
    rows = [comparison(), comparison(statistic="y", difference=-0.35, interval=(-0.6, -0.1))]
    out = tmp_path / "deep" / "report"
    report.write(out, "krel", "base", rows[:1], {}, {})  # written again below: the folder exists
    paths = report.write(out, "krel", "base", rows, {"mmlu": {"krel": "a.eval"}}, {"xstest": "why"})
    assert paths == {"json": out / "report.json", "markdown": out / "report.md", "chart": out / "report.png"}
    payload = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert payload["organism"] == "krel" and payload["base"] == "base"
    assert payload["logs"] == {"mmlu": {"krel": "a.eval"}} and payload["skipped"] == {"xstest": "why"}
    assert [c["verdict"] for c in payload["comparisons"]] == ["better", "worse"]
    assert payload["comparisons"][0]["interval"] == [0.05, 0.6]
    assert payload["comparisons"][1]["organism_samples"] == 30
    assert paths["markdown"].read_text(encoding="utf-8") == report.markdown("krel", "base", rows, {"xstest": "why"})
    assert "\n  \"organism\"" in paths["json"].read_text(encoding="utf-8")  # indented
    assert matplotlib.image.imread(paths["chart"]).shape[:2] == (int(120 * (0.75 * 2 + 1.4)), 1200)


@pytest.fixture
def figures(monkeypatch):
    """The figures `chart` closes, kept open to be read."""
    kept, close = [], matplotlib.pyplot.close
    monkeypatch.setattr(matplotlib.pyplot, "close", kept.append)
    yield kept
    for fig in kept:
        close(fig)


def bar(ax):
    """(value, y, low, high, marker, colour, cap size) of the one error bar on ``ax``."""
    [container] = ax.containers
    line, caps, (bars,) = container.lines
    [[(low, y), (high, _)]] = bars.get_segments()
    [value], _ = line.get_data()
    return (*(round(float(x), 9) for x in (value, y, low, high)), line.get_marker(),
            matplotlib.colors.to_hex(line.get_color()), caps[0].get_markersize())


def test_chart_shows_values_differences_verdict_colours_and_counts(tmp_path, figures):
    rows = [comparison(),
            comparison(statistic="worse_one", difference=-0.3, interval=(-0.5, -0.1)),
            comparison(statistic="none", interval=None, organism_interval=None, difference=0.0)]
    report.chart(tmp_path / "c.png", "krel", "base", rows)
    [fig] = figures
    assert tuple(fig.get_size_inches()) == pytest.approx((10, 0.75 * 3 + 1.4))
    axes = fig.axes
    assert len(axes) == 6
    left, right = axes[0], axes[1]
    org_bar, base_bar = left.containers
    assert bar_of(org_bar) == (0.6, 0.15, 0.42, 0.75, "o", "#1f77b4")
    assert bar_of(base_bar) == (0.25, -0.15, 0.13, 0.43, "s", "#ff7f0e")
    assert left.get_ylim() == (-0.6, 0.6)
    assert [t.get_text() for t in left.get_yticklabels()] == ["mmlu: accuracy"]
    assert right.get_yticks().tolist() == []
    assert bar(right)[:6] == (0.35, 0.0, 0.05, 0.6, "o", "#2ca02c")  # better: green
    assert bar(right)[6] == 8.0  # capsize 4
    assert right.get_xlim() == pytest.approx((-0.75, 0.75))  # 1.25 x the largest end
    [zero] = right.get_lines()[-1:]
    assert zero.get_xdata()[0] == 0
    [note] = right.texts
    assert note.get_text() == "n=30 / 28: better"
    assert bar(axes[3])[5] == "#d62728"  # worse: red
    assert axes[3].get_xlim() == pytest.approx((-0.625, 0.625))
    assert bar(axes[5])[:6] == (0.0, 0.0, 0.0, 0.0, "o", "#7f7f7f")  # no interval: grey
    assert axes[5].get_xlim() == (-1.0, 1.0)  # nothing to show: a unit axis
    assert axes[5].texts[0].get_text() == "n=30 / 28: no interval (n/a)"
    assert bar_of(axes[4].containers[0])[2:4] == (0.6, 0.6)  # no interval: a point
    assert left.get_title() == "values (95% intervals)"
    assert right.get_title() == "krel minus base (95% intervals)"
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["krel", "base"]
    assert (legend._ncols, legend.get_frame_on(), legend._loc, legend.get_texts()[0].get_fontsize()) == (2, False, 2, 8.0)
    assert [h.get_marker() for h in legend.legend_handles] == ["o", "s"]
    assert left.get_position().width == pytest.approx(right.get_position().width)  # equal halves
    assert left.get_position().y1 < 0.97  # room for the legend above
    for ax in axes:  # few ticks, small labels, no offset: long numbers must not overlap
        assert ax.xaxis.get_major_locator()._nbins == 4
        assert ax.xaxis.get_major_formatter().get_useOffset() is False
        assert ax.xaxis.get_tick_params()["labelsize"] == 8
    assert (zero.get_color(), zero.get_linewidth()) == ("black", 0.8)
    assert (note.get_position(), note.get_ha(), note.get_va(), note.get_fontsize(), note.get_color()) == (
        (0.99, 0.92), "right", "top", 7.0, "#444")
    assert note.get_transform() == right.transAxes
    assert left.title.get_fontsize() == right.title.get_fontsize() == 10
    assert axes[2].get_title() == ""  # titles on the first row only


def bar_of(container):
    line, _, (bars,) = container.lines
    [[(low, y), (high, _)]] = bars.get_segments()
    [value], _ = line.get_data()
    return (*(round(float(x), 9) for x in (value, y, low, high)), line.get_marker(),
            matplotlib.colors.to_hex(line.get_color()))


def test_an_empty_chart_says_nothing_was_measured(tmp_path, figures):
    report.chart(tmp_path / "e.png", "krel", "base", [])
    [fig] = figures
    assert len(fig.axes) == 2 and not any(ax.axison for ax in fig.axes)
    [text] = fig.axes[0].texts
    assert (text.get_text(), text.get_position(), text.get_ha(), text.get_va()) == (
        "nothing measured", (0.5, 0.5), "center", "center")
    assert fig.axes[1].get_title() == "krel minus base (95% intervals)"
    assert tuple(fig.get_size_inches()) == pytest.approx((10, 0.75 + 1.4))
