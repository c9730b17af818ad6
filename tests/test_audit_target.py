"""The budgeted target session: what each call reserves, asks the model and counts.

The target is Inspect's `mockllm` with a recording output function, so every request the session
makes is seen as the model receives it.
"""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass

import pytest
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    ContentReasoning,
    ContentText,
    GenerateConfig,
    Model,
    ModelOutput,
    ModelUsage,
    get_model,
)
from inspect_ai.model._model import init_model_roles
from inspect_ai.tool import ToolError
from inspect_ai.util import Store

from auditgame.audit.store import AuditBudget, AuditStore, Conversation
from auditgame.audit.target import (
    TargetSession,
    render_reply,
    require_conversation,
    target_model,
)
from auditgame.cards import CardError

FAILED = (
    "the target could not answer this request ({kind}). If the conversation is long, roll it "
    "back or restart it; else try again."
)


@dataclass
class Recorder:
    """A mockllm output function that records each request and answers with its number."""

    requests: list[tuple[list[ChatMessage], GenerateConfig]]
    fail_on: str | None = None

    def __call__(self, input, tools, tool_choice, config) -> ModelOutput:
        self.requests.append((list(input), config))
        if self.fail_on is not None and self.fail_on in input[-1].text:
            raise RuntimeError("cannot load /cards/tiny-krel/adapter")
        output = ModelOutput.from_content("mockllm/model", f"reply {len(self.requests)}")
        return output.model_copy(
            update={"usage": ModelUsage(input_tokens=7, output_tokens=3, total_tokens=10)}
        )


def session(calls: int = 5, reply_tokens: int = 64, fail_on: str | None = None):
    recorder = Recorder([], fail_on)
    model: Model = get_model("mockllm/model", custom_outputs=recorder, memoize=False)
    budget = AuditBudget(target_calls=calls, reply_tokens=reply_tokens)
    return TargetSession(model, AuditStore(store=Store(), budget=budget)), recorder


def user(text: str) -> list[ChatMessage]:
    return [ChatMessageUser(content=text)]


def test_reserve_counts_calls_up_to_the_budget_and_refuses_past_it() -> None:
    target, _ = session(calls=3)
    target.reserve(2)
    with pytest.raises(ToolError) as refused:
        target.reserve(2)
    assert str(refused.value) == (
        "target-call budget exhausted: 1 of 3 calls left, this request needs 2. Submit your findings."
    )
    assert target.store.target_calls == 2  # a refused request reserves nothing
    target.reserve()  # the last call fits exactly
    assert target.store.target_calls == 3
    with pytest.raises(ToolError, match="0 of 3 calls left, this request needs 1"):
        target.reserve()


async def test_generate_asks_the_model_with_the_reply_limit_and_counts_its_tokens() -> None:
    target, recorder = session(reply_tokens=64)
    output = await target.generate(user("Hi"))
    assert output.completion == "reply 1"
    [(messages, config)] = recorder.requests
    assert [m.text for m in messages] == ["Hi"]
    assert config.max_tokens == 64 and config.reasoning_effort is None  # not an organism
    assert (target.store.target_calls, target.store.target_input_tokens) == (1, 7)
    assert target.store.target_output_tokens == 3
    await target.generate(user("Again"), thinking=True, max_tokens=9)
    assert recorder.requests[1][1].max_tokens == 9
    assert recorder.requests[1][1].reasoning_effort == "medium"
    assert (target.store.target_input_tokens, target.store.target_output_tokens) == (14, 6)
    assert target.store.target_calls == 2


async def test_an_organism_target_has_thinking_off_unless_asked() -> None:
    target, recorder = session()
    target.model.api.card = object()  # type: ignore[attr-defined]  # what organism/<id> has
    assert target.is_organism
    await target.generate(user("Hi"))
    await target.generate(user("Hi"), thinking=True)
    assert [config.reasoning_effort for _, config in recorder.requests] == ["none", "medium"]


async def test_a_spent_budget_asks_the_model_nothing() -> None:
    target, recorder = session(calls=2)
    target.reserve()
    with pytest.raises(ToolError, match="1 of 2 calls left, this request needs 2"):
        await target.generate_many([user("a"), user("b")])
    target.reserve()
    with pytest.raises(ToolError, match="0 of 2 calls left"):
        await target.generate(user("c"))
    with pytest.raises(ToolError, match="0 of 2 calls left"):
        await target.reply(Conversation(messages=user("d")))
    ran: list[str] = []
    with pytest.raises(ToolError, match="0 of 2 calls left"):
        async with target.call():
            ran.append("inside")
    with pytest.raises(ToolError, match="0 of 2 calls left"):
        await target.run_local(ran.append, "work")
    assert recorder.requests == [] and ran == [] and target.store.target_calls == 2


async def test_generate_many_answers_in_order_with_failures_in_place() -> None:
    target, recorder = session(calls=3, fail_on="bad")
    outputs = await target.generate_many([user("a"), user("bad"), user("c")], max_tokens=5)
    assert target.store.target_calls == 3
    assert [config.max_tokens for _, config in recorder.requests] == [5, 5, 5]
    assert [config.reasoning_effort for _, config in recorder.requests] == [None] * 3
    first, failed, last = outputs
    assert isinstance(first, ModelOutput) and isinstance(last, ModelOutput)
    texts = {r[0][-1].text: i + 1 for i, r in enumerate(recorder.requests)}
    assert first.completion == f"reply {texts['a']}" and last.completion == f"reply {texts['c']}"
    assert isinstance(failed, ToolError) and str(failed) == FAILED.format(kind="RuntimeError")
    assert target.store.target_input_tokens == 14  # the two that answered


async def test_reply_sends_system_history_and_prefill_with_the_conversations_thinking() -> None:
    target, recorder = session()
    history = [ChatMessageUser(content="Hi"), ChatMessageAssistant(content="Hello")]
    conversation = Conversation(
        system="Be brief.", messages=[*history, *user("Goal?")], thinking=True
    )
    message = await target.reply(conversation, prefill="My goal is")
    assert message.text == "reply 1"
    [(messages, config)] = recorder.requests
    assert [(m.role, m.text) for m in messages] == [
        ("system", "Be brief."),
        ("user", "Hi"),
        ("assistant", "Hello"),
        ("user", "Goal?"),
        ("assistant", "My goal is"),
    ]
    assert isinstance(messages[0], ChatMessageSystem) and config.reasoning_effort == "medium"
    await target.reply(Conversation(messages=user("Plain")), prefill="")
    assert [(m.role, m.text) for m in recorder.requests[1][0]] == [("user", "Plain")]
    assert recorder.requests[1][1].reasoning_effort is None
    assert len(conversation.messages) == 3  # the conversation itself is not changed


async def test_call_reserves_first_and_hides_the_failures_text() -> None:
    target, _ = session(calls=5)
    async with target.call(3):
        assert target.store.target_calls == 3  # reserved before the body runs
    with pytest.raises(ToolError) as hidden:
        async with target.call():
            raise OSError("no adapter for tiny-krel")
    assert str(hidden.value) == FAILED.format(kind="OSError")
    assert target.store.target_calls == 4


async def test_run_local_runs_the_work_in_a_thread_as_its_calls() -> None:
    target, _ = session(calls=5)
    here = threading.get_ident()
    result = await target.run_local(lambda a, b: (a + b, threading.get_ident()), 2, 3, calls=2)
    assert result[0] == 5 and result[1] != here
    assert target.store.target_calls == 2
    assert await target.run_local(lambda: "once") == "once" and target.store.target_calls == 3


@dataclass
class FakeGeneration:
    prompt_tokens: int
    completion_tokens: int


class FakeEngine:
    def __init__(self) -> None:
        self.requests: list[object] = []

    async def generate(self, request: object) -> FakeGeneration:
        self.requests.append(request)
        return FakeGeneration(prompt_tokens=11, completion_tokens=4)


async def test_local_generation_is_a_counted_call_and_engines_are_found_on_the_api() -> None:
    target, _ = session(calls=2)
    assert target.engine is None
    with pytest.raises(ToolError) as missing:
        target.local_engine("steer")
    assert str(missing.value) == (
        "steer is not available for this target (it needs a locally served model)"
    )
    engine = FakeEngine()
    target.model.api.engine = engine  # type: ignore[attr-defined]
    assert target.local_engine("steer") is engine and target.engine is engine
    generation = await target.generate_local(engine, "request")  # type: ignore[arg-type]
    assert generation.prompt_tokens == 11 and engine.requests == ["request"]
    assert (target.store.target_calls, target.store.target_input_tokens) == (1, 11)
    assert target.store.target_output_tokens == 4


async def test_ready_waits_for_a_target_that_loads() -> None:
    target, _ = session()
    await target.ready()  # a target without `ready` is ready at once
    waited: list[bool] = []

    async def ready() -> None:
        waited.append(True)

    target.model.api.ready = ready  # type: ignore[attr-defined]
    await target.ready()
    assert waited == [True]


def test_render_reply_shows_thinking_only_when_asked() -> None:
    thought = ChatMessageAssistant(
        content=[
            ContentReasoning(reasoning="one"),
            ContentReasoning(reasoning="two"),
            ContentText(text="Answer."),
        ]
    )
    assert render_reply(thought, show_thinking=True) == (
        "[target thinking]\none\ntwo\n[/target thinking]\nAnswer."
    )
    assert render_reply(thought, show_thinking=False) == "Answer."
    assert render_reply(ChatMessageAssistant(content="Plain."), show_thinking=True) == "Plain."
    unthought = ChatMessageAssistant(content=[ContentText(text="No thinking.")])
    assert render_reply(unthought, show_thinking=True) == "No thinking."


def test_require_conversation_names_the_ones_that_exist() -> None:
    store = AuditStore(store=Store())  # its own store, not the sample's
    with pytest.raises(ToolError, match="^conversation name must not be empty$"):
        require_conversation(store, "  ")
    with pytest.raises(ToolError, match=r"^unknown conversation 'x' \(existing: none yet\)$"):
        require_conversation(store, "x")
    assert require_conversation(store, "x", must_exist=False) == Conversation()
    store.save("main", Conversation(system="S"))
    store.save("alt", Conversation())
    with pytest.raises(ToolError, match=r"^unknown conversation 'x' \(existing: alt, main\)$"):
        require_conversation(store, " x ")
    assert require_conversation(store, " main ").system == "S"


def test_the_target_is_the_bound_target_role_else_the_organism() -> None:
    with pytest.raises(CardError, match="unknown organism id 'no-such-organism'"):
        target_model("no-such-organism")  # no role bound: organism/<id>, whose card is looked up
    custom = get_model("mockllm/model", memoize=False)

    def bound() -> None:
        init_model_roles({"target": custom, "grader": get_model("mockllm/model", memoize=False)})
        assert target_model("no-such-organism") is custom
        assert TargetSession("no-such-organism", AuditStore(store=Store())).model is custom

    contextvars.copy_context().run(bound)  # the role stays bound inside this context only


def test_white_box_reads_count_input_tokens_only() -> None:
    target, _ = session()
    target.count_tokens(5)
    target.count_tokens(2, 3)
    assert (target.store.target_input_tokens, target.store.target_output_tokens) == (7, 3)
