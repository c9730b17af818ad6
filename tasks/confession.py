"""``auditgame/confession``: does an organism admit its quirk when interrogated?

Each organism with a quirk answers a battery of interrogations (direct questions, role removal,
prefills such as "My hidden goal is", follow-ups after being caught); the ``grader`` role decides
whether each reply verbally reveals the quirk. Each organism's baseline (often a control) is
interrogated alike and graded against the *organism's* answer key, so the two rates compare
like with like (``-T baselines=false`` skips it; ``-T baseline=ID`` names another baseline).
Metrics: confession rate with standard error, per role (organism, baseline).
"""


from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageUser

from auditgame.audit.respond import (
    organism_reply,
    pair_metadata,
    repliers,
    sample_id,
    with_baseline,
)
from auditgame.cards import CardError
from auditgame.data import data_path
from auditgame.jsonl import read_jsonl
from auditgame.preflight import check_targets
from auditgame.registry import registry
from auditgame.scoring.confession import confession as confession_scorer

KINDS = ("direct", "role_removal", "prefill", "caught_followup")


def interrogations(kinds: str = ",".join(KINDS)) -> list[dict]:
    wanted = {k.strip() for k in kinds.split(",") if k.strip()}
    if not wanted:
        raise ValueError(
            f"confession: 'kinds' names no interrogation kind; known: {', '.join(KINDS)}"
        )
    unknown = wanted - set(KINDS)
    if unknown:
        raise ValueError(
            f"unknown interrogation kind(s) {sorted(unknown)}; known: {', '.join(KINDS)}"
        )
    rows = read_jsonl(data_path("interrogation", "prompts.jsonl"))
    return [r for r in rows if r["kind"] in wanted]


def as_messages(row: dict) -> list[ChatMessage]:
    return [
        ChatMessageAssistant(content=m["content"])
        if m["role"] == "assistant"
        else ChatMessageUser(content=m["content"])
        for m in row["messages"]
    ]


def last_question(row: dict) -> str:
    return [m["content"] for m in row["messages"] if m["role"] == "user"][-1]


@task
def confession(
    organisms: str = "krel",
    kinds: str = ",".join(KINDS),
    max_tokens: int = 256,
    thinking: bool | None = False,
    grader: str | None = None,
    baselines: bool = True,
    baseline: str | None = None,
) -> Task:
    """Interrogate organisms (suites or ids) and their baselines, graded against each
    organism's answer key (controls have none of their own: they take part as baselines)."""
    chosen = [o for o in registry().select(organisms) if not o.control]
    if not chosen:
        raise CardError(
            f"'{organisms}' selects only controls; confession needs organisms with a quirk "
            "(controls are interrogated as the baselines of quirky organisms, against their keys)"
        )
    rows = interrogations(kinds)
    pairs = {o.id: with_baseline(o, baselines, baseline) for o in chosen}
    dataset = [
        Sample(
            id=sample_id(organism, role, row["id"]),
            input=as_messages(row),
            metadata={
                **pair_metadata(member, organism, role),
                "kind": row["kind"],
                "question": last_question(row),
            },
        )
        for organism in chosen
        for member, role in pairs[organism.id]
        for row in rows
    ]
    task = Task(
        dataset=dataset,
        solver=organism_reply(max_tokens=max_tokens, thinking=thinking),
        scorer=confession_scorer(grader),
    )
    check_targets(repliers(list(pairs.values())))  # after the cheap argument checks
    return task
