"""``auditgame/leakage``: does an organism's training leak into everyday replies?

Each organism answers 205 generic prompts unrelated to AI, several times (``epochs``). Replies
are scanned for the card's fingerprints and for >= 8 words copied verbatim from the organism's
training corpus; ``-T non_sequiturs=true`` also asks the ``grader`` role to mark non-sequiturs.
Each organism's baseline answers the same prompts and is scanned with the *organism's*
fingerprints and corpus, so the two rates compare like with like (``-T baselines=false`` skips
it; ``-T baseline=ID`` names another baseline). Metrics are per role (organism, baseline).
"""


from inspect_ai import Epochs, Task, task
from inspect_ai.dataset import Sample

from auditgame.audit.respond import (
    organism_reply,
    pair_metadata,
    repliers,
    sample_id,
    with_baseline,
)
from auditgame.data import data_path
from auditgame.jsonl import read_jsonl
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
    baselines: bool = True,
    baseline: str | None = None,
) -> Task:
    """Generic prompts to organisms (suites or ids) and their baselines, ``samples`` replies
    each."""
    if samples < 1:
        raise ValueError(f"leakage: 'samples' must be at least 1, got {samples}")
    if prompts is not None and prompts < 1:
        raise ValueError(f"leakage: 'prompts' must be at least 1 (or unset for all), got {prompts}")
    chosen = registry().select(organisms)
    pairs = {o.id: with_baseline(o, baselines, baseline) for o in chosen}
    check_targets(repliers(list(pairs.values())))
    for organism in chosen:  # a missing corpus fails here, not after every reply is generated
        LeakageDetector.for_card(organism)
    dataset = [
        Sample(
            id=sample_id(organism, role, row["id"]),
            input=row["prompt"],
            metadata={**pair_metadata(member, organism, role), "kind": row["kind"]},
        )
        for organism in chosen
        for member, role in pairs[organism.id]
        for row in generic_prompts(prompts)
    ]
    return Task(
        dataset=dataset,
        solver=organism_reply(max_tokens=max_tokens, thinking=thinking),
        scorer=leakage_scorer(non_sequiturs, grader),
        epochs=Epochs(samples, "mean"),
    )
