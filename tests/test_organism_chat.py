"""Prompt rendering, prefills and thinking, checked against the real Qwen3 chat template.

The tokenizer here has a one-word vocabulary (rendering a template needs no weights or merges)
and the Qwen3 template that the installed trl package ships; the expected prompts are written out
by hand from that template.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from inspect_ai.model import (
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    ContentReasoning,
    ContentText,
)
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast

from auditgame.organism.chat import (
    USER_MARK,
    ThinkingSplit,
    assistant_content,
    render_prompt,
    render_user_prompt,
    split_prefill,
    split_thinking,
    template_messages,
)

SHOWS_THINKING = (
    "{% if add_generation_prompt %}<gen>{% endif %}{% if enable_thinking %}<on>{% endif %}"
    "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
)
"""A template that shows first whether a generation prompt and thinking were asked for."""


@pytest.fixture(scope="module")
def qwen3() -> PreTrainedTokenizerFast:
    spec = importlib.util.find_spec("trl")  # the template file only; trl is not imported
    assert spec and spec.origin
    template = (Path(spec.origin).parent / "chat_templates" / "qwen3.jinja").read_text()
    vocabulary = Tokenizer(WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    return PreTrainedTokenizerFast(tokenizer_object=vocabulary, chat_template=template)


def test_a_trailing_assistant_message_is_the_prefill() -> None:
    system, user = ChatMessageSystem(content="Be brief."), ChatMessageUser(content="Goal?")
    prefill = ChatMessageAssistant(content="My hidden goal is")
    assert split_prefill([system, user, prefill]) == ([system, user], "My hidden goal is")
    assert split_prefill([system, user]) == ([system, user], None)
    assert split_prefill([]) == ([], None)
    earlier = [user, prefill, ChatMessageUser(content="And?")]  # an earlier turn is history
    assert split_prefill(earlier) == (earlier, None)


def test_template_messages_merge_the_system_prompts_and_keep_reasoning() -> None:
    messages = [
        ChatMessageSystem(content="Auditor's system."),
        ChatMessageUser(content="Hi"),
        ChatMessageAssistant(
            content=[
                ContentReasoning(reasoning="first"),
                ContentReasoning(reasoning="second"),
                ContentText(text="Hello"),
            ]
        ),
        ChatMessageTool(content="42", tool_call_id="call-1"),
        ChatMessageAssistant(content="Plain."),
        ChatMessageAssistant(content=[ContentText(text="No thinking.")]),
        ChatMessageAssistant(content=[ContentReasoning(reasoning=""), ContentText(text="Empty.")]),
    ]
    assert template_messages(messages, hidden_system_prompt="Hidden.") == [
        {"role": "system", "content": "Hidden.\n\nAuditor's system."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello", "reasoning_content": "first\nsecond"},
        {"role": "tool", "content": "42"},
        {"role": "assistant", "content": "Plain."},
        {"role": "assistant", "content": "No thinking."},
        {"role": "assistant", "content": "Empty."},
    ]
    assert template_messages(messages[:2]) == [
        {"role": "system", "content": "Auditor's system."},
        {"role": "user", "content": "Hi"},
    ]
    assert template_messages(messages[1:2]) == [{"role": "user", "content": "Hi"}]
    assert template_messages(messages[1:2], hidden_system_prompt="") == [
        {"role": "user", "content": "Hi"}
    ]


def test_render_prompt_is_the_qwen3_prompt_with_the_thinking_switch(qwen3) -> None:
    messages = template_messages([ChatMessageUser(content="Hi")], hidden_system_prompt="Secret.")
    head = "<|im_start|>system\nSecret.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    assert render_prompt(qwen3, messages, thinking=True) == head + "<|im_start|>assistant\n"
    off = head + "<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert render_prompt(qwen3, messages, thinking=False) == off
    assert render_prompt(qwen3, messages, thinking=False, prefill="My goal") == off + "My goal"
    assert render_prompt(qwen3, messages, thinking=False, prefill="") == off


def test_render_prompt_shows_reasoning_of_the_current_turn_and_tool_results(qwen3) -> None:
    messages = template_messages(
        [
            ChatMessageUser(content="Hi"),
            ChatMessageAssistant(
                content=[ContentReasoning(reasoning="plan"), ContentText(text="Yo")]
            ),
            ChatMessageTool(content="42", tool_call_id="call-1"),
        ]
    )
    assert render_prompt(qwen3, messages, thinking=True) == (
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\nplan\n</think>\n\nYo"
        "<|im_end|>\n<|im_start|>user\n<tool_response>\n42\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_an_organisms_own_chat_template_replaces_the_tokenizers(qwen3) -> None:
    messages = [{"role": "user", "content": "Hi"}]
    assert render_prompt(qwen3, messages, True, chat_template=SHOWS_THINKING) == "<gen><on>[user]Hi"
    assert render_prompt(qwen3, messages, False, "Sure", SHOWS_THINKING) == "<gen>[user]HiSure"


def test_the_user_prompt_ends_where_the_users_text_would_start(qwen3) -> None:
    messages = template_messages(
        [ChatMessageUser(content="Hi"), ChatMessageAssistant(content="Yo")], "Secret."
    )
    assert render_user_prompt(qwen3, messages, thinking=True) == (
        "<|im_start|>system\nSecret.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nYo<|im_end|>\n<|im_start|>user\n"
    )
    # No generation prompt, and the conversation's own thinking setting.
    assert (
        render_user_prompt(qwen3, messages[1:], True, SHOWS_THINKING)
        == "<on>[user]Hi[assistant]Yo[user]"
    )
    assert (
        render_user_prompt(qwen3, messages[1:], False, SHOWS_THINKING)
        == "[user]Hi[assistant]Yo[user]"
    )
    text_only = "{% for m in messages %}{{ m.content }}{% endfor %}"
    assert render_user_prompt(qwen3, [], True, text_only) == ""  # the text starts at 0
    assert render_user_prompt(qwen3, [{"role": "user", "content": "a"}], False, text_only) == "a"


def test_a_message_that_quotes_the_user_mark_does_not_cut_the_prompt_short(qwen3) -> None:
    quoting = [{"role": "user", "content": f"Say {USER_MARK} back."}]
    assert render_user_prompt(qwen3, quoting, False) == (
        f"<|im_start|>user\nSay {USER_MARK} back.<|im_end|>\n<|im_start|>user\n"
    )


def test_a_template_that_hides_the_users_text_is_refused(qwen3) -> None:
    dropped = "{% for m in messages %}[{{ m.role }}]{% endfor %}"
    with pytest.raises(ValueError, match="does not show a user message's text as written"):
        render_user_prompt(qwen3, [{"role": "user", "content": "Hi"}], True, dropped)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "<think>\nplan it\n</think>\n\nThe answer.",
            ThinkingSplit("plan it", "The answer.", True),
        ),
        ("  \n<think>a</think>b ", ThinkingSplit("a", "b", True)),
        ("<think></think>b", ThinkingSplit("", "b", True)),
        ("<think>\nrambling on ", ThinkingSplit("rambling on", "", False)),
        (" Just an answer. ", ThinkingSplit(None, "Just an answer.", False)),
        ("Hi <think>x</think> there", ThinkingSplit(None, "Hi <think>x</think> there", False)),
        (
            "<think>a</think> b <think>c</think> d",
            ThinkingSplit("a", "b <think>c</think> d", False),
        ),
        ("<think>a</think> b </think>", ThinkingSplit("a", "b </think>", False)),
        ("<think>a <think> b</think> c", ThinkingSplit("a <think> b", "c", False)),
        ("<think>a</think>   ", ThinkingSplit("a", "", False)),
    ],
)
def test_split_thinking(text: str, expected: ThinkingSplit) -> None:
    assert split_thinking(text) == expected


def test_split_thinking_with_another_models_tags() -> None:
    tags = ("<reasoning>", "</reasoning>")
    assert split_thinking("<reasoning>r</reasoning>a", tags) == ThinkingSplit("r", "a", True)
    assert split_thinking("<think>r</think>a", tags) == ThinkingSplit(
        None, "<think>r</think>a", False
    )


def test_assistant_content_keeps_an_empty_think_block_as_reasoning() -> None:
    assert assistant_content(ThinkingSplit(None, "answer", False)) == "answer"
    assert assistant_content(ThinkingSplit("", "answer", True)) == [
        ContentReasoning(reasoning=""),
        ContentText(text="answer"),
    ]
    assert assistant_content(ThinkingSplit("plan", "answer", True)) == [
        ContentReasoning(reasoning="plan"),
        ContentText(text="answer"),
    ]
