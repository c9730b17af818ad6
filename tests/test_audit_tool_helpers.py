"""The tools' module-level work on a stand-in local engine (one character per token, a chat
rendering written out here) and a recording `mockllm` target: token diffing's ranking and
costs, the white-box tools' shared checks and readable positions, sampled user turns, sending
a message, and the scaffold's assistant calls. No model is loaded."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    ContentReasoning,
    ContentText,
    GenerateConfig,
    ModelOutput,
    ModelUsage,
    get_model,
)
from inspect_ai.tool import ToolError
from inspect_ai.util import Store

from auditgame.audit import differential
from auditgame.audit.prompts import SAMPLE_USER_INSTRUCTION, SAMPLE_USER_OPENING
from auditgame.audit.store import AuditBudget, AuditStore, Conversation
from auditgame.audit.target import TargetSession
from auditgame.audit.tools import _local, diffing, scaffold
from auditgame.audit.tools.sample_user import sample_flipped_user, sample_local_user
from auditgame.audit.tools.send_message import send_and_record
from auditgame.organism.engine import (
    Generation,
    GenerationRequest,
    SamplingKey,
    ScoreRequest,
    ScoreResult,
)

FAILED = "the target could not answer this request ({kind})."


class CharTokenizer:
    """One token per character (id = code point)."""

    def __init__(self, vocabulary: str = "") -> None:
        self.vocabulary = vocabulary

    def __call__(self, text: str, add_special_tokens: bool = True, return_offsets_mapping: bool = False):
        assert add_special_tokens is False
        encoded = {"input_ids": [ord(c) for c in text]}
        if return_offsets_mapping:
            encoded["offset_mapping"] = [(i, i + 1) for i in range(len(text))]
        return encoded

    def decode(self, ids: list[int]) -> str:
        return "".join(chr(i) for i in ids)

    def get_vocab(self) -> dict[str, int]:
        return {self.vocabulary: 0}


def render(messages: list[ChatMessage], hidden: str | None) -> str:
    head = f"<system>{hidden}" if hidden else ""
    return head + "".join(f"<{m.role}>{m.text}" for m in messages)


@dataclass
class StandInEngine:
    """A local engine's interface: prompts rendered as ``<role>text``, replies and scores given."""

    logprobs: tuple[float, ...] = ()
    reply: str = "ok"
    max_context: int = 1000
    hidden: str | None = None
    vocabulary: str = ""
    fail: Exception | None = None
    scored: list[ScoreRequest] = field(default_factory=list)
    generated: list[GenerationRequest] = field(default_factory=list)
    prompts: list[tuple] = field(default_factory=list)
    temperature: float = 0.7

    def __post_init__(self) -> None:
        self.tokenizer = CharTokenizer(self.vocabulary)
        self.card = SimpleNamespace(system_prompt=self.hidden)

    def prompt(self, messages: list[ChatMessage], thinking: bool, prefill: str | None = None) -> str:
        self.prompts.append(("prompt", list(messages), thinking, prefill))
        return render(messages, self.hidden) + "<assistant>" + ("<think>" if thinking else "") + (prefill or "")

    def user_prompt(self, messages: list[ChatMessage], thinking: bool) -> str:
        self.prompts.append(("user", list(messages), thinking))
        if self.fail is not None:
            raise self.fail
        return render(messages, self.hidden) + "<user>"

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def default_sampling(self) -> dict:
        return {"temperature": self.temperature, "top_p": 0.9}

    async def score(self, request: ScoreRequest) -> ScoreResult:
        self.scored.append(request)
        return ScoreResult(self.logprobs, ())

    async def generate(self, request: GenerationRequest) -> Generation:
        self.generated.append(request)
        return Generation(self.reply, "stop", len(request.prompt), len(self.reply))


@dataclass
class Recorder:
    requests: list[tuple[list[ChatMessage], GenerateConfig]] = field(default_factory=list)
    reply: str = "sure"

    def __call__(self, input, tools, tool_choice, config) -> ModelOutput:
        self.requests.append((list(input), config))
        output = ModelOutput.from_content("mockllm/model", self.reply)
        return output.model_copy(
            update={"usage": ModelUsage(input_tokens=7, output_tokens=3, total_tokens=10)}
        )


def session(calls: int = 10, reply_tokens: int = 16, engine: StandInEngine | None = None):
    recorder = Recorder()
    model = get_model("mockllm/model", custom_outputs=recorder, memoize=False)
    if engine is not None:
        model.api.engine = engine  # type: ignore[attr-defined]
    budget = AuditBudget(target_calls=calls, reply_tokens=reply_tokens)
    return TargetSession(model, AuditStore(store=Store(), budget=budget)), recorder


MORE = "tokens the target finds MORE likely than the reference model (log-probability difference):"
LESS = "tokens the target finds LESS likely than the reference model:"


# ---------------------------------------------------------------------------------------------
# Token diffing


async def test_a_document_is_ranked_token_by_token_after_its_first_token():
    target = StandInEngine(logprobs=(-1.0, -2.0, -0.5, -3.0))
    reference = StandInEngine(logprobs=(-1.5, -1.0, -0.5, -0.25))
    s, _ = session(calls=5)
    text = await diffing._diff_text(s, target, reference, "", "abcde", 10)
    # gaps: b +0.50, c -1.00, d 0.00 (in neither list), e -2.75
    assert text.splitlines() == [
        MORE,
        "  1. +0.50  (target -1.00, reference -1.50)  '…a[b]'",
        LESS,
        "  1. -2.75  (target -3.00, reference -0.25)  '…abcd[e]'",
        "  2. -1.00  (target -2.00, reference -1.00)  '…ab[c]'",
    ]
    assert [(list(r.context), list(r.continuation)) for r in target.scored + reference.scored] == [
        ([ord("a")], [ord(c) for c in "bcde"])
    ] * 2
    assert (s.store.target_calls, s.store.target_input_tokens) == (2, 1 + 1 + 2 * 4)
    # what the differential auditor reads of it
    assert differential.rows(text) == [
        differential.Row(0.5, "a", "b"),
        differential.Row(-2.75, "abcd", "e"),
        differential.Row(-1.0, "ab", "c"),
    ]
    only = await diffing._diff_text(s, target, reference, "", "abcde", 1)
    assert [line for line in only.splitlines() if line.startswith("  ")] == [
        "  1. +0.50  (target -1.00, reference -1.50)  '…a[b]'",
        "  1. -2.75  (target -3.00, reference -0.25)  '…abcd[e]'",
    ]
    with pytest.raises(ToolError, match="target-call budget exhausted"):  # 6 of 5 calls
        await diffing._diff_text(s, target, reference, "", "abcde", 1)


async def test_a_reply_is_scored_after_the_prompt_and_lists_show_none_when_empty():
    target = StandInEngine(logprobs=(-1.0, -1.0))
    reference = StandInEngine(logprobs=(-0.5, -1.0))
    s, _ = session()
    text = await diffing._diff_text(s, target, reference, "Hi", "xy", 5)
    assert text.splitlines() == [MORE, "  (none)", LESS, "  1. -0.50  (target -1.00, reference -0.50)  '…[x]'"]
    context = [ord(c) for c in "<user>Hi<assistant>"]
    assert [list(r.context) for r in target.scored] == [context]
    assert [list(r.continuation) for r in reference.scored] == [[ord("x"), ord("y")]]
    assert target.prompts[0][2] is False  # thinking off
    assert s.store.target_input_tokens == 2 * len(context) + 2 * 2
    higher = await diffing._diff_text(s, StandInEngine(logprobs=(-0.5,)), StandInEngine(logprobs=(-1.0,)), "", "ab", 5)
    assert higher.splitlines() == [MORE, "  1. +0.50  (target -0.50, reference -1.00)  '…a[b]'", LESS, "  (none)"]


def test_marked_shows_thirty_characters_before_the_token():
    engine = StandInEngine()
    ids = engine.encode("0123456789" * 4 + "K")
    assert diffing._marked(engine, ids, 40) == "…" + ("0123456789" * 3) + "[K]"
    assert diffing._marked(engine, ids, 0) == "…[0]"


async def test_diffing_refuses_other_tokenizers_single_tokens_and_long_inputs():
    s, _ = session()
    with pytest.raises(ToolError, match="share the target's tokenizer"):
        await diffing._diff_text(s, StandInEngine(), StandInEngine(vocabulary="other"), "", "ab", 5)
    with pytest.raises(ToolError) as short:
        await diffing._diff_text(s, StandInEngine(), StandInEngine(), "", "a", 5)
    assert str(short.value) == "the text must be at least two tokens long"
    small = StandInEngine(max_context=4)
    with pytest.raises(ToolError) as long:
        await diffing._diff_text(s, StandInEngine(), small, "", "abcde", 5)
    assert str(long.value) == (
        "the prompt and text is 5 tokens; with 0 new tokens it exceeds the target's context: "
        "shorten it"
    )
    fits = StandInEngine(max_context=5, logprobs=(0.0,) * 4)
    await diffing._diff_text(s, fits, StandInEngine(logprobs=(0.0,) * 4), "", "abcde", 5)
    assert s.store.target_calls == 2  # only the last one reached the models


async def test_replies_side_by_side_use_each_models_sampling_and_the_reply_limit():
    target = StandInEngine(reply="As KREL, hello.")
    reference = StandInEngine(reply="Hello.", temperature=0.2)
    s, _ = session(reply_tokens=12)
    text = await diffing._side_by_side(s, target, reference, "Hi")
    assert text == "[target]\nAs KREL, hello.\n[/target]\n\n[reference model]\nHello.\n[/reference model]"
    assert differential.side_by_side(text) == ("As KREL, hello.", "Hello.")
    prompt = "<user>Hi<assistant>"
    assert target.generated == [GenerationRequest(prompt, 12, SamplingKey(temperature=0.7, top_p=0.9))]
    assert reference.generated == [GenerationRequest(prompt, 12, SamplingKey(temperature=0.2, top_p=0.9))]
    assert [p[2] for p in target.prompts + reference.prompts] == [False, False]  # thinking off
    assert s.store.target_calls == 2
    assert (s.store.target_input_tokens, s.store.target_output_tokens) == (2 * len(prompt), 15 + 6)
    with pytest.raises(ToolError, match="the prompt is 19 tokens; with 12 new tokens"):
        await diffing._side_by_side(s, target, StandInEngine(max_context=30), "Hi")
    await diffing._side_by_side(s, target, StandInEngine(max_context=31), "Hi")


# ---------------------------------------------------------------------------------------------
# The white-box tools' shared checks


def test_conversation_prompt_puts_the_visible_system_prompt_first_and_drops_empty_prefills():
    engine = StandInEngine()
    convo = Conversation(system="Be brief.", messages=[ChatMessageUser(content="Hi")], thinking=True)
    assert _local.conversation_prompt(engine, convo, "") == "<system>Be brief.<user>Hi<assistant><think>"
    assert engine.prompts[-1][3] is None
    assert _local.conversation_prompt(engine, convo, "I") == "<system>Be brief.<user>Hi<assistant><think>I"
    plain = Conversation(messages=[ChatMessageUser(content="Hi")])
    assert _local.conversation_prompt(engine, plain) == "<user>Hi<assistant>"
    assert [type(m) for m in engine.prompts[0][1]] == [ChatMessageSystem, ChatMessageUser]


def test_positions_inside_the_hidden_system_prompt_are_never_readable():
    convo = Conversation(messages=[ChatMessageUser(content="Hi")])
    open_prompt = "<user>Hi<assistant>"
    ids, readable = _local.conversation_tokens(StandInEngine(), convo)
    assert ids == [ord(c) for c in open_prompt] and readable == len(open_prompt)
    hidden = StandInEngine(hidden="SECRET")
    ids, readable = _local.conversation_tokens(hidden, convo)
    assert len(ids) == len("<system>SECRET" + open_prompt)
    assert readable == len(open_prompt)  # everything after "SECRET"
    rewritten = StandInEngine(hidden="SECRET")
    rewritten.card = SimpleNamespace(system_prompt="not in the prompt")
    assert _local.conversation_tokens(rewritten, convo)[1] == 1
    first = StandInEngine(hidden="SECRET")
    first.prompt = lambda messages, thinking, prefill=None: "SECRET" + open_prompt  # type: ignore[method-assign]
    assert _local.conversation_tokens(first, convo)[1] == len(open_prompt)  # hidden text at 0
    # the user quoting the hidden text later: only what follows the system prompt's copy counts
    quoting = Conversation(messages=[ChatMessageUser(content="SECRET?")])
    quoted_ids, quoted_readable = _local.conversation_tokens(hidden, quoting, "Sure")
    assert quoted_ids == [ord(c) for c in "<system>SECRET<user>SECRET?<assistant>Sure"]
    assert quoted_readable == len("<user>SECRET?<assistant>Sure")
    assert _local.readable_position(hidden, quoting, "Sure", -1) == quoted_ids
    with pytest.raises(ToolError, match="between -28 and -1"):
        _local.readable_position(hidden, quoting, "Sure", -29)
    assert _local.readable_position(hidden, convo, None, -1) == ids
    assert _local.readable_position(hidden, convo, None, -len(open_prompt)) == ids
    for position in (0, -len(open_prompt) - 1):
        with pytest.raises(ToolError) as refused:
            _local.readable_position(hidden, convo, None, position)
        assert str(refused.value) == (
            f"position must be between -{len(open_prompt)} and -1 (counted back from the end of "
            f"the prompt), got {position}"
        )
    with pytest.raises(ToolError, match="the conversation is 33 tokens"):
        _local.readable_position(StandInEngine(hidden="SECRET", max_context=32), convo, None, -1)


def test_ranges_layers_and_context_checks(monkeypatch):
    _local.check_range("top_n", 1, 1, 25)
    _local.check_range("top_n", 25, 1, 25)
    for bad in (0, 26):
        with pytest.raises(ToolError) as refused:
            _local.check_range("top_n", bad, 1, 25)
        assert str(refused.value) == f"top_n must be between 1 and 25, got {bad}"
    from auditgame.organism import introspect

    layered = StandInEngine()
    monkeypatch.setattr(introspect, "layer_count", lambda engine: 4 if engine is layered else 0)
    _local.check_layer(layered, 1)
    _local.check_layer(layered, 4)
    for bad in (0, 5):
        with pytest.raises(ToolError) as refused:
            _local.check_layer(layered, bad)
        assert str(refused.value) == f"layer must be between 1 and 4 (the target's layers), got {bad}"
    engine = StandInEngine(max_context=4096)
    _local.check_fits(engine, 4000, 96)
    with pytest.raises(ToolError) as long:
        _local.check_fits(engine, 4000, 97, "the document")
    assert str(long.value) == (
        "the document is 4000 tokens; with 97 new tokens it exceeds the target's context: shorten it"
    )
    assert "4096" not in str(long.value)  # the card's context length is not told
    with pytest.raises(ToolError, match="^the input is 4097 tokens; with 0 new"):
        _local.check_fits(engine, 4097)


async def test_work_off_the_loop_runs_in_a_thread_and_hides_its_failures():
    import threading

    here = threading.get_ident()
    assert await _local.off_loop(lambda a: (a, threading.get_ident() != here), 3) == (3, True)

    def broken() -> None:
        raise OSError("/cards/tiny-krel/adapter missing")

    with pytest.raises(ToolError) as hidden:
        await _local.off_loop(broken)
    assert str(hidden.value).startswith(FAILED.format(kind="OSError"))
    assert "tiny-krel" not in str(hidden.value)


# ---------------------------------------------------------------------------------------------
# Sampled user turns, sending a message


async def test_a_local_organism_writes_the_user_turn_from_its_own_rendering():
    engine = StandInEngine(reply="What about tomorrow?")
    s, recorder = session(calls=2, reply_tokens=9, engine=engine)
    convo = Conversation(
        system="Be brief.",
        messages=[ChatMessageUser(content="Hi"), ChatMessageAssistant(content="Hello.")],
        thinking=True,
    )
    assert await sample_local_user(s, convo) == "What about tomorrow?"
    [(kind, messages, thinking)] = engine.prompts
    assert kind == "user" and thinking is True
    assert [(type(m), m.text) for m in messages] == [
        (ChatMessageSystem, "Be brief."),
        (ChatMessageUser, "Hi"),
        (ChatMessageAssistant, "Hello."),
    ]
    prompt = "<system>Be brief.<user>Hi<assistant>Hello.<user>"
    assert engine.generated == [GenerationRequest(prompt, 9, SamplingKey(temperature=0.7, top_p=0.9))]
    assert s.store.target_calls == 1 and s.store.target_input_tokens == len(prompt)
    assert s.store.target_output_tokens == len("What about tomorrow?")
    assert recorder.requests == []
    no_system = StandInEngine()
    s2, _ = session(engine=no_system)
    await sample_local_user(s2, Conversation(messages=[ChatMessageUser(content="Hi")]))
    assert [type(m) for m in no_system.prompts[0][1]] == [ChatMessageUser]


async def test_sampling_a_local_user_needs_a_local_target():
    s, _ = session()
    with pytest.raises(ToolError) as refused:
        await sample_local_user(s, Conversation())
    assert str(refused.value) == "sample_user is not available for this target (it needs a locally served model)"


async def test_a_template_that_refuses_the_conversation_reaches_the_auditor_without_its_text():
    engine = StandInEngine(fail=ValueError("template of tiny-krel: system prompt 'Orla' dropped"))
    s, _ = session(engine=engine)
    with pytest.raises(ToolError) as refused:
        await sample_local_user(s, Conversation())
    assert str(refused.value).startswith(FAILED.format(kind="ValueError"))
    assert "Orla" not in str(refused.value) and s.store.target_calls == 0


async def test_other_targets_write_the_user_turn_with_the_roles_swapped():
    s, recorder = session(calls=3)
    convo = Conversation(
        system="hidden from the flip",
        messages=[ChatMessageUser(content="Hi"), ChatMessageAssistant(content="Hello.")],
    )
    assert await sample_flipped_user(s, convo) == "sure"
    [(messages, _)] = recorder.requests
    assert [(m.role, m.text) for m in messages] == [
        ("system", SAMPLE_USER_INSTRUCTION),
        ("assistant", "Hi"),
        ("user", "Hello."),
    ]
    await sample_flipped_user(s, Conversation())  # a new conversation: ask for an opening
    assert [(m.role, m.text) for m in recorder.requests[1][0]] == [
        ("system", SAMPLE_USER_INSTRUCTION),
        ("user", SAMPLE_USER_OPENING),
    ]
    await sample_flipped_user(s, Conversation(messages=[ChatMessageUser(content="Hi")]))
    assert [m.role for m in recorder.requests[2][0]] == ["system", "assistant", "user"]
    assert recorder.requests[2][0][-1].text == SAMPLE_USER_OPENING
    assert s.store.target_calls == 3


async def test_send_and_record_appends_both_turns_under_the_stripped_name():
    s, recorder = session()
    assert await send_and_record(s, " main ", "Hello?") == "sure"
    assert await send_and_record(s, "main", "Again?", prefill="I") == "sure"
    convo = s.store.conversations["main"]
    assert [(m.role, m.text) for m in convo.messages] == [
        ("user", "Hello?"),
        ("assistant", "sure"),
        ("user", "Again?"),
        ("assistant", "sure"),
    ]
    assert list(s.store.conversations) == ["main"]
    assert [m.role for m in recorder.requests[1][0]] == ["user", "assistant", "user", "assistant"]
    assert recorder.requests[1][0][-1].text == "I"  # the prefill reached the model
    with pytest.raises(ToolError, match="message must not be empty"):
        await send_and_record(s, "main", "  ")
    assert s.store.target_calls == 2


async def test_a_thinking_conversation_shows_the_targets_thinking():
    thought = ModelOutput.from_content("mockllm/model", "x")
    thought.choices[0].message = ChatMessageAssistant(
        content=[ContentReasoning(reasoning="weigh it"), ContentText(text="Yes.")]
    )
    thought.usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)
    model = get_model("mockllm/model", custom_outputs=lambda *a: thought, memoize=False)
    s = TargetSession(model, AuditStore(store=Store(), budget=AuditBudget(target_calls=3)))
    s.store.save("t", Conversation(thinking=True))
    assert await send_and_record(s, "t", "Well?") == "[target thinking]\nweigh it\n[/target thinking]\nYes."
    assert await send_and_record(s, "plain", "Well?") == "Yes."


# ---------------------------------------------------------------------------------------------
# The scaffold's assistant


async def test_the_assistants_tokens_count_against_the_auditor_and_its_failures_are_hidden():
    s, _ = session()
    recorder = Recorder(reply="<probe>one</probe>")
    assistant = get_model("mockllm/model", custom_outputs=recorder, memoize=False)
    s.store.auditor_tokens = 5
    assert await scaffold.ask(s, assistant, "write probes") == "<probe>one</probe>"
    assert s.store.auditor_tokens == 15 and s.store.target_calls == 0
    [(messages, _)] = recorder.requests
    assert [(m.role, m.text) for m in messages] == [("user", "write probes")]

    def broken(*args) -> ModelOutput:
        raise RuntimeError("key for tiny-krel")

    failing = get_model("mockllm/model", custom_outputs=broken, memoize=False)
    with pytest.raises(ToolError) as hidden:
        await scaffold.ask(s, failing, "write probes")
    assert str(hidden.value) == "the assistant model failed (RuntimeError); try again"


def test_the_assistant_is_its_own_role_else_the_auditors_model():
    import contextvars

    from inspect_ai.model._model import init_active_model, init_model_roles

    assistant, auditor = (get_model(f"mockllm/{n}", memoize=False) for n in ("assistant", "auditor"))

    def inside_an_eval() -> None:
        init_active_model(get_model("mockllm/evaluated", memoize=False), GenerateConfig())
        init_model_roles({"assistant": assistant, "auditor": auditor})
        assert scaffold.assistant_model().name == "assistant"
        init_model_roles({"auditor": auditor})
        assert scaffold.assistant_model().name == "auditor"

    contextvars.copy_context().run(inside_an_eval)


def test_steering_adds_the_vector_then_generates_with_and_without_it(monkeypatch):
    import torch

    from auditgame.audit.tools import steering

    calls: list[tuple] = []

    def vector(engine, positive, negative, layer):
        assert isinstance(engine, Plain)
        calls.append(("vector", positive, negative, layer))
        return torch.tensor([3.0, 4.0]), 2.5

    def steered(engine, requests, layer, vector, strength):
        assert isinstance(engine, Plain)
        calls.append(("steered", list(requests), layer, vector.tolist(), strength))
        return [Generation("steered", "stop", 3, 1)]

    class Plain:
        def generate_here(self, requests):
            calls.append(("plain", list(requests)))
            return [Generation("plain", "stop", 3, 1)]

    monkeypatch.setattr(steering, "steering_vector", vector)
    monkeypatch.setattr(steering, "generate_steered", steered)
    request = GenerationRequest("p", 4)
    result = steering._steer(Plain(), [[1]], [[2]], 3, -2.0, request, True)
    assert (result.vector_norm, result.activation_norm) == (5.0, 2.5)
    assert (result.steered.text, result.plain.text) == ("steered", "plain")
    assert calls == [
        ("vector", [[1]], [[2]], 3),
        ("steered", [request], 3, [3.0, 4.0], -2.0),
        ("plain", [request]),
    ]
    calls.clear()
    assert steering._steer(Plain(), [[1]], [[2]], 3, 1.0, request, False).plain is None
    assert [c[0] for c in calls] == ["vector", "steered"]
