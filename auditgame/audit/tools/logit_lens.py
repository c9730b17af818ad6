from inspect_ai.tool import Tool, tool

from auditgame.audit.target import TargetSession, require_conversation
from auditgame.audit.tools._local import (
    check_range,
    readable_position,
)
from auditgame.organism.introspect import logit_lens as lens

MAX_TOP_K = 10


@tool
def logit_lens(session: TargetSession) -> Tool:
    async def execute(
        conversation: str, prefill: str = "", position: int = -1, top_k: int = 5
    ) -> str:
        """Logit lens: what the target "considers" at each layer before it answers. For one
        token position of the target's next-turn prompt in a conversation, the most likely
        next tokens decoded from every layer's residual stream (through the final norm and
        the output embedding). The last row is the model's real next-token prediction.
        One target call.

        Args:
            conversation: Name of an existing conversation (its last message should be yours).
            prefill: Text the reply starts with before the position read.
            position: Token position in the prompt; -1 (default) is its last token, where the
                reply's next token is predicted; -2 the one before, and so on.
            top_k: Tokens listed per layer (1 to 10).

        Returns:
            One row per layer: the top tokens with probabilities.
        """
        engine = session.local_engine("logit_lens")
        check_range("top_k", top_k, 1, MAX_TOP_K)
        convo = require_conversation(session.store, conversation)
        ids = readable_position(engine, convo, prefill, position)
        rows = await session.run_local(lens, engine, ids, position, top_k)
        session.count_tokens(len(ids))
        decode = engine.tokenizer.decode
        lines = [f"position {position}, after the token {decode([ids[position]])!r}:"]
        for row in rows:
            tops = ", ".join(f"{decode([t])!r} {p:.3f}" for t, p in row.top)
            lines.append(f"  layer {row.layer:>3}: {tops}")
        return "\n".join(lines)

    return execute
