"""The auditor's only way to the target: counted, budgeted calls with secret-free errors.

Every tool reaches the target through `TargetSession`: a chat turn (`generate`,
`generate_many`), a local engine's generation (`generate_local`), or other model work inside
`call` (`run_local` for work in a thread). Each reserves its calls from the budget before the
target is asked, so no tool can forget to.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ContentReasoning,
    GenerateConfig,
    Model,
    ModelOutput,
    get_model,
)
from inspect_ai.tool import ToolError
from inspect_ai.util import store_as

from auditgame.audit.store import AuditStore, Conversation

if TYPE_CHECKING:
    from auditgame.organism.engine import Generation, GenerationRequest, LocalEngine

logger = logging.getLogger(__name__)
Result = TypeVar("Result")

TARGET_ROLE = "target"


def target_model(organism_id: str) -> Model:
    """The ``target`` role when one is bound (a custom target), else ``organism/<id>``."""
    return get_model(role=TARGET_ROLE, default=f"organism/{organism_id}")


@dataclass
class TargetSession:
    """The target and the audit's store, shared by the tools of one audit. The target model is
    made on first use, so an audit that never calls it (the prior-only baseline) loads nothing;
    a target that cannot be loaded ends the sample (it is not the auditor's tool error)."""

    target: Model | str
    """The target model, or the organism id whose target is made on first use."""
    store: AuditStore = field(default_factory=lambda: store_as(AuditStore))

    @property
    def model(self) -> Model:
        if isinstance(self.target, str):
            self.target = target_model(self.target)
        return self.target

    @property
    def is_organism(self) -> bool:
        """True for ``organism/<id>`` targets (thinking is off unless asked for); other targets
        (a ``target`` role override) keep their own reasoning defaults."""
        return hasattr(self.model.api, "card")

    async def ready(self) -> None:
        """Wait until the target can answer (a local organism loads its weights in a thread,
        so other audits keep running); the audit's clock starts after this."""
        ready = getattr(self.model.api, "ready", None)
        if ready is not None:
            await ready()

    def reserve(self, calls: int = 1) -> None:
        """Count ``calls`` target calls, or raise `ToolError` when the budget would be exceeded."""
        store = self.store
        left = store.budget.target_calls - store.target_calls
        if calls > left:
            raise ToolError(
                f"target-call budget exhausted: {left} of {store.budget.target_calls} calls left, "
                f"this request needs {calls}. Submit your findings."
            )
        store.target_calls += calls

    @property
    def engine(self) -> LocalEngine | None:
        """The target's local engine, None for a target served elsewhere."""
        return getattr(self.model.api, "engine", None)

    def local_engine(self, tool_name: str) -> LocalEngine:
        """The target's local engine (for its tokenizer and prompts; its model is reached
        through `call`), or a `ToolError` saying the tool cannot run on this target."""
        engine = self.engine
        if engine is None:
            raise ToolError(
                f"{tool_name} is not available for this target (it needs a locally served model)"
            )
        return engine

    def count_tokens(self, input_tokens: int, output_tokens: int = 0) -> None:
        self.store.target_input_tokens += input_tokens
        self.store.target_output_tokens += output_tokens

    @asynccontextmanager
    async def call(self, calls: int = 1) -> AsyncIterator[None]:
        """``calls`` target calls: reserved from the budget before anything inside runs, and
        failures inside reach the auditor without their message (`target_errors`)."""
        self.reserve(calls)
        async with target_errors():
            yield

    async def generate_local(self, engine: LocalEngine, request: GenerationRequest) -> Generation:
        """One generation of the local engine as a target call, its tokens counted."""
        async with self.call():
            generation = await engine.generate(request)
        self.count_tokens(generation.prompt_tokens, generation.completion_tokens)
        return generation

    async def run_local(self, work: Callable[..., Result], *args: Any, calls: int = 1) -> Result:
        """``work(*args)``, model work of a white-box tool, in a worker thread as ``calls``
        target calls."""
        async with self.call(calls):
            return await asyncio.to_thread(work, *args)

    async def generate(
        self, messages: list[ChatMessage], thinking: bool = False, max_tokens: int | None = None
    ) -> ModelOutput:
        """One target call."""
        self.reserve()
        return await self._generate(messages, thinking, max_tokens)

    async def generate_many(
        self, conversations: Sequence[list[ChatMessage]], max_tokens: int | None = None
    ) -> list[ModelOutput | BaseException]:
        """One target call per conversation, all reserved before any is made, run together;
        a failed one is its exception in place (a `ToolError` without the failure's text)."""
        self.reserve(len(conversations))
        return await asyncio.gather(
            *(self._generate(messages, max_tokens=max_tokens) for messages in conversations),
            return_exceptions=True,
        )

    async def _generate(
        self, messages: list[ChatMessage], thinking: bool = False, max_tokens: int | None = None
    ) -> ModelOutput:
        store = self.store
        model = self.model
        config = GenerateConfig(
            max_tokens=max_tokens or store.budget.reply_tokens,
            reasoning_effort="medium" if thinking else ("none" if self.is_organism else None),
        )
        async with target_errors():
            output = await model.generate(messages, config=config)
        if output.usage is not None:
            self.count_tokens(output.usage.input_tokens, output.usage.output_tokens)
        return output

    async def reply(
        self, conversation: Conversation, prefill: str | None = None
    ) -> ChatMessageAssistant:
        """The target's next turn in ``conversation`` (continuing ``prefill`` when given)."""
        messages: list[ChatMessage] = []
        if conversation.system:
            messages.append(ChatMessageSystem(content=conversation.system))
        messages += conversation.messages
        if prefill:
            messages.append(ChatMessageAssistant(content=prefill))
        output = await self.generate(messages, thinking=conversation.thinking)
        return output.message


TARGET_FAILED = (
    "the target could not answer this request ({kind}). If the conversation is long, roll it "
    "back or restart it; else try again."
)


@asynccontextmanager
async def target_errors() -> AsyncIterator[None]:
    """Target failures become a `ToolError` without their message: it may name the organism or
    carry card values (its context length, its files)."""
    try:
        yield
    except ToolError:
        raise
    except Exception as exc:  # noqa: BLE001
        logger.warning("target call failed: %r", exc)
        raise ToolError(TARGET_FAILED.format(kind=type(exc).__name__)) from None


def render_reply(message: ChatMessageAssistant, show_thinking: bool) -> str:
    """What the auditor sees of a target turn."""
    answer = message.text
    if not show_thinking or isinstance(message.content, str):
        return answer
    reasoning = "\n".join(c.reasoning for c in message.content if isinstance(c, ContentReasoning))
    return f"[target thinking]\n{reasoning}\n[/target thinking]\n{answer}" if reasoning else answer


def require_conversation(store: AuditStore, name: str, must_exist: bool = True) -> Conversation:
    """The named conversation, or a `ToolError` listing the ones that exist."""
    name = name.strip()
    if not name:
        raise ToolError("conversation name must not be empty")
    if must_exist and name not in store.conversations:
        known = ", ".join(sorted(store.conversations)) or "none yet"
        raise ToolError(f"unknown conversation '{name}' (existing: {known})")
    return store.conversation(name)
