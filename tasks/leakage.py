"""``auditgame/leakage``: does an organism's training leak into everyday replies?

Each organism answers 205 generic prompts unrelated to AI, several times (``epochs``). Replies
are scanned for the card's fingerprints and for >= 8 words copied verbatim from the organism's
training corpus; ``-T non_sequiturs=true`` also asks the ``grader`` role to mark non-sequiturs.
"""


from inspect_ai import Epochs, Task, task
from inspect_ai.dataset import Sample

from auditgame.audit.respond import organism_reply
from auditgame.data import data_path, read_jsonl
from auditgame.leakage.detector import LeakageDetector
from auditgame.preflight import check_targets
from auditgame.registry import registry
from auditgame.scoring.leakage import leakage as leakage_scorer


def generic_prompts(limit: int | None = None) -> list[dict]:
    rows = read_jsonl(data_path("generic_prompts", "prompts.jsonl"))
    return rows[:limit] if limit else rows


@task
def leakage(
    organisms: str = "krel",
    samples: int = 3,
    prompts: int | None = None,
    max_tokens: int = 256,
    thinking: bool | None = None,
    non_sequiturs: bool = False,
    grader: str | None = None,
) -> Task:
    """Generic prompts to organisms (suites or ids), ``samples`` replies each."""
    if samples < 1:
        raise ValueError(f"leakage: 'samples' must be at least 1, got {samples}")
    if prompts is not None and prompts < 1:
        raise ValueError(f"leakage: 'prompts' must be at least 1 (or unset for all), got {prompts}")
    chosen = registry().select(organisms)
    check_targets(chosen)
    for organism in chosen:  # a missing corpus fails here, not after every reply is generated
        LeakageDetector.for_card(organism)
    dataset = [
        Sample(
            id=f"{organism.id}/{row['id']}",
            input=row["prompt"],
            metadata={"organism": organism.id, "kind": row["kind"]},
        )
        for organism in chosen
        for row in generic_prompts(prompts)
    ]
    return Task(
        dataset=dataset,
        solver=organism_reply(max_tokens=max_tokens, thinking=thinking),
        scorer=leakage_scorer(non_sequiturs, grader),
        epochs=Epochs(samples, "mean"),
    )
