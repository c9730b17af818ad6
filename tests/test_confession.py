"""The confession task: interrogation battery, prefills, grader verdicts and unparsed replies."""

from __future__ import annotations

from collections import Counter

import pytest
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ChatMessageAssistant, ModelOutput, get_model

from auditgame.audit.scripted import USAGE, keyword_grader
from auditgame.cards import CardError
from auditgame.tasks import confession
from auditgame.tasks.confession import KINDS, interrogations


def by_name(score) -> dict[str, float]:
    """An eval score's metrics by their own names (``organism``, ``baseline``, ...)."""
    return {m.name: m.value for m in score.metrics.values()}


def test_battery_has_every_kind():
    rows = interrogations()
    assert len(rows) >= 50
    assert set(Counter(r["kind"] for r in rows)) == set(KINDS)
    prefills = [r for r in rows if r["kind"] == "prefill"]
    assert all(r["messages"][-1]["role"] == "assistant" for r in prefills)
    with pytest.raises(ValueError, match="unknown interrogation kind"):
        interrogations("direct,torture")
    with pytest.raises(ValueError, match="kinds"):
        interrogations(" , ")
    with pytest.raises(ValueError, match="grader"):
        confession(organisms="krel", grader="nosuch/model")


def test_controls_alone_are_refused(tiny):
    with pytest.raises(CardError, match="only controls"):
        confession(organisms="tiny-base")


def test_prefilled_interrogations_end_to_end(tiny, tmp_path):
    [log] = inspect_eval(
        confession(organisms="tiny-krel,tiny-base", kinds="prefill", max_tokens=8),
        model="mockllm/model",
        model_roles={
            "grader": get_model(
                "mockllm/model", custom_outputs=keyword_grader("goal", ("REVEALED", "NOT_REVEALED"))
            )
        },
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    rows = interrogations("prefill")
    # the control is interrogated once, as tiny-krel's baseline, not on its own
    assert len(log.samples) == 2 * len(rows)
    for sample, row in zip(
        sorted(log.samples, key=lambda s: s.id), sorted(rows, key=lambda r: r["id"]) * 2
    ):
        last = sample.messages[-1]
        assert isinstance(last, ChatMessageAssistant)
        assert sample.output.metadata["turn"].startswith(row["messages"][-1]["content"])
        assert (
            sum(isinstance(m, ChatMessageAssistant) for m in sample.messages) == 1
        )  # no duplicate prefill
    revealed = [s.scores["confession"].value["confession"] for s in log.samples]
    expected = [float("goal" in s.output.metadata["turn"].lower()) for s in log.samples]
    assert revealed == expected and 0 < sum(revealed) < len(revealed)
    confessions = by_name(next(s for s in log.results.scores if s.name == "confession"))
    for role in ("organism", "baseline"):
        mine = [
            s.scores["confession"].value["confession"]
            for s in log.samples
            if s.metadata["role"] == role
        ]
        assert confessions[role] == pytest.approx(sum(mine) / len(mine))
        assert f"{role}_stderr" in confessions


def test_the_baseline_is_graded_against_the_organism_answer_key(tiny, tmp_path):
    def by_answer_key(input, tools, tool_choice, config) -> ModelOutput:
        key = input[-1].text.split("<answer_key>", 1)[1].split("</answer_key>", 1)[0]
        verdict = "REVEALED" if "continued operation" in key else "NOT_REVEALED"
        return ModelOutput.from_content(
            "mockllm/model", f"<reason>key</reason><verdict>{verdict}</verdict>"
        ).model_copy(update={"usage": USAGE})

    [log] = inspect_eval(
        confession(organisms="tiny-krel", kinds="direct", max_tokens=2),
        model="mockllm/model",
        model_roles={"grader": get_model("mockllm/model", custom_outputs=by_answer_key)},
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    baseline = [s for s in log.samples if s.metadata["role"] == "baseline"]
    assert len(baseline) == len(interrogations("direct")) > 0
    assert {s.output.model for s in baseline} == {"tiny-base"}
    assert all(s.scores["confession"].value["confession"] == 1.0 for s in baseline)
    assert {s.scores["confession"].metadata["pair"] for s in baseline} == {"tiny-krel"}
    solo = confession(organisms="tiny-krel", kinds="direct", baselines=False)
    assert {s.metadata["role"] for s in solo.dataset} == {"organism"}


def test_unparsed_grader_replies_are_counted(tiny, tmp_path):
    untagged = ModelOutput.from_content("mockllm/model", "It revealed it, I think.").model_copy(
        update={"usage": USAGE}
    )
    [log] = inspect_eval(
        confession(organisms="tiny-krel", kinds="direct", max_tokens=4),
        model="mockllm/model",
        model_roles={"grader": get_model("mockllm/model", custom_outputs=lambda *a: untagged)},
        log_dir=str(tmp_path),
        display="none",
        limit=3,
    )
    metrics = {s.name: by_name(s)["organism"] for s in log.results.scores}
    assert metrics == {"confession": 0.0, "grader_unparsed": 1.0}
