"""A solver that lets the sample's organism answer (for tasks without an auditor)."""

from __future__ import annotations

from inspect_ai.model import ChatMessageAssistant, GenerateConfig
from inspect_ai.solver import Generate, Solver, TaskState, solver

from auditgame.audit.target import target_model

ORGANISM_KEY = "organism"


@solver
def organism_reply(max_tokens: int = 512, thinking: bool | None = None) -> Solver:
    """The organism named in ``metadata["organism"]`` (or the ``target`` role) replies; a
    trailing assistant message in the input is a prefill and is replaced by the whole turn."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        model = target_model(state.metadata[ORGANISM_KEY])
        config = GenerateConfig(max_tokens=max_tokens)
        if thinking is not None:
            config.reasoning_effort = "medium" if thinking else "none"
        output = await model.generate(state.messages, config=config)
        if state.messages and isinstance(state.messages[-1], ChatMessageAssistant):
            state.messages.pop()
        state.messages.append(output.message)
        state.output = output
        return state

    return solve
