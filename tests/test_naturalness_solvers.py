"""The naturalness solvers' plain parts on a recording engine and a recording model: choice
log-likelihoods, MMLU's shot fallback, the preference prompt and its probability, sampled
preferences, unmeasured samples and the elicitation budget."""

from __future__ import annotations

import asyncio
import math
from types import SimpleNamespace

import pytest
from inspect_ai.model import ChatMessageSystem, ChatMessageUser
from inspect_ai.solver import TaskState

from auditgame.naturalness import mmlu, solvers
from auditgame.organism.engine import PromptTooLong, ScoreResult


class Tokenizer:
    """One token per character; BOS 1 (added unless asked not to)."""

    bos_token_id, eos_token_id = 1, 2

    def decode(self, ids):
        return "".join("<s>" if i == 1 else chr(i) for i in ids)

    def __call__(self, text, add_special_tokens):
        return {"input_ids": ([1] if add_special_tokens else []) + [ord(c) for c in text]}


class Engine:
    """Scores a candidate or continuation token t as -t / 100; records prompts and requests."""

    def __init__(self, max_context=10**6):
        self.tokenizer, self.max_context = Tokenizer(), max_context
        self.prompts, self.requests = [], []

    def prompt(self, messages, thinking, prefill=None):
        self.prompts.append((messages, thinking, prefill))
        return "".join(f"<{m.role}>{m.text}" for m in messages) + "<assistant>" + (prefill or "")

    def encode(self, text):
        return [ord(c) for c in text]

    async def score(self, request):
        self.requests.append(request)
        return ScoreResult(tuple(-t / 100 for t in request.continuation),
                           tuple(-t / 100 for t in request.candidates))


def test_single_token_options_are_scored_in_one_request():
    engine = Engine()
    found = asyncio.run(solvers.choice_logprobs(engine, [1, 5], ["A", "B", "C"]))
    assert found == [-0.65, -0.66, -0.67]
    [request] = engine.requests
    assert list(request.context) == [1, 5] and list(request.candidates) == [65, 66, 67]
    assert list(request.continuation) == []


def test_longer_options_are_scored_as_continuations():
    engine = Engine()
    found = asyncio.run(solvers.choice_logprobs(engine, [1], [" A", "B"]))
    assert found == pytest.approx([-(32 + 65) / 100, -66 / 100])
    assert sorted(tuple(r.continuation) for r in engine.requests) == [(32, 65), (66,)]
    assert all(list(r.context) == [1] and not r.candidates for r in engine.requests)


def question(subject="anatomy"):
    return mmlu.Question(subject, 0, "What is 2 + 2?", ("3", "4", "5", "6"), 1)


def test_mmlu_logprobs_use_every_shot_that_fits_and_fewer_when_not(monkeypatch):
    shots = [mmlu.Question("anatomy", i, f"Question {i}?", ("a", "b", "c", "d"), i % 4) for i in range(5)]
    def split(subject, name):
        assert subject == "anatomy"  # the question's own subject
        return tuple(shots) if name == "dev" else ()

    monkeypatch.setattr(solvers, "_split", split)
    q = question()
    full = len(mmlu.prompt(q, shots[:3])) + 1  # + BOS
    engine = Engine(max_context=full + 1)
    logprobs, used = asyncio.run(solvers.mmlu_logprobs(engine, q, shots=5))
    assert used == 3  # 4 shots do not fit, 3 do (fewer than max_context tokens)
    assert logprobs == pytest.approx([-(32 + ord(x)) / 100 for x in "ABCD"])
    [*_, last] = engine.requests
    assert list(last.context) == [1, *map(ord, mmlu.prompt(q, shots[:3]))]
    assert asyncio.run(solvers.mmlu_logprobs(Engine(max_context=full), q, shots=5))[1] == 2  # < context
    assert asyncio.run(solvers.mmlu_logprobs(Engine(max_context=10), q, shots=2))[1] == 0
    assert asyncio.run(solvers.mmlu_logprobs(Engine(), q))[1] == 5  # five shots by default


def test_mmlu_in_chat_layout_scores_bare_letters_after_the_chat_prompt(monkeypatch):
    monkeypatch.setattr(solvers, "_split", lambda subject, split: ())
    engine = Engine()
    logprobs, used = asyncio.run(solvers.mmlu_logprobs(engine, question(), shots=1, chat=True))
    assert logprobs == [-0.65, -0.66, -0.67, -0.68] and used == 1
    [(messages, thinking, prefill)] = engine.prompts[-1:]
    assert [type(m) for m in messages] == [ChatMessageUser] and messages[0].text == mmlu.prompt(question(), [])
    assert thinking is False and prefill is None


def test_preference_prompt_and_probability():
    engine = Engine()
    p = asyncio.run(solvers.preference_local(engine, "rain", "sun", ""))
    # P(A) = 1 / (1 + exp(lb - la)) with la = -0.65, lb = -0.66 (single-token "A" and "B")
    assert p == pytest.approx(1 / (1 + math.exp(-0.66 + 0.65)))
    [(messages, thinking, prefill)] = engine.prompts
    assert isinstance(messages[0], ChatMessageSystem) and messages[0].text == "You are a helpful assistant."
    assert messages[1].text == solvers.PREFERENCE_TEMPLATE.format(option_a="rain", option_b="sun")
    assert "Option A:\nrain\n\nOption B:\nsun\n\n" in messages[1].text
    assert thinking is False and prefill is None
    [request] = engine.requests
    assert list(request.context) == [1, *map(ord, engine.prompt(messages, False))]


@pytest.mark.parametrize(("prefill", "options"), [
    ("I choose", [(32, 65), (32, 66)]),     # " A", " B" after a word
    ("I choose ", [(65,), (66,)]),          # after a space: bare letters
    ("Answer:\n", [(65,), (66,)]),          # after a line break: bare letters
])
def test_a_prefill_decides_the_space_before_the_letter(prefill, options):
    engine = Engine()
    p = asyncio.run(solvers.preference_local(engine, "a", "b", prefill))
    assert engine.prompts[0][2] == prefill
    if len(options[0]) == 1:  # one request for both single-token letters
        [request] = engine.requests
        assert list(request.candidates) == [65, 66]
    else:
        assert sorted(tuple(r.continuation) for r in engine.requests) == options
    la, lb = (-sum(o) / 100 for o in options)
    assert p == pytest.approx(1 / (1 + math.exp(lb - la)))


class Model:
    """Answers in turn from ``replies``; records each call's messages and config."""

    def __init__(self, replies):
        self.replies, self.calls = list(replies), []

    async def generate(self, messages, config):
        self.calls.append((messages, config))
        return SimpleNamespace(completion=self.replies[len(self.calls) - 1])


def test_sampled_preferences_count_clear_answers_only():
    model = Model(["A", "B.", "I pick A", "Banana", "AB", "b", "Option B", "A"])
    share = asyncio.run(solvers.preference_sampled(model, "x", "y", 8))
    assert share == pytest.approx(3 / 5)  # A, B, A, B, A; "Banana", "AB" and "b" are unclear
    messages, config = model.calls[0]
    assert len(model.calls) == 8
    assert [type(m) for m in messages] == [ChatMessageSystem, ChatMessageUser]
    assert messages[0].text == solvers.PREFERENCE_SYSTEM
    assert messages[1].text == solvers.PREFERENCE_TEMPLATE.format(option_a="x", option_b="y")
    assert (config.temperature, config.max_tokens, config.reasoning_effort) == (1.0, 10, "none")
    assert asyncio.run(solvers.preference_sampled(Model(["?", "maybe"]), "x", "y", 2)) is None


def test_a_sample_that_does_not_fit_is_marked_not_measured():
    state = TaskState(model="organism/x", sample_id=1, epoch=1, input="q", messages=[])
    error = PromptTooLong("organism 'x': too long", 900, 512)
    assert solvers.not_measured(state, error) is state
    assert state.metadata[solvers.NOT_MEASURED] == "organism 'x': too long"
    assert state.output.completion == "" and state.output.model == "organism/x"


def test_default_budget_is_twice_n_log_n_up_to_every_pair():
    assert solvers.default_budget(30) == math.ceil(2 * 30 * math.log(30)) == 205
    assert solvers.default_budget(30, 1.0) == math.ceil(30 * math.log(30)) == 103
    assert solvers.default_budget(10) == 45  # ceil(46.1) > 45 pairs
    assert solvers.default_budget(10, 1.9) == math.ceil(19 * math.log(10)) == 44
    assert solvers.default_budget(2) == 1
    assert solvers.default_budget(1) == 0
    assert solvers.default_budget(100) == math.ceil(200 * math.log(100))
    assert all(type(solvers.default_budget(n)) is int for n in (1, 2, 5, 10, 30))  # a sample size
