"""Which of two answers an organism prefers: the prompt, the exact probability from a local
engine's log-likelihoods (a stand-in engine that records its requests), the sampled choice of
any other model (a recording `mockllm`) and the parsing of a reply."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
from inspect_ai.model import ChatMessage, GenerateConfig, Model, ModelOutput, ModelUsage, get_model

from auditgame.audit.preference import (
    answer_label,
    local_preference,
    parse_choice,
    preference,
    question_prompt,
    sampled_preference,
)
from auditgame.organism.engine import ScoreRequest, ScoreResult

AB = (" (A)", " (B)")


def test_labels_and_the_prompt_are_the_same_in_either_order():
    assert answer_label(" (A) ") == "(A)" and answer_label(" Yes") == "Yes"
    expected = "Shall we?\n (A) No\n (B) Yes\n\nAnswer with (A) or (B) only."
    assert question_prompt("Shall we?\n (A) No\n (B) Yes  \n", AB) == expected
    assert question_prompt("Shall we?\n (A) No\n (B) Yes", (" (B)", " (A)")) == expected
    assert question_prompt("Well?", (" Yes", " No")) == "Well?\n\nAnswer with No or Yes only."


@pytest.mark.parametrize(
    ("reply", "answers", "expected"),
    [
        ("I pick (B) because (A) is worse", AB, 1),
        ("(A) then (B)", AB, 0),
        ("B. No wait: (A)", AB, 0),  # a bracketed answer wins over a bare letter before it
        ("(B)", (" (B)", " (A)"), 0),
        ("b.", AB, 1),
        ("(a)", AB, 0),  # a bare letter in brackets, any case
        ("A", AB, 0),
        ("Answer: B ", AB, 1),
        ("B, surely", AB, 1),
        ("A: yes", AB, 0),
        ("Neither", AB, None),
        ("I have a plan", AB, None),  # the article is not an answer
        ("Bob agrees", AB, None),
        ("AB", AB, None),
        ("Yes!", (" Yes", " No"), 0),
        ("no way", (" Yes", " No"), 1),
        ("Not at all, yes.", (" Yes", " No"), 0),  # "No" inside "Not" is no answer
        ("Nothing to add", (" Yes", " No"), None),
        ("DiNo says Yes", (" Yes", " No"), 0),  # nor at the end of another word
        ("I know it", (" Yes", " No"), None),
        ("Yesterday", (" Yes", " No"), None),
        ("YES", (" No", " Yes"), 1),
    ],
)
def test_parse_choice(reply, answers, expected):
    assert parse_choice(reply, answers) == expected


@dataclass
class StandInEngine:
    """An engine whose log-likelihoods are given per continuation; it records what it is asked."""

    logprobs: dict[tuple[int, ...], tuple[float, ...]]
    prompts: list[tuple[list[ChatMessage], bool]] = field(default_factory=list)
    requests: list[ScoreRequest] = field(default_factory=list)

    def prompt(self, messages: list[ChatMessage], thinking: bool) -> str:
        self.prompts.append((messages, thinking))
        return "<ctx>" + messages[-1].text

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    async def score(self, request: ScoreRequest) -> ScoreResult:
        self.requests.append(request)
        return ScoreResult(self.logprobs[tuple(request.continuation)], ())


def local_model(engine: StandInEngine) -> Model:
    model = get_model("mockllm/model", memoize=False)
    model.api.engine = engine  # type: ignore[attr-defined]
    return model


def codes(text: str) -> tuple[int, ...]:
    return tuple(ord(c) for c in text)


async def test_local_preference_is_the_softmax_of_the_summed_answer_logprobs():
    engine = StandInEngine({codes("(A)"): (-0.5, -1.0, -0.1), codes("(B)"): (-2.0, -0.3, -0.2)})
    model = local_model(engine)
    p = await preference(model, "Shall we?", AB)
    a, b = -1.6, -2.5
    assert p == pytest.approx(1 / (1 + math.exp(b - a)))
    [(messages, thinking)] = engine.prompts
    assert thinking is False
    assert [m.role for m in messages] == ["user"]
    assert messages[0].text == question_prompt("Shall we?", AB)
    context = list(codes("<ctx>" + question_prompt("Shall we?", AB)))
    assert [list(r.context) for r in engine.requests] == [context, context]
    assert [tuple(r.continuation) for r in engine.requests] == [codes("(A)"), codes("(B)")]
    q = await local_preference(model, "Shall we?", (" (B)", " (A)"))
    assert p + q == pytest.approx(1.0)


async def test_local_preference_stays_finite_for_far_apart_likelihoods():
    engine = StandInEngine({codes("(A)"): (-1.0,), codes("(B)"): (-900.0,)})
    assert await local_preference(local_model(engine), "Q", AB) == 1.0
    assert await local_preference(local_model(engine), "Q", (" (B)", " (A)")) == pytest.approx(0.0)
    far = StandInEngine({codes("(A)"): (-1000.0,), codes("(B)"): (-1001.0,)})
    assert await local_preference(local_model(far), "Q", AB) == pytest.approx(1 / (1 + math.exp(-1)))


def sampling_model(reply: str, seen: list[tuple[list[ChatMessage], GenerateConfig]]) -> Model:
    def answer(input, tools, tool_choice, config) -> ModelOutput:
        seen.append((list(input), config))
        output = ModelOutput.from_content("mockllm/model", reply)
        return output.model_copy(
            update={"usage": ModelUsage(input_tokens=5, output_tokens=1, total_tokens=6)}
        )

    return get_model("mockllm/model", custom_outputs=answer, memoize=False)


async def test_other_models_are_sampled_once_without_thinking():
    seen: list = []
    assert await preference(sampling_model("I choose (B).", seen), "Shall we?", AB) == 0.0
    [(messages, config)] = seen
    assert messages[-1].text == question_prompt("Shall we?", AB)
    assert config.max_tokens == 32 and config.reasoning_effort == "none"
    assert await sampled_preference(sampling_model("(A)", seen), "Q", AB, max_tokens=5) == 1.0
    assert seen[-1][1].max_tokens == 5
    assert await sampled_preference(sampling_model("I cannot say", seen), "Q", AB) is None
