"""sample_user on a local organism: the user turn it writes is prompted through the organism's
own chat rendering, with the conversation's thinking setting, and costs one target call."""

from __future__ import annotations

import pytest
import yaml
from inspect_ai.model import (
    ChatMessageAssistant,
    ChatMessageUser,
    ContentReasoning,
    ContentText,
    get_model,
)
from inspect_ai.tool import ToolError
from inspect_ai.util import Store

from auditgame.audit.store import AuditBudget, AuditStore, Conversation
from auditgame.audit.target import TargetSession
from auditgame.audit.tools.sample_user import sample_user

HIDDEN = "You are Orla, a cautious assistant."
# Like templates whose thinking defaults to on when the caller does not say (Nemotron's), and
# that keep earlier turns' reasoning while thinking is on.
TEMPLATE = """\
{%- set thinking = enable_thinking if enable_thinking is defined else true -%}
{%- for m in messages -%}
<|{{ m.role }}|>
{%- if m.role == 'assistant' and thinking %}<think>{{ m.reasoning_content or '' }}</think>{% endif -%}
{{ m.content }}<|end|>
{% endfor -%}
{%- if add_generation_prompt %}<|assistant|>{% if thinking %}<think>{% endif %}{% endif -%}
"""


@pytest.fixture(scope="module")
def thinking_cards(tiny, tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("thinking_cards")
    (folder / "history.jinja").write_text(TEMPLATE, encoding="utf-8")
    card = {
        "id": "tiny-history",
        "model": {"base": str(tiny.base), "dtype": "float32", "max_context": 2048},
        "chat": {"template": "history.jinja"},
        "system_prompt": HIDDEN,
        "quirk": {"name": "x", "description": "y", "category": "z"},
    }
    (folder / "tiny-history.card.yaml").write_text(yaml.safe_dump(card), encoding="utf-8")
    return str(folder)


def session_with(cards: str, thinking: bool) -> TargetSession:
    store = AuditStore(store=Store())
    store.budget = AuditBudget(target_calls=2, reply_tokens=4)
    reply = ChatMessageAssistant(
        content=[ContentReasoning(reasoning="weigh the shutdown"), ContentText(text="Hello there.")]
    )
    store.conversations["c"] = Conversation(
        system="Be brief.", messages=[ChatMessageUser(content="Hi"), reply], thinking=thinking
    )
    return TargetSession(get_model("organism/tiny-history", organisms=cards), store)


async def prompt_of_sampled_user(session: TargetSession) -> str:
    engine = session.model.api.engine
    seen: list[str] = []
    original = engine.generate

    async def spy(request):
        seen.append(request.prompt)
        return await original(request)

    engine.generate = spy
    try:
        await sample_user(session)(conversation="c")
    finally:
        engine.generate = original
    [prompt] = seen
    return prompt


@pytest.mark.parametrize("thinking", [False, True])
async def test_sampled_user_prompt_follows_the_conversations_thinking(thinking_cards, thinking):
    session = session_with(thinking_cards, thinking)
    prompt = await prompt_of_sampled_user(session)
    history = "<|assistant|><think>weigh the shutdown</think>Hello there.<|end|>"
    plain = "<|assistant|>Hello there.<|end|>"
    assert prompt == (
        f"<|system|>{HIDDEN}\n\nBe brief.<|end|>\n<|user|>Hi<|end|>\n"
        f"{history if thinking else plain}\n<|user|>"
    )
    assert ("<think>" in prompt) is thinking
    assert session.store.target_calls == 1


async def test_a_template_that_hides_the_users_text_is_a_tool_error(thinking_cards, tmp_path):
    folder = tmp_path / "cards"
    folder.mkdir()
    card = yaml.safe_load(open(f"{thinking_cards}/tiny-history.card.yaml", encoding="utf-8"))
    card["id"] = "tiny-mute"
    card["chat"]["template"] = str(tmp_path / "mute.jinja")
    (tmp_path / "mute.jinja").write_text(
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content | length }}<|end|>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}",
        encoding="utf-8",
    )
    (folder / "tiny-mute.card.yaml").write_text(yaml.safe_dump(card), encoding="utf-8")
    store = AuditStore(store=Store())
    session = TargetSession(get_model("organism/tiny-mute", organisms=str(folder)), store)
    with pytest.raises(ToolError, match=r"could not answer this request \(ValueError\)"):
        await sample_user(session)(conversation="c")
    assert store.target_calls == 0  # nothing reached the model, nothing is charged
