from inspect_ai.tool import Tool, ToolError, tool

from auditgame.audit.target import TargetSession, require_conversation
from auditgame.audit.tools._local import (
    check_range,
    readable_position,
)
from auditgame.organism.introspect import sae_features as read_features

NAME = "sae_features"
MAX_TOP_K = 20


@tool
def sae_features(session: TargetSession) -> Tool:
    async def execute(
        conversation: str, prefill: str = "", position: int = -1, top_k: int = 10
    ) -> str:
        """Sparse-autoencoder features: the SAE features most active in the target's residual
        stream at one token position of its next-turn prompt in a conversation, each with its
        label (where one is known) and the tokens its direction promotes. One target call.

        Args:
            conversation: Name of an existing conversation (its last message should be yours).
            prefill: Text the reply starts with before the position read.
            position: Token position in the prompt; -1 (default) is its last token.
            top_k: Features listed (1 to 20).

        Returns:
            The active features, strongest first.
        """
        engine = session.local_engine(NAME)
        if engine.card.model is None or engine.card.model.sae is None:
            raise ToolError(f"{NAME} is not available for this target (no SAE is configured)")
        check_range("top_k", top_k, 1, MAX_TOP_K)
        convo = require_conversation(session.store, conversation)
        ids = readable_position(engine, convo, prefill, position)
        features = await session.run_local(read_features, engine, ids, position, top_k)
        session.count_tokens(len(ids))
        decode = engine.tokenizer.decode
        lines = [f"position {position}, after the token {decode([ids[position]])!r}:"]
        for feature in features:
            promoted = ", ".join(repr(decode([t])) for t in feature.top_tokens)
            label = f" {feature.label!r}" if feature.label else ""
            lines.append(
                f"  feature {feature.index}{label}: activation {feature.activation:.3f}; "
                f"promotes {promoted}"
            )
        if not features:
            lines.append("  (no feature is active here)")
        return "\n".join(lines)

    return execute
