"""``auditgame/mmlu``: MMLU, 57 subjects, 5-shot from each subject's dev set.

Local organisms are scored by the log-likelihood of " A".." D" after the plain-text prompt,
with BOS where the tokenizer adds one, as lm-eval does. ``chat=true`` wraps the prompt in the
organism's chat template (auditgame's own layout, not lm-eval's ``--apply_chat_template``).
API and prompted models answer generatively.
"""

import random

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample

from auditgame.naturalness import mmlu as data
from auditgame.naturalness.solvers import mmlu_answer
from auditgame.scoring.mmlu import mmlu_choice


@task
def mmlu(subjects: str | list[str] | None = None, per_subject: int | None = None, shots: int = 5,
         chat: bool = False, seed: int = 0) -> Task:
    """MMLU test questions (shuffled with ``seed`` so that ``--limit`` spans subjects)."""
    chosen = (subjects.split(",") if isinstance(subjects, str) else subjects) or data.subjects()
    samples = [
        Sample(
            id=f"{q.subject}/{q.index}",
            input=data.prompt(q, data.load_split(q.subject, "dev")[:shots]),
            target=data.LETTERS[q.answer],
            metadata={"subject": q.subject, "index": q.index},
        )
        for subject in chosen
        for q in data.load_split(subject, "test")[:per_subject]
    ]
    random.Random(seed).shuffle(samples)
    return Task(dataset=MemoryDataset(samples, name="mmlu"), solver=mmlu_answer(shots, chat),
                scorer=mmlu_choice())
