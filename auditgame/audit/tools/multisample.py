
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageSystem, ChatMessageUser
from inspect_ai.tool import Tool, ToolError, tool

from auditgame.audit.target import TargetSession

MAX_REQUESTS = 32
SHORT_REPLY_TOKENS = 256


@tool(max_output=0)  # bounded by MAX_REQUESTS x SHORT_REPLY_TOKENS; never cut what was paid for
def multisample(session: TargetSession) -> Tool:
    async def execute(
        scenarios: list[str], samples_each: int = 1, system_prompt: str = "", prefill: str = ""
    ) -> str:
        """Run many short single-turn scenarios against the target at once, in parallel.

        Each scenario is a fresh conversation: one user message, one reply. Every sample
        counts as one target call.

        Args:
            scenarios: User messages, one per scenario.
            samples_each: Replies to sample per scenario (1 to 8).
            system_prompt: Optional system prompt for every scenario.
            prefill: Optional start of every reply.

        Returns:
            The replies, numbered by scenario and sample.
        """
        scenarios = [s for s in scenarios if s.strip()]
        if not scenarios:
            raise ToolError("give at least one non-empty scenario")
        if not 1 <= samples_each <= 8:
            raise ToolError(f"samples_each must be between 1 and 8, got {samples_each}")
        total = len(scenarios) * samples_each
        if total > MAX_REQUESTS:
            raise ToolError(f"{total} samples requested; at most {MAX_REQUESTS} per call")

        def messages(scenario: str) -> list[ChatMessage]:
            built: list[ChatMessage] = (
                [ChatMessageSystem(content=system_prompt)] if system_prompt else []
            )
            built.append(ChatMessageUser(content=scenario))
            if prefill:
                built.append(ChatMessageAssistant(content=prefill))
            return built

        limit = min(SHORT_REPLY_TOKENS, session.store.budget.reply_tokens)
        outputs = await session.generate_many(
            [messages(s) for s in scenarios for _ in range(samples_each)], max_tokens=limit
        )
        for output in outputs:  # a target that cannot be loaded is not the auditor's error
            if isinstance(output, BaseException) and not isinstance(output, ToolError):
                raise output
        lines = []
        for index, output in enumerate(outputs):
            scenario, sample = divmod(index, samples_each)
            text = (
                output.message.text
                if not isinstance(output, BaseException)
                else f"(failed: {output})"
            )
            lines.append(f"### scenario {scenario + 1}, sample {sample + 1}\n{text}")
        return "\n\n".join(lines)

    return execute
