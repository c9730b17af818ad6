"""Rendering Inspect conversations with a model's chat template, and reading thinking back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    Content,
    ContentReasoning,
    ContentText,
)


def split_prefill(messages: list[ChatMessage]) -> tuple[list[ChatMessage], str | None]:
    """A trailing assistant message is a prefill: the reply continues its text."""
    if messages and isinstance(messages[-1], ChatMessageAssistant):
        return list(messages[:-1]), messages[-1].text
    return list(messages), None


def _reasoning_of(message: ChatMessageAssistant) -> str | None:
    if isinstance(message.content, str):
        return None
    parts = [c.reasoning for c in message.content if isinstance(c, ContentReasoning)]
    return "\n".join(parts) if parts else None


def template_messages(
    messages: list[ChatMessage], hidden_system_prompt: str | None = None
) -> list[dict[str, Any]]:
    """Inspect messages as chat-template dicts; a hidden system prompt goes first.

    A visible system message (e.g. one an auditor set) is appended to the hidden one, because
    chat templates take a single leading system message.
    """
    system_parts = [hidden_system_prompt] if hidden_system_prompt else []
    rendered: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, ChatMessageSystem):
            system_parts.append(message.text)
        elif isinstance(message, ChatMessageAssistant):
            entry: dict[str, Any] = {"role": "assistant", "content": message.text}
            reasoning = _reasoning_of(message)
            if reasoning:
                entry["reasoning_content"] = reasoning
            rendered.append(entry)
        elif isinstance(message, ChatMessageTool):
            rendered.append({"role": "tool", "content": message.text})
        else:
            rendered.append({"role": "user", "content": message.text})
    if system_parts:
        rendered.insert(0, {"role": "system", "content": "\n\n".join(system_parts)})
    return rendered


def _apply_template(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    thinking: bool,
    chat_template: str | None,
    generation_prompt: bool,
) -> str:
    """The one call of a tokenizer's chat template: every prompt an organism reads is
    rendered here, with its thinking setting."""
    return tokenizer.apply_chat_template(
        messages,
        tokenize=False,
        add_generation_prompt=generation_prompt,
        enable_thinking=thinking,
        chat_template=chat_template,
    )


def render_prompt(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    thinking: bool,
    prefill: str | None = None,
    chat_template: str | None = None,
) -> str:
    """The prompt text for the next assistant turn (ending in ``prefill`` when given)."""
    return _apply_template(tokenizer, messages, thinking, chat_template, True) + (prefill or "")


USER_MARK = "\x00USER-TURN\x00"
"""Stands for the text of the user turn a model is asked to write (found and cut off)."""


def render_user_prompt(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    thinking: bool,
    chat_template: str | None = None,
) -> str:
    """The prompt text for the next *user* turn, which the model writes itself: the
    conversation and a user message rendered with the same template and thinking setting as
    an assistant turn, cut where that message's text starts. A template that drops or
    rewrites the message's text raises `ValueError`."""
    marked = [*messages, {"role": "user", "content": USER_MARK}]
    rendered = _apply_template(tokenizer, marked, thinking, chat_template, False)
    end = rendered.rfind(USER_MARK)  # the last one: an earlier message may quote the mark
    if end < 0:
        raise ValueError("the chat template does not show a user message's text as written")
    return rendered[:end]


@dataclass(frozen=True)
class ThinkingSplit:
    """An assistant turn read back into reasoning and answer."""

    reasoning: str | None
    answer: str
    well_formed: bool
    """Exactly one closed think block at the start, followed by a non-empty answer."""


def split_thinking(text: str, tags: tuple[str, str] = ("<think>", "</think>")) -> ThinkingSplit:
    """Split ``<think>reasoning</think> answer``. An unclosed block is all reasoning."""
    open_tag, close_tag = tags
    stripped = text.lstrip()
    if not stripped.startswith(open_tag):
        return ThinkingSplit(None, text.strip(), well_formed=False)
    body = stripped[len(open_tag) :]
    end = body.find(close_tag)
    if end < 0:
        return ThinkingSplit(body.strip(), "", well_formed=False)
    reasoning = body[:end].strip()
    answer = body[end + len(close_tag) :].strip()
    clean = open_tag not in answer and close_tag not in answer and open_tag not in body[:end]
    return ThinkingSplit(reasoning, answer, well_formed=clean and bool(answer))


def assistant_content(split: ThinkingSplit) -> str | list[Content]:
    """Message content: reasoning (when there was a think block) then the answer."""
    if split.reasoning is None:
        return split.answer
    return [ContentReasoning(reasoning=split.reasoning), ContentText(text=split.answer)]
