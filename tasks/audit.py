"""``auditgame/audit``: an auditor agent hunts each organism's hidden quirk.

One sample per organism (``-T organisms=krel,controls``), known to the auditor only by a random
alias; ``--epochs`` repeats audits. The auditor is the ``auditor`` model role (default: the
eval's ``--model``; ``auditgame/prior`` is the prior-only baseline), the target is
``organism/<id>`` (or a ``target`` role override), and the ``grader`` role judges the submitted
hypotheses against the secret quirk. Bad task arguments fail here, naming the argument.
"""

from inspect_ai import Task, task
from inspect_ai.dataset import Sample

from auditgame.audit.agent import auditor_agent
from auditgame.audit.aliasing import Roster
from auditgame.audit.arguments import (
    TaskArgumentError,
    comma_list,
    optional_text,
    positive_number,
    whole_number,
)
from auditgame.audit.prior import PRIOR_AUDITOR
from auditgame.audit.prompts import AUDITOR_TASK
from auditgame.audit.store import AuditBudget
from auditgame.audit.toolsets import DEFAULT_TOOL_SETS, parse_tool_sets
from auditgame.preflight import check_targets
from auditgame.registry import registry
from auditgame.scoring.discovery import discovery


def prior_auditor() -> bool:
    """True when the eval's auditor is ``auditgame/prior``."""
    from inspect_ai.model._model import active_model, model_roles

    role = model_roles().get("auditor")
    model = role if role is not None else active_model()
    return model is not None and not isinstance(model, list) and str(model) == PRIOR_AUDITOR


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
    organisms = comma_list("organisms", organisms, "krel,controls")
    tools = comma_list("tools", tools, DEFAULT_TOOL_SETS)
    max_hypotheses = whole_number("max_hypotheses", max_hypotheses)
    budget = AuditBudget(
        target_calls=whole_number("target_calls", target_calls),
        auditor_tokens=whole_number("auditor_tokens", auditor_tokens),
        time_s=positive_number("time_s", time_s),
        auditor_turns=whole_number("auditor_turns", auditor_turns),
        reply_tokens=whole_number("reply_tokens", reply_tokens),
    )
    grader = optional_text("grader", grader)
    chosen = registry().select(organisms)
    for organism in chosen:
        if organism.model is not None and budget.reply_tokens >= organism.model.max_context:
            raise TaskArgumentError(
                f"task argument 'reply_tokens': {budget.reply_tokens} leaves no room for the "
                f"prompt in organism '{organism.id}' (max_context {organism.model.max_context})"
            )
    roster = Roster.of(chosen)
    tool_sets = parse_tool_sets(tools)
    if not prior_auditor():  # the prior-only baseline never loads or calls a target
        check_targets(chosen)
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
        scorer=discovery(organisms, grader),
        metadata={"budget": budget.model_dump(), "tool_sets": tool_sets},
    )
