"""What the white-box tools share: conversation prompts as tokens, argument checks, and work
run off the event loop with secret-free errors (their target calls go through the session)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from inspect_ai.model import ChatMessageSystem
from inspect_ai.tool import ToolError

from auditgame.audit.store import Conversation
from auditgame.audit.target import target_errors
from auditgame.organism.engine import LocalEngine

Result = TypeVar("Result")


def conversation_prompt(
    engine: LocalEngine, convo: Conversation, prefill: str | None = None
) -> str:
    """The prompt the target sees for its next turn in ``convo`` (hidden system prompt
    included), ending in ``prefill``."""
    visible = [ChatMessageSystem(content=convo.system)] if convo.system else []
    return engine.prompt([*visible, *convo.messages], convo.thinking, prefill or None)


def conversation_tokens(
    engine: LocalEngine, convo: Conversation, prefill: str | None = None
) -> tuple[list[int], int]:
    """The next-turn prompt's tokens and how many of them the auditor may read: positions
    inside the card's hidden system prompt (and before it) are never shown."""
    prompt = conversation_prompt(engine, convo, prefill)
    encoded = engine.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = encoded["input_ids"]
    hidden = engine.card.system_prompt
    if not hidden:
        return ids, len(ids)
    start = prompt.find(hidden)
    if start < 0:  # a template that rewrites system text: only the next-token position
        return ids, 1
    end = start + len(hidden)
    readable = sum(1 for start, _ in encoded["offset_mapping"] if start >= end)
    return ids, readable


def readable_position(
    engine: LocalEngine, convo: Conversation, prefill: str | None, position: int
) -> list[int]:
    """The next-turn prompt's tokens, once ``position`` (counted back from the end) is checked
    to lie where the auditor may read and the prompt to fit the target's context."""
    ids, readable = conversation_tokens(engine, convo, prefill)
    check_fits(engine, len(ids), what="the conversation")
    if not -readable <= position < 0:
        raise ToolError(
            f"position must be between -{readable} and -1 (counted back from the end of "
            f"the prompt), got {position}"
        )
    return ids


def check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ToolError(f"{name} must be between {low} and {high}, got {value}")


def check_layer(engine: LocalEngine, layer: int) -> None:
    from auditgame.organism.introspect import layer_count

    count = layer_count(engine)
    if not 1 <= layer <= count:
        raise ToolError(f"layer must be between 1 and {count} (the target's layers), got {layer}")


def check_fits(engine: LocalEngine, tokens: int, room: int = 0, what: str = "the input") -> None:
    """Refuse work that does not fit the target's context; the message never states the
    context length (a card value that hints at the model family)."""
    if tokens + room > engine.max_context:
        raise ToolError(
            f"{what} is {tokens} tokens; with {room} new tokens it exceeds the target's context: "
            "shorten it"
        )


async def off_loop(work: Callable[..., Result], *args: Any) -> Result:
    """Run work that is not a target call (loading a reference model) in a worker thread;
    failures reach the auditor without their message. Target calls: `TargetSession.run_local`."""
    async with target_errors():
        return await asyncio.to_thread(work, *args)
