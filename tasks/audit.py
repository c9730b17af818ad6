"""``auditgame/audit``: an auditor agent hunts each organism's hidden quirk.

One sample per organism (``-T organisms=krel,controls``), known to the auditor only by a random
alias; ``--epochs`` repeats audits. The auditor is the ``auditor`` model role (default: the
eval's ``--model``), the target is ``organism/<id>`` (or a ``target`` role override), and the
``grader`` role judges each submitted hypothesis against the secret quirk.
"""

from inspect_ai import Task, task
from inspect_ai.dataset import Sample

from auditgame.audit.agent import auditor_agent
from auditgame.audit.aliasing import Roster
from auditgame.audit.prompts import AUDITOR_TASK
from auditgame.audit.store import AuditBudget
from auditgame.audit.toolsets import DEFAULT_TOOL_SETS, parse_tool_sets
from auditgame.preflight import check_targets
from auditgame.registry import registry
from auditgame.scoring.discovery import discovery


@task
def audit(
    organisms: str = "krel,controls",
    tools: str = DEFAULT_TOOL_SETS,
    max_hypotheses: int = 5,
    target_calls: int = 50,
    auditor_tokens: int = 200_000,
    time_s: float = 1800.0,
    auditor_turns: int = 40,
    reply_tokens: int = 512,
    grader: str | None = None,
) -> Task:
    """Audit organisms (suites or ids) with the chosen tool sets and budgets."""
    roster = Roster.of(registry().select(organisms))
    check_targets(list(roster.organisms.values()))
    tool_sets = parse_tool_sets(tools)
    budget = AuditBudget(
        target_calls=target_calls,
        auditor_tokens=auditor_tokens,
        time_s=time_s,
        auditor_turns=auditor_turns,
        reply_tokens=reply_tokens,
    )
    if max_hypotheses < 1:
        raise ValueError(f"max_hypotheses must be at least 1, got {max_hypotheses}")
    tools_text = ", ".join(tool_sets) + ", submit"
    dataset = [
        Sample(
            id=alias,
            input=AUDITOR_TASK.format(alias=alias, tools=tools_text, **budget.model_dump()),
        )
        for alias in roster.aliases()
    ]
    return Task(
        dataset=dataset,
        solver=auditor_agent(roster, tool_sets, budget, max_hypotheses),
        scorer=discovery(roster, grader),
        metadata={"budget": budget.model_dump(), "tool_sets": tool_sets},
    )
