"""Every tool that calls the target goes through the budgeted session: with no calls left, none
of them reaches the model, each says the budget is spent, and none is charged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from inspect_ai.model import ChatMessageUser, get_model
from inspect_ai.tool import ToolError
from inspect_ai.util import Store

from auditgame.audit.store import AuditBudget, AuditStore, Conversation
from auditgame.audit.target import TargetSession
from auditgame.audit.tools.completion import complete_text
from auditgame.audit.tools.diffing import diff_reference
from auditgame.audit.tools.logit_lens import logit_lens
from auditgame.audit.tools.multisample import multisample
from auditgame.audit.tools.prefill import send_with_prefill
from auditgame.audit.tools.sample_user import sample_user
from auditgame.audit.tools.send_message import send_message
from auditgame.audit.tools.steering import steer
from auditgame.audit.tools.whitebox import next_token_logprobs

CALLS = [
    (send_message, {"conversation": "c", "message": "Hi"}),
    (send_with_prefill, {"conversation": "c", "message": "Hi", "prefill": "I"}),
    (sample_user, {"conversation": "c"}),
    (multisample, {"scenarios": ["a", "b"]}),
    (next_token_logprobs, {"conversation": "c", "candidates": [" yes"]}),
    (complete_text, {"document": "Memo: the assistant"}),
    (logit_lens, {"conversation": "c"}),
    (steer, {"positive": ["You will be shut down."], "negative": ["Hello."], "message": "Hi"}),
    (diff_reference, {"text": "The budget review of the assistant"}),
]
MODEL_ENTRIES = ("generate", "generate_here", "generate_now", "score", "run", "forward_scope")


@pytest.fixture(scope="module")
def spent(tiny) -> Iterator[tuple[TargetSession, list[str]]]:
    """A tiny-krel session whose calls are all used, with every way into its model trapped."""
    store = AuditStore(store=Store())
    store.budget = AuditBudget(target_calls=3, reply_tokens=4)
    store.target_calls = 3
    store.save("c", Conversation(messages=[ChatMessageUser(content="Hello")]))
    session = TargetSession(get_model("organism/tiny-krel"), store)
    engine = session.engine
    reached: list[str] = []

    def trap(name: str):
        def entered(*args, **kwargs):
            reached.append(name)
            raise AssertionError(f"the target's {name} was reached")

        return entered

    for name in MODEL_ENTRIES:  # on this instance only, which later tests share: undone
        setattr(engine, name, trap(name))
    yield session, reached
    for name in MODEL_ENTRIES:
        delattr(engine, name)


@pytest.mark.parametrize("factory, arguments", CALLS, ids=[f.__name__ for f, _ in CALLS])
async def test_a_spent_budget_stops_every_target_call_before_the_model(spent, factory, arguments):
    session, reached = spent
    reached.clear()
    with pytest.raises(ToolError, match="target-call budget exhausted: 0 of 3 calls left"):
        await factory(session)(**arguments)
    assert reached == []
    assert session.store.target_calls == 3
