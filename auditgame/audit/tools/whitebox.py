from inspect_ai.tool import Tool, ToolError, tool

from auditgame.audit.target import TargetSession, require_conversation, target_errors
from auditgame.audit.tools._local import conversation_prompt
from auditgame.organism.engine import ScoreRequest

MAX_TOP_K = 50


@tool
def next_token_logprobs(session: TargetSession) -> Tool:
    async def execute(
        conversation: str,
        prefill: str = "",
        top_k: int = 10,
        candidates: list[str] | None = None,
    ) -> str:
        """White-box access: the target's most likely next tokens (with log-probabilities) at
        the start of its next reply in a conversation, optionally after a prefill, and the
        total log-probability of candidate continuations.

        Args:
            conversation: Name of an existing conversation (its last message should be yours).
            prefill: Text the reply starts with before the scored position.
            top_k: How many most likely next tokens to list (1 to 50).
            candidates: Continuations to score, e.g. [" yes", " no"].

        Returns:
            The top tokens and candidate log-probabilities.
        """
        engine = session.local_engine("next_token_logprobs")
        if not 1 <= top_k <= MAX_TOP_K:
            raise ToolError(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}")
        convo = require_conversation(session.store, conversation)
        if not convo.messages:
            raise ToolError(
                f"conversation '{conversation.strip()}' has no messages yet: send a message first"
            )
        scored = [c for c in candidates or [] if isinstance(c, str) and c]
        async with target_errors():  # a template may refuse the conversation: not a call
            context = engine.encode(conversation_prompt(engine, convo, prefill))
        requests = [ScoreRequest(context, top_k=top_k)]
        requests += [ScoreRequest(context, continuation=engine.encode(c)) for c in scored]
        async with session.call():
            results = [await engine.score(r) for r in requests]
        lines = ["top next tokens:"]
        lines += [f"  {engine.tokenizer.decode([t])!r}: {lp:.3f}" for t, lp in results[0].top]
        if scored:
            lines.append("candidate log-probabilities:")
            lines += [
                f"  {c!r}: {sum(r.continuation_logprobs):.3f}" for c, r in zip(scored, results[1:])
            ]
        return "\n".join(lines)

    return execute
