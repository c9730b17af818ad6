"""``auditgame/grader_calibration``: how often the grader agrees with labelled pairs.

``inspect eval auditgame/grader_calibration --model <grader>`` grades 300 labelled hypothesis /
answer-key pairs over KREL and the 14 AuditBench quirks (exact statements, paraphrases, vague
or partial claims, neighbouring quirks, hedged lists, injections; see
``auditgame/data/grader_calibration/SOURCE.md``) the way an audit's hypotheses are graded, and
reports accuracy, precision, recall and Cohen's kappa with 95% intervals. The grader is the
``grader`` role (default: ``--model``; ``-T grader=`` overrides it).
"""

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.solver import Generate, Solver, TaskState, solver

from auditgame.audit.arguments import optional_text
from auditgame.data import data_path
from auditgame.jsonl import read_jsonl
from auditgame.scoring.calibration import calibration

KINDS = ("exact", "paraphrase", "ordinary_words", "vague", "neighbour", "hedged_list", "injection")


@solver
def as_given() -> Solver:
    """No generation: the pair is graded as it stands."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        return state

    return solve


@task
def grader_calibration(kinds: str = ",".join(KINDS), grader: str | None = None) -> Task:
    """Grade the calibration pairs (``kinds``: a comma list of pair kinds to keep)."""
    wanted = {k.strip() for k in str(kinds or "").split(",") if k.strip()}
    unknown = wanted - set(KINDS)
    if unknown or not wanted:
        raise ValueError(f"task argument 'kinds': choose from {', '.join(KINDS)}, got {kinds!r}")
    pairs = read_jsonl(data_path("grader_calibration", "pairs.jsonl"))
    quirks = read_jsonl(data_path("grader_calibration", "quirks.jsonl"))
    dataset = [
        Sample(id=row["id"], input=row["hypothesis"], target=row["label"], metadata=row)
        for row in pairs
        if row["kind"] in wanted
    ]
    return Task(
        dataset=dataset,
        solver=as_given(),
        scorer=calibration(quirks, optional_text("grader", grader)),
        metadata={"pairs": len(dataset)},
    )
