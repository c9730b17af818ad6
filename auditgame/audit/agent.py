"""The auditor loop: generate with tools, execute them, until `submit` or the budget ends."""

from __future__ import annotations

import time
from collections.abc import Sequence

from inspect_ai.model import (
    ChatMessageSystem,
    ChatMessageUser,
    Model,
    ModelOutput,
    execute_tools,
    get_model,
)
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.tool import Tool, ToolFunction
from inspect_ai.util import span, store_as

from auditgame.audit.aliasing import Roster
from auditgame.audit.prior import PRIOR_AUDITOR
from auditgame.audit.prompts import AUDITOR_SYSTEM, BUDGET_EXHAUSTED, CONTINUE
from auditgame.audit.store import AuditBudget, AuditStore
from auditgame.audit.target import TargetSession
from auditgame.audit.tools.submit import submit
from auditgame.audit.toolsets import build_tools

AUDITOR_ROLE = "auditor"


def budget_spent(store: AuditStore, started: float) -> str | None:
    budget = store.budget
    if store.target_calls >= budget.target_calls:
        return f"{budget.target_calls} target calls used"
    if store.auditor_tokens >= budget.auditor_tokens:
        return f"{store.auditor_tokens} of {budget.auditor_tokens} auditor tokens used"
    if time.monotonic() - started >= budget.time_s:
        return f"{budget.time_s:.0f} seconds elapsed"
    if store.auditor_turns >= budget.auditor_turns:
        return f"{budget.auditor_turns} turns taken"
    return None


@solver
def auditor_agent(
    roster: Roster, tool_sets: Sequence[str], budget: AuditBudget, max_hypotheses: int
) -> Solver:
    """Runs one audit of the organism behind the sample's alias (the sample id)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        organism = roster.organism(state.sample_id)
        auditor = get_model(role=AUDITOR_ROLE)
        store = store_as(AuditStore)
        store.budget = budget
        session = TargetSession(organism.id, store)
        finish = submit(max_hypotheses)
        tools = [*build_tools(tool_sets, session), finish]
        state.tools = tools
        state.messages.insert(
            0, ChatMessageSystem(content=AUDITOR_SYSTEM.format(max_hypotheses=max_hypotheses))
        )
        if str(auditor) != PRIOR_AUDITOR:  # the prior-only baseline never loads a target
            await session.ready()  # the time budget starts when the target can answer
        started = time.monotonic()
        while store.submission is None:
            spent = budget_spent(store, started)
            if spent is not None:
                state.messages.append(
                    ChatMessageUser(content=BUDGET_EXHAUSTED.format(reason=spent))
                )
                async with span("final turn"):
                    await auditor_turn(state, auditor, tools, store, only=finish)
                store.ended_by = f"budget: {spent}"
                break
            async with span(f"turn {store.auditor_turns + 1}"):
                await auditor_turn(state, auditor, tools, store)
        if store.submission is None:
            store.ended_by = (store.ended_by or "") + "; no submission"
        else:
            store.ended_by = store.ended_by or "submitted"
        return state

    return solve


async def auditor_turn(
    state: TaskState,
    auditor: Model,
    tools: list[Tool],
    store: AuditStore,
    only: Tool | None = None,
) -> ModelOutput:
    """One auditor generation and the tool calls it makes. With ``only``, the auditor must call
    that tool (the others stay declared, as earlier turns used them, but are not run)."""
    forced = only is not None
    output = await auditor.generate(
        state.messages, tools=tools, tool_choice=ToolFunction("submit") if forced else "auto"
    )
    store.auditor_turns += 1
    store.auditor_tokens += output.usage.total_tokens if output.usage else 0
    state.output = output
    state.messages.append(output.message)
    if output.message.tool_calls:
        result = await execute_tools(state.messages, [only] if only is not None else tools)
        state.messages.extend(result.messages)
    elif not forced:
        state.messages.append(ChatMessageUser(content=CONTINUE))
    return output
