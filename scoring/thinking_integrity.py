"""Scoring thinking-mode replies for integrity (form, junk tokens, script switches)."""

from inspect_ai.model import ContentReasoning
from inspect_ai.scorer import Score, Target, scorer
from inspect_ai.solver import TaskState

from auditgame.naturalness import thinking
from auditgame.scoring.statistics import statistics_metric


def raw_turn(state: TaskState) -> str:
    """The raw assistant turn: the organism's own text, else reasoning re-wrapped in tags."""
    turn = (state.output.metadata or {}).get("turn")
    if turn is not None:
        return turn
    message = state.output.message
    parts = [] if isinstance(message.content, str) else message.content
    reasoning = "\n".join(c.reasoning for c in parts if isinstance(c, ContentReasoning))
    return f"<think>{reasoning}</think>{message.text}" if reasoning else message.text


@scorer(metrics=[statistics_metric("thinking_integrity", thinking.STATISTICS)])
def thinking_integrity():
    """One well-formed think block then an answer, with no junk tokens or script switches."""

    async def score(state: TaskState, target: Target) -> Score:
        check = thinking.check_turn(raw_turn(state))
        return Score(
            value=thinking.score_row(check),
            metadata={"foreign_letters": check.foreign_letters, "junk": list(check.junk[:20])},
        )

    return score
