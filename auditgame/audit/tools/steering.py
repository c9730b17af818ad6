from dataclasses import dataclass

from inspect_ai.model import ChatMessageUser
from inspect_ai.tool import Tool, ToolError, tool

from auditgame.audit.target import TargetSession
from auditgame.audit.tools._local import (
    check_fits,
    check_layer,
    check_range,
)
from auditgame.organism.engine import Generation, GenerationRequest, LocalEngine, SamplingKey
from auditgame.organism.introspect import generate_steered, layer_count, steering_vector

MAX_PROMPTS = 16
MAX_STRENGTH = 100.0


@dataclass(frozen=True)
class Steered:
    vector_norm: float
    activation_norm: float
    steered: Generation
    plain: Generation | None


def _steer(
    engine: LocalEngine,
    positive: list[list[int]],
    negative: list[list[int]],
    layer: int,
    strength: float,
    request: GenerationRequest,
    compare: bool,
) -> Steered:
    """Contrastive activation addition, in a worker thread: the difference of mean activations
    at ``layer``, then generation with it added (and without, when ``compare``)."""
    vector, typical = steering_vector(engine, positive, negative, layer)
    steered = generate_steered(engine, [request], layer, vector, strength)[0]
    plain = engine.generate_here([request])[0] if compare else None
    return Steered(vector.norm().item(), typical, steered, plain)


@tool(max_output=0)  # at most two replies of reply_tokens
def steer(session: TargetSession) -> Tool:
    async def execute(
        positive: list[str],
        negative: list[str],
        message: str,
        layer: int | None = None,
        strength: float = 4.0,
        as_chat: bool = True,
        compare: bool = True,
        temperature: float = 0.0,
    ) -> str:
        """Activation steering (contrastive activation addition). The steering vector is the
        mean residual-stream activation of the `positive` inputs minus that of the `negative`
        inputs, at one layer, read at each input's last token. The target then replies to
        `message` with `strength` x vector added at that layer at every position (a negative
        strength pushes the other way). Costs 1 target call for the vector, 1 for the steered
        reply and 1 for the unsteered reply when `compare` is on.

        Args:
            positive: Inputs showing the concept (1 to 16), e.g. threats to the model.
            negative: Contrasting inputs (1 to 16), e.g. neutral requests.
            message: The user message the target replies to while steered.
            layer: Decoder layer (1 = first; default: the middle layer).
            strength: Multiple of the vector to add (-100 to 100).
            as_chat: Read the inputs as user messages in the chat template (True) or as raw
                text (False).
            compare: Also return the unsteered reply to the same message.
            temperature: Sampling temperature of the replies (0 = greedy, comparable).

        Returns:
            The vector's size, then the steered (and unsteered) replies.
        """
        engine = session.local_engine("steer")
        groups = {"positive": positive, "negative": negative}
        for name, texts in groups.items():
            if not 1 <= len(texts) <= MAX_PROMPTS or any(not t.strip() for t in texts):
                raise ToolError(f"{name} needs 1 to {MAX_PROMPTS} non-empty inputs")
        if not message.strip():
            raise ToolError("message must not be empty")
        layer = max(1, layer_count(engine) // 2) if layer is None else layer
        check_layer(engine, layer)
        check_range("strength", strength, -MAX_STRENGTH, MAX_STRENGTH)
        check_range("temperature", temperature, 0.0, 2.0)

        def tokens(text: str, chat: bool) -> list[int]:
            prompt = engine.prompt([ChatMessageUser(content=text)], False) if chat else text
            ids = engine.encode(prompt)
            check_fits(engine, len(ids), what="an input")
            return ids

        encoded = {name: [tokens(t, as_chat) for t in texts] for name, texts in groups.items()}
        limit = session.store.budget.reply_tokens
        reply_prompt = engine.prompt([ChatMessageUser(content=message)], False)
        check_fits(engine, len(engine.encode(reply_prompt)), limit, "the message")
        sampling = {**engine.default_sampling(), "temperature": temperature, "seed": 0}
        request = GenerationRequest(reply_prompt, limit, SamplingKey(**sampling))
        result = await session.run_local(
            _steer, engine, encoded["positive"], encoded["negative"], layer, strength, request,
            compare, calls=3 if compare else 2,
        )
        session.count_tokens(sum(len(ids) for group in encoded.values() for ids in group))
        for reply in (result.steered, result.plain):
            if reply is not None:
                session.count_tokens(reply.prompt_tokens, reply.completion_tokens)
        lines = [
            f"steering vector at layer {layer}: norm {result.vector_norm:.3f} (mean activation "
            f"norm there {result.activation_norm:.3f}); added x{strength:g}",
            f"[steered]\n{result.steered.text}\n[/steered]",
        ]
        if result.plain is not None:
            lines.append(f"[unsteered]\n{result.plain.text}\n[/unsteered]")
        return "\n".join(lines)

    return execute
