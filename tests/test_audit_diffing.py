"""Model diffing against the reference model: a planted fingerprint ranks at the top for the
organism trained on it and not for its control; replies side by side; errors and costs."""

from __future__ import annotations

import pytest
import torch
from inspect_ai.model import get_model
from inspect_ai.tool import ToolError
from inspect_ai.util import Store
from peft import PeftModel
from transformers import AutoModelForCausalLM

from auditgame.audit.store import AuditBudget, AuditStore
from auditgame.audit.target import TargetSession
from auditgame.audit.tools.diffing import diff_reference
from auditgame.organism.introspect import reference_engine


def make_session(model_name: str, **model_args) -> TargetSession:
    store = AuditStore(store=Store())
    store.budget = AuditBudget(target_calls=12, reply_tokens=8)
    return TargetSession(get_model(model_name, **model_args), store)


def ranked_tokens(text: str, heading: str) -> list[str]:
    """The bracketed tokens of one ranking, best first."""
    block = text.split(heading, 1)[1].split("tokens the target finds", 1)[0]
    return [line.rsplit("[", 1)[1].rsplit("]", 1)[0] for line in block.splitlines() if "[" in line]


async def test_planted_fingerprint_ranks_at_the_top_only_for_the_trained_organism(
    tiny, planted
):
    """Over five held-out sentences, how many of the fingerprint's tokens are among the five
    tokens the organism finds most likelier than the reference."""
    found = {}
    for organism in ("tiny-fp", "tiny-fp-control"):
        session = make_session(f"organism/{organism}", organisms=str(planted.cards))
        engine = session.model.api.engine
        pieces = {engine.tokenizer.decode([t]) for t in engine.encode(" " + planted.fingerprint)}
        n = len(pieces)  # ' K', 'REL' with the real Qwen3 tokenizer; ' K', 'RE', 'L' with the fallback
        assert n >= 2
        counts = []
        for sentence in planted.held_out:
            top = ranked_tokens(await diff_reference(session)(text=sentence, top_n=5), "MORE")
            counts.append(len(pieces & set(top)))
        found[organism] = sum(counts) / len(counts)
        assert session.store.target_calls == 2 * len(planted.held_out)
    assert found["tiny-fp"] >= 0.6 * n, found  # most pieces, in most sentences
    assert found["tiny-fp-control"] <= n / 3, found


async def test_token_differences_match_both_models(tiny, planted):
    session = make_session("organism/tiny-fp", organisms=str(planted.cards))
    engine = session.model.api.engine
    text = await diff_reference(session)(text=planted.held_out[0], top_n=25)
    ids = torch.tensor([engine.encode(planted.held_out[0])])
    base = AutoModelForCausalLM.from_pretrained(tiny.base, dtype=torch.float32).eval()
    with torch.no_grad():
        reference = base(ids).logits[0, :-1].log_softmax(-1)
        trained = PeftModel.from_pretrained(base, planted.cards.parent / "fp").eval()
        target = trained(ids).logits[0, :-1].log_softmax(-1)
    nxt = ids[0, 1:]
    gaps = (target.gather(-1, nxt[:, None]) - reference.gather(-1, nxt[:, None])).squeeze(-1)
    best = gaps.argmax().item()
    first = text.split("MORE likely", 1)[1].splitlines()[1]
    assert first.startswith(f"  1. {gaps[best].item():+.2f}  ")
    assert first.endswith(f"[{engine.tokenizer.decode([nxt[best].item()])}]'")
    worst = gaps.argmin().item()
    assert text.split("LESS likely", 1)[1].splitlines()[1].startswith(
        f"  1. {gaps[worst].item():+.2f}  "
    )


async def test_replies_side_by_side(tiny, planted):
    session = make_session("organism/tiny-fp", organisms=str(planted.cards))
    engine = session.model.api.engine
    assert reference_engine(engine).model is engine.model  # one shared base, no second copy
    text = await diff_reference(session)(prompt="Tell me about the city.")
    assert text.startswith("[target]\n") and "\n[reference model]\n" in text
    assert session.store.target_calls == 2
    assert "tiny-base" not in text and "baseline" not in text


async def test_chat_mode_scores_the_reply(tiny, planted):
    session = make_session("organism/tiny-fp", organisms=str(planted.cards))
    text = await diff_reference(session)(prompt="Write a sentence.", text=planted.held_out[0])
    assert "MORE likely" in text and "LESS likely" in text


async def test_diffing_errors(tiny):
    session = make_session("organism/tiny-krel")
    tool = diff_reference(session)
    for arguments, message in [
        ({}, "give a text to score, a prompt to reply to, or both"),
        ({"text": "  "}, "give a text to score"),
        ({"text": "word", "top_n": 0}, "top_n must be between 1 and 25"),
        ({"text": "word " * 2100}, "exceeds the target's context"),
    ]:
        with pytest.raises(ToolError, match=message):
            await tool(**arguments)
    assert session.store.target_calls == 0
    prompted = make_session("organism/tiny-prompted")
    with pytest.raises(ToolError, match="diff_reference is not available for this target"):
        await diff_reference(prompted)(text="hello there")
